"""deploy/collector: the two Collector configs, checked for shape and validated by a real Collector.

The real check builds a Collector (v0.165: otlp receiver, batch / memory_limiter / probabilistic_sampler
processors, otlp_grpc / debug / kafka exporters) with deploy/collector/build-otelcol.sh, cached by
deploy/local/test-tools.sh, and runs `otelcol validate`, which decodes every component's config
(unknown keys, bad enum values) and checks the pipelines. It skips only when Go is absent.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import grpc
import pytest
import yaml
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from processor.sampler.config import SamplingConfig
from processor.transport.config import TopicsConfig
from tests.conftest import REPO
from tests.deploy.test_prometheus_e2e import free_port, http_get, running, wait_for

COLLECTOR_DIR = REPO / "deploy" / "collector"
FORWARD = COLLECTOR_DIR / "otelcol-evalstream.yaml"
KAFKA = COLLECTOR_DIR / "otelcol-kafka.yaml"
CONFIGS = [FORWARD, KAFKA]


def load(path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_pipelines_reference_defined_components(path) -> None:
    config = load(path)
    for pipeline_name, pipeline in config["service"]["pipelines"].items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in config[kind], f"{pipeline_name}: {kind[:-1]} {component!r} is not defined"
    # The user's own pipelines stay as they were: traces and logs still go to their backend.
    pipelines = config["service"]["pipelines"]
    assert pipelines["traces"]["exporters"] == ["otlp_grpc/backend"]
    assert pipelines["logs"]["exporters"] == ["otlp_grpc/backend"]


def test_forward_example_sends_traces_and_logs_to_the_receiver() -> None:
    config = load(FORWARD)
    exporter = config["exporters"]["otlp_grpc/evalstream"]  # the name since v0.144 (`otlp` is the old alias)
    assert exporter["endpoint"].endswith(":4317}")
    assert exporter["compression"] == "gzip"
    assert exporter["tls"] == {"insecure": True}
    assert exporter["sending_queue"]["enabled"] is True
    assert exporter["retry_on_failure"]["enabled"] is True
    # Longer than the receiver's wait for Kafka, or every slow ack becomes a client-side timeout.
    assert float(exporter["timeout"].rstrip("s")) > 10
    pipelines = config["service"]["pipelines"]
    assert pipelines["traces/evalstream"]["exporters"] == ["otlp_grpc/evalstream"]
    assert pipelines["logs/evalstream"]["exporters"] == ["otlp_grpc/evalstream"]
    assert not any(name.startswith("otlp/") or name == "otlp" for name in config["exporters"])


def test_kafka_example_writes_what_the_workers_read() -> None:
    config = load(KAFKA)
    exporter = config["exporters"]["kafka/evalstream"]
    topics = TopicsConfig()
    assert exporter["traces"] == {"topic": topics.traces, "encoding": "otlp_proto"}
    assert exporter["logs"] == {"topic": topics.logs, "encoding": "otlp_proto"}
    assert exporter["partition_traces_by_id"] is True
    assert exporter["partition_logs_by_trace_id"] is True
    assert exporter["record_partitioner"] == {"sticky_key": {"hasher": "murmur2"}}  # kafka-python's hash
    # Receiver-side sampling is bypassed: the Collector samples with the same decision instead.
    sampler = config["processors"]["probabilistic_sampler/evalstream"]
    defaults = SamplingConfig()
    assert sampler["mode"] == "hash_seed"
    assert sampler["hash_seed"] == defaults.hash_seed
    assert sampler["sampling_percentage"] == pytest.approx(defaults.rate * 100)
    for signal in ("traces/evalstream", "logs/evalstream"):
        assert "probabilistic_sampler/evalstream" in config["service"]["pipelines"][signal]["processors"]


@pytest.fixture(scope="module")
def otelcol() -> str:
    if shutil.which("go") is None:
        pytest.skip("Go is not installed: cannot build a Collector to run `otelcol validate`")
    result = subprocess.run(
        [str(COLLECTOR_DIR / "build-otelcol.sh")], capture_output=True, text=True, timeout=1200
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_a_real_collector_accepts_the_config(otelcol: str, path) -> None:
    result = subprocess.run([otelcol, "validate", "--config", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_real_collector_rejects_a_misspelt_key(otelcol: str, tmp_path) -> None:
    """`otelcol validate` is not vacuous: a typo in the kafka exporter fails, naming the key."""
    config = load(KAFKA)
    exporter = config["exporters"]["kafka/evalstream"]
    exporter["partition_traces_by_idd"] = exporter.pop("partition_traces_by_id")
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = subprocess.run([otelcol, "validate", "--config", str(broken)], capture_output=True, text=True)
    assert result.returncode != 0
    assert "partition_traces_by_idd" in result.stdout + result.stderr


def metric_total(text: str, name: str) -> float:
    """The sum of every sample of a counter in a Prometheus text exposition."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith((f"{name} ", f"{name}{{"))
    )


def test_a_real_collector_forwards_traces_and_logs_to_a_real_receiver(
    otelcol: str, tmp_path, otlp_fixtures
) -> None:
    """The forward example, run: fixtures -> Collector -> otlp_grpc/evalstream (gzip) -> python -m processor.

    The user's backend exporter points at a closed port the whole time: the evalstream pipelines
    deliver regardless.
    """
    traces = [
        trace_service_pb2.ExportTraceServiceRequest.FromString(p.read_bytes())
        for p in sorted(otlp_fixtures.glob("*.traces.pb"))
    ]
    logs = [
        logs_service_pb2.ExportLogsServiceRequest.FromString(p.read_bytes())
        for p in sorted(otlp_fixtures.glob("*.logs.pb"))
    ]
    spans = sum(len(s.spans) for t in traces for r in t.resource_spans for s in r.scope_spans)
    records = sum(len(s.log_records) for t in logs for r in t.resource_logs for s in r.scope_logs)
    receiver_port, metrics_port, collector_grpc, collector_http, closed = (free_port() for _ in range(5))
    config = tmp_path / "evalstream.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "receiver": {"grpc": {"endpoint": f"127.0.0.1:{receiver_port}"}},
                "metrics": {"endpoint": f"127.0.0.1:{metrics_port}"},
                "sampling": {"rate": 1.0},
            }
        )
    )
    collector_command = [
        otelcol,
        "--config",
        str(FORWARD),
        f"--set=receivers::otlp::protocols::grpc::endpoint=127.0.0.1:{collector_grpc}",
        f"--set=receivers::otlp::protocols::http::endpoint=127.0.0.1:{collector_http}",
        "--set=service::telemetry::metrics::level=none",
    ]
    collector_env = {
        "EVALSTREAM_ENDPOINT": f"127.0.0.1:{receiver_port}",
        "BACKEND_ENDPOINT": f"127.0.0.1:{closed}",
    }
    evalstream_log, collector_log = tmp_path / "evalstream.log", tmp_path / "otelcol.log"
    with (
        running([sys.executable, "-m", "processor", "--config", str(config)], evalstream_log) as evalstream,
        running(collector_command, collector_log, env=collector_env) as collector,
    ):
        processes = {"evalstream": (evalstream, evalstream_log), "otelcol": (collector, collector_log)}
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        wait_for("evalstream's /metrics", lambda: http_get(metrics_url), timeout=60, processes=processes)
        with grpc.insecure_channel(f"127.0.0.1:{collector_grpc}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            for request in logs:
                logs_service_pb2_grpc.LogsServiceStub(channel).Export(request, timeout=10)
            for request in traces:
                trace_service_pb2_grpc.TraceServiceStub(channel).Export(request, timeout=10)

        def delivered() -> bool:
            text = http_get(metrics_url)
            return (
                metric_total(text, "evalstream_receiver_accepted_spans_total") >= spans
                and metric_total(text, "evalstream_receiver_accepted_log_records_total") >= records
            )

        wait_for(
            "the Collector to deliver every span and log record", delivered, timeout=60, processes=processes
        )
