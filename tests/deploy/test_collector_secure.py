"""A real Collector exports to the receiver over OTLP gRPC and OTLP/HTTP with mTLS and a bearer token.

The Collector (built by deploy/collector/build-otelcol.sh with the otlp_grpc and otlp_http exporters
and the bearertokenauth extension) takes the bundled fixtures on its own OTLP receiver and forwards
them, through exactly one of its exporters, to `python -m processor` (embedded mode) whose gRPC port,
HTTP port and /metrics all require TLS with client certificates and whose receiver requires a token.
The cases are scored; with a wrong token every request is refused and counted; a Collector without a
client certificate delivers nothing.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import socket
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Callable

import grpc
import pytest
import yaml
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO
from tests.deploy.test_prometheus_e2e import free_port, running, wait_for
from tests.tls_certs import Certs, make_certs

TOKEN = "collector-token-7f3a"
FIXTURE_LABELS = {"service": "support-bot", "prompt_version": "support-v7", "tenant": "acme"}


@pytest.fixture(scope="module")
def otelcol() -> str:
    if shutil.which("go") is None:
        pytest.skip("Go is not installed: cannot build a Collector")
    result = subprocess.run(
        [str(REPO / "deploy" / "collector" / "build-otelcol.sh")],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def collector_config(
    exporter: str, endpoint: str, certs: Certs, *, client_cert: bool, compression: str = "gzip"
) -> dict:
    tls = {"ca_file": str(certs.ca)}
    if client_cert:
        tls.update(cert_file=str(certs.client_cert), key_file=str(certs.client_key))
    settings = {
        "endpoint": endpoint,
        "tls": tls,
        "auth": {"authenticator": "bearertokenauth/evalstream"},
        "compression": compression,
        "retry_on_failure": {"enabled": False},  # a refusal shows at once, and nothing is re-sent
    }
    pipeline = {"receivers": ["otlp"], "processors": ["batch"], "exporters": [exporter]}
    return {
        "extensions": {"bearertokenauth/evalstream": {"token": "${env:EVALSTREAM_TOKEN}"}},
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": "127.0.0.1:0"}}}},
        "processors": {"batch": {"timeout": "200ms"}},
        "exporters": {exporter: settings},
        "service": {
            "extensions": ["bearertokenauth/evalstream"],
            "pipelines": {"traces": pipeline, "logs": pipeline},
            "telemetry": {"metrics": {"level": "none"}},
        },
    }


def metrics(url: str, certs: Certs) -> str:
    context = ssl.create_default_context(cafile=str(certs.ca))
    context.load_cert_chain(str(certs.client_cert), str(certs.client_key))
    with urllib.request.urlopen(url, context=context, timeout=5) as response:
        return str(response.read().decode())


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def total(text: str, name: str, **labels: str) -> float:
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def run(
    otelcol: str,
    tmp_path: pathlib.Path,
    otlp_fixtures: pathlib.Path,
    certs: Certs,
    *,
    exporter: str,
    token: str,
    client_cert: bool,
    until: Callable[[str], bool] | None,
    compression: str = "gzip",
) -> tuple[str, str]:
    """Start both, send every fixture into the Collector, wait for `until(/metrics)` (None: for the
    Collector to log failed exports); return (/metrics, the Collector's log)."""
    grpc_port, http_port, metrics_port, collector_port = (free_port() for _ in range(4))
    server_tls = {
        "cert_file": str(certs.server_cert),
        "key_file": str(certs.server_key),
        "client_ca_file": str(certs.ca),
    }
    evalstream = tmp_path / "evalstream.yaml"
    evalstream.write_text(
        yaml.safe_dump(
            {
                "receiver": {
                    "grpc": {"endpoint": f"127.0.0.1:{grpc_port}", "tls": server_tls},
                    "http": {"endpoint": f"127.0.0.1:{http_port}", "tls": server_tls},
                    "auth": {"tokens": ["${env:EVALSTREAM_TOKENS}"]},
                },
                "metrics": {"endpoint": f"127.0.0.1:{metrics_port}", "tls": server_tls},
                "sampling": {"rate": 1.0},
                "worker": {"assembly_window_s": 1.0},
            }
        )
    )
    endpoint = (
        f"127.0.0.1:{grpc_port}" if exporter.startswith("otlp_grpc") else f"https://127.0.0.1:{http_port}"
    )
    collector = tmp_path / "otelcol.yaml"
    config = collector_config(exporter, endpoint, certs, client_cert=client_cert, compression=compression)
    config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] = f"127.0.0.1:{collector_port}"
    collector.write_text(yaml.safe_dump(config))
    validated = subprocess.run(
        [otelcol, "validate", "--config", str(collector)],
        capture_output=True,
        text=True,
        env={**os.environ, "EVALSTREAM_TOKEN": token},
    )
    assert validated.returncode == 0, validated.stderr
    url = f"https://127.0.0.1:{metrics_port}/metrics"
    evalstream_log, collector_log = tmp_path / "evalstream.log", tmp_path / "otelcol.log"
    with contextlib.ExitStack() as stack:
        evalstream_process = stack.enter_context(
            running(
                [sys.executable, "-m", "processor", "--config", str(evalstream)],
                evalstream_log,
                env={"EVALSTREAM_TOKENS": TOKEN},
            )
        )
        processes = {"evalstream": (evalstream_process, evalstream_log)}
        wait_for(
            "evalstream's /metrics over mTLS", lambda: metrics(url, certs), timeout=60, processes=processes
        )
        for port in (
            grpc_port,
            http_port,
        ):  # /metrics starts first, the receiver last: start the Collector after
            wait_for(f"port {port}", lambda port=port: listening(port), timeout=60, processes=processes)
        otel = stack.enter_context(
            running([otelcol, "--config", str(collector)], collector_log, env={"EVALSTREAM_TOKEN": token})
        )
        processes["otelcol"] = (otel, collector_log)
        with grpc.insecure_channel(f"127.0.0.1:{collector_port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            for path in sorted(otlp_fixtures.glob("*.logs.pb")):
                request = logs_service_pb2.ExportLogsServiceRequest.FromString(path.read_bytes())
                logs_service_pb2_grpc.LogsServiceStub(channel).Export(request, timeout=10)
            for path in sorted(otlp_fixtures.glob("*.traces.pb")):
                request = trace_service_pb2.ExportTraceServiceRequest.FromString(path.read_bytes())
                trace_service_pb2_grpc.TraceServiceStub(channel).Export(request, timeout=10)
        if until is None:
            wait_for(
                "the Collector to report failed exports",
                lambda: collector_log.read_text(errors="replace").count("Exporting failed") >= 2,
                timeout=60,
                processes=processes,
            )
        else:
            wait_for(
                "the cases to be scored", lambda: until(metrics(url, certs)), timeout=90, processes=processes
            )
        text = metrics(url, certs)
    assert TOKEN not in evalstream_log.read_text(errors="replace")  # never logged, not even a wrong one
    assert token not in evalstream_log.read_text(errors="replace")
    return text, collector_log.read_text(errors="replace")


def scored(text: str) -> bool:  # as over plain gRPC (tests/test_e2e.py): six content flavours a locale
    return all(
        total(text, "app_eval_relevance_count", **FIXTURE_LABELS, locale=locale) == 6
        for locale in ("en-US", "de-DE")
    )


@pytest.mark.parametrize(
    "exporter, compression",
    [
        ("otlp_grpc/evalstream", "gzip"),
        ("otlp_http/evalstream", "gzip"),
        # every other encoding the Collector's otlp_http exporter offers, decoded by the receiver
        ("otlp_http/evalstream", "zstd"),
        ("otlp_http/evalstream", "snappy"),
        ("otlp_http/evalstream", "lz4"),
        ("otlp_http/evalstream", "deflate"),
        ("otlp_http/evalstream", "none"),
    ],
)
def test_fixtures_over_mtls_with_a_token_are_scored(
    otelcol: str,
    tmp_path: pathlib.Path,
    otlp_fixtures: pathlib.Path,
    certs: Certs,
    exporter: str,
    compression: str,
) -> None:
    text, _ = run(
        otelcol,
        tmp_path,
        otlp_fixtures,
        certs,
        exporter=exporter,
        token=TOKEN,
        client_cert=True,
        until=scored,
        compression=compression,
    )
    assert total(text, "evalstream_receiver_refused_requests_total") == 0
    assert total(text, "evalstream_receiver_requests_total", code="OK") >= 2  # traces and logs


@pytest.mark.parametrize("exporter", ["otlp_grpc/evalstream", "otlp_http/evalstream"])
def test_a_wrong_token_is_refused_on_every_request_and_counted(
    otelcol: str, tmp_path: pathlib.Path, otlp_fixtures: pathlib.Path, certs: Certs, exporter: str
) -> None:
    text, _ = run(
        otelcol,
        tmp_path,
        otlp_fixtures,
        certs,
        exporter=exporter,
        token="not-the-token",
        client_cert=True,
        until=None,
    )
    assert total(text, "evalstream_receiver_refused_requests_total", reason="invalid") >= 2
    assert total(text, "evalstream_receiver_requests_total") == 0  # nothing got past the check
    assert total(text, "evalstream_receiver_received_spans_total") == 0


@pytest.mark.parametrize("exporter", ["otlp_grpc/evalstream", "otlp_http/evalstream"])
def test_without_a_client_certificate_nothing_is_delivered(
    otelcol: str, tmp_path: pathlib.Path, otlp_fixtures: pathlib.Path, certs: Certs, exporter: str
) -> None:
    text, collector_log = run(
        otelcol,
        tmp_path,
        otlp_fixtures,
        certs,
        exporter=exporter,
        token=TOKEN,
        client_cert=False,
        until=None,
    )
    assert total(text, "evalstream_receiver_requests_total") == 0
    assert total(text, "evalstream_receiver_refused_requests_total") == 0  # refused at the handshake
    # the server ends the TLS 1.3 session that carried no certificate: Go's HTTP client names it; gRPC sees
    # the connection close before the server's preface, or its next write fail (which one is a race)
    if exporter.startswith("otlp_http"):
        assert "certificate required" in collector_log
    else:
        closed = ("error reading server preface", "write: broken pipe", "connection reset by peer")
        assert any(reason in collector_log for reason in closed), collector_log[-2000:]
