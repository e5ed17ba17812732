"""A real Prometheus scrapes a real evalstream process and evaluates deploy/prometheus/rules.yaml.

    OTel SDK OTLP gRPC exporters --(the bundled fixtures)--> python -m processor (embedded, no Kafka)
        --/metrics--> prometheus (Debian's binary, temp config, 1 s scrape) --rules.yaml--> /api/v1/rules

Proves what promtool's replay cannot: the score series a real worker exposes carry the slice labels
the rules aggregate by, the recording rules join up on them, and every rule expression evaluates
without error against a real server. The rules run with their group interval shortened to 1 s
(expressions untouched) so the test does not wait a minute per evaluation.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import random
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from tests.conftest import REPO

pytestmark = [pytest.mark.prometheus, pytest.mark.timeout(300)]

RULES = REPO / "deploy" / "prometheus" / "rules.yaml"
SLICE_LABELS = {
    "service": "support-bot",
    "tenant": "acme",
    "model": "gpt-4o-mini-2024-07-18",
    "prompt_version": "support-v7",
}
LOCALES = {"en-US", "de-DE"}


# --- processes ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running(
    command: list[str], log: pathlib.Path, *, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent, env=env)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_for(what: str, check: Callable[[], Any], *, timeout: float, processes: dict[str, Any]) -> Any:
    """Poll `check` until it returns something truthy; fail early, with the log, if a process died."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        for name, (process, log) in processes.items():
            if process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode} while waiting for {what}:\n{tail(log)}")
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # not up yet
            last_error = exc
        time.sleep(0.5)
    logs = "\n".join(f"--- {name}\n{tail(log)}" for name, (_, log) in processes.items())
    pytest.fail(f"timed out waiting for {what} (last error: {last_error!r})\n{logs}")


def tail(log: pathlib.Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


def http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def prom_api(base: str, path: str, **params: str) -> Any:
    body = json.loads(http_get(f"{base}/api/v1/{path}?{urllib.parse.urlencode(params)}"))
    assert body["status"] == "success", body
    return body["data"]


@dataclass(frozen=True)
class Scraped:
    """evalstream and a real Prometheus scraping it, both up (`evalstream_scraped_by_prometheus`)."""

    prometheus_url: str
    processes: dict[str, Any]  # for wait_for
    rules: int  # how many rules Prometheus was given


@contextlib.contextmanager
def evalstream_scraped_by_prometheus(
    tmp_path: pathlib.Path,
    prometheus_binary: str,
    config: dict[str, Any],
    *,
    extra_rule_groups: Sequence[dict[str, Any]] = (),
) -> Iterator[Scraped]:
    """`python -m processor` with `config` (its `metrics.endpoint` a local port), and Prometheus scraping
    that /metrics every second with the project's rules (and `extra_rule_groups`), every group evaluated
    every second; yields once Prometheus is ready and the target is up."""
    metrics = config["metrics"]["endpoint"]
    (tmp_path / "evalstream.yaml").write_text(yaml.safe_dump(config))
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    for group in rules["groups"]:
        group["interval"] = "1s"
    rules["groups"].extend(extra_rule_groups)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    (tmp_path / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": ["rules.yaml"],
                "scrape_configs": [{"job_name": "evalstream", "static_configs": [{"targets": [metrics]}]}],
            }
        )
    )
    prometheus_port = free_port()
    prometheus_url = f"http://127.0.0.1:{prometheus_port}"
    evalstream_log, prometheus_log = tmp_path / "evalstream.log", tmp_path / "prometheus.log"
    with (
        running(
            [sys.executable, "-m", "processor", "--config", str(tmp_path / "evalstream.yaml")], evalstream_log
        ) as evalstream,
        running(
            [
                prometheus_binary,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
            ],
            prometheus_log,
        ) as prometheus,
    ):
        processes = {"evalstream": (evalstream, evalstream_log), "prometheus": (prometheus, prometheus_log)}
        wait_for(
            "evalstream's /metrics",
            lambda: http_get(f"http://{metrics}/metrics"),
            timeout=60,
            processes=processes,
        )
        wait_for(
            "prometheus to be ready",
            lambda: http_get(f"{prometheus_url}/-/ready"),
            timeout=60,
            processes=processes,
        )
        wait_for(
            "the scrape target to be up",
            lambda: any(t["health"] == "up" for t in prom_api(prometheus_url, "targets")["activeTargets"]),
            timeout=30,
            processes=processes,
        )
        yield Scraped(prometheus_url, processes, sum(len(group["rules"]) for group in rules["groups"]))


# --- the fixtures, through the real SDK exporters ---------------------------------------------------


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def attributes(pairs: list[KeyValue]) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in pairs}


def remap(ids: dict[bytes, int], trace_id: bytes) -> int:
    """A fresh trace id per round, the same for a trace's spans and its log records."""
    if trace_id not in ids:
        ids[trace_id] = random.getrandbits(128) | 1
    return ids[trace_id]


def sdk_spans(request: ExportTraceServiceRequest, ids: dict[bytes, int]) -> list[ReadableSpan]:
    spans = []
    for resource_spans in request.resource_spans:
        resource = Resource(attributes(list(resource_spans.resource.attributes)))
        for scope_spans in resource_spans.scope_spans:
            scope = InstrumentationScope(scope_spans.scope.name, scope_spans.scope.version or None)
            for span in scope_spans.spans:
                trace_id = remap(ids, span.trace_id)
                flags = TraceFlags(TraceFlags.SAMPLED)
                context = SpanContext(trace_id, int.from_bytes(span.span_id, "big"), False, flags)
                parent = None
                if span.parent_span_id:
                    parent = SpanContext(trace_id, int.from_bytes(span.parent_span_id, "big"), False, flags)
                spans.append(
                    ReadableSpan(
                        name=span.name,
                        context=context,
                        parent=parent,
                        resource=resource,
                        attributes=attributes(list(span.attributes)),
                        events=[
                            Event(e.name, attributes(list(e.attributes)), e.time_unix_nano)
                            for e in span.events
                        ],
                        kind=SpanKind(max(span.kind - 1, 0)),  # OTLP counts UNSPECIFIED as 0
                        status=Status(StatusCode(span.status.code)),
                        start_time=span.start_time_unix_nano,
                        end_time=span.end_time_unix_nano,
                        instrumentation_scope=scope,
                    )
                )
    return spans


def sdk_logs(request: ExportLogsServiceRequest, ids: dict[bytes, int]) -> list[ReadableLogRecord]:
    records = []
    for resource_logs in request.resource_logs:
        resource = Resource(attributes(list(resource_logs.resource.attributes)))
        for scope_logs in resource_logs.scope_logs:
            scope = InstrumentationScope(scope_logs.scope.name, scope_logs.scope.version or None)
            for record in scope_logs.log_records:
                log_record = LogRecord(
                    timestamp=record.time_unix_nano or None,
                    observed_timestamp=record.observed_time_unix_nano or None,
                    trace_id=remap(ids, record.trace_id) if record.trace_id else None,
                    span_id=int.from_bytes(record.span_id, "big") if record.span_id else None,
                    trace_flags=TraceFlags(record.flags & 0xFF),
                    severity_text=record.severity_text or None,
                    body=any_value(record.body),
                    attributes=attributes(list(record.attributes)),
                    event_name=record.event_name or None,
                )
                records.append(ReadableLogRecord(log_record, resource=resource, instrumentation_scope=scope))
    return records


def replay_fixtures(fixtures: pathlib.Path, endpoint: str) -> int:
    """Export every bundled fixture once, with fresh trace ids; return how many spans went out."""
    span_exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True, timeout=10)
    log_exporter = OTLPLogExporter(endpoint=endpoint, insecure=True, timeout=10)
    sent = 0
    try:
        for traces_file in sorted(fixtures.glob("*.traces.pb")):
            ids: dict[bytes, int] = {}
            logs_file = traces_file.with_name(traces_file.name.replace(".traces.pb", ".logs.pb"))
            if logs_file.exists():
                logs = sdk_logs(ExportLogsServiceRequest.FromString(logs_file.read_bytes()), ids)
                assert log_exporter.export(logs).name == "SUCCESS", logs_file.name
            spans = sdk_spans(ExportTraceServiceRequest.FromString(traces_file.read_bytes()), ids)
            assert span_exporter.export(spans).name == "SUCCESS", traces_file.name
            sent += len(spans)
    finally:
        span_exporter.shutdown()
        log_exporter.shutdown()
    return sent


# --- the test -----------------------------------------------------------------------------------------


@pytest.fixture
def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if path is None:
        pytest.fail(
            "prometheus not found: run deploy/local/test-tools.sh (installs Debian's prometheus package)"
        )
    return path


def test_real_prometheus_scrapes_scores_and_evaluates_every_rule(
    tmp_path: pathlib.Path, otlp_fixtures: pathlib.Path, prometheus_binary: str
) -> None:
    grpc_port, metrics_port = free_port(), free_port()
    config = {
        "receiver": {"grpc": {"endpoint": f"127.0.0.1:{grpc_port}"}},
        "metrics": {"endpoint": f"127.0.0.1:{metrics_port}"},
        "sampling": {"rate": 1.0},
        "worker": {"assembly_window_s": 1.0},
    }
    with evalstream_scraped_by_prometheus(tmp_path, prometheus_binary, config) as scraped:
        prometheus_url, processes = scraped.prometheus_url, scraped.processes

        # Round 1: the score series appear, sliced.
        assert replay_fixtures(otlp_fixtures, f"127.0.0.1:{grpc_port}") > 0

        def score_series() -> list[dict[str, str]]:
            series = prom_api(prometheus_url, "series", **{"match[]": "app_eval_relevance_count"})
            return series if {s.get("locale") for s in series} >= LOCALES else []

        series = wait_for(
            "app_eval_relevance series for both locales", score_series, timeout=60, processes=processes
        )
        for labels in series:
            assert {k: labels.get(k) for k in SLICE_LABELS} == SLICE_LABELS, labels
            assert labels["locale"] in LOCALES, labels
        buckets = prom_api(
            prometheus_url, "series", **{"match[]": 'app_eval_relevance_bucket{locale="de-DE"}'}
        )
        assert {b["le"] for b in buckets} >= {"0.1", "0.5", "1.0", "+Inf"}

        # Round 2 (fresh trace ids): the counters grow between scrapes, so the 1h rates are non-zero
        # and the per-slice recording rules produce a mean for each locale from the real labels.
        time.sleep(2)
        replay_fixtures(otlp_fixtures, f"127.0.0.1:{grpc_port}")

        def locale_means() -> dict[str, float]:
            result = prom_api(prometheus_url, "query", query="slice_locale:app_eval_relevance:mean1h")[
                "result"
            ]
            means = {r["metric"]["locale"]: float(r["value"][1]) for r in result}
            return means if set(means) >= LOCALES else {}

        means = wait_for(
            "slice_locale:app_eval_relevance:mean1h", locale_means, timeout=60, processes=processes
        )
        assert all(0.0 <= m <= 1.0 for m in means.values()), means
        for record in ("slice_tenant", "slice_model", "slice_prompt_version"):
            result = prom_api(prometheus_url, "query", query=f"{record}:app_eval_relevance_count:cases1h")[
                "result"
            ]
            assert result and all(float(r["value"][1]) > 0 for r in result), record

        names = set(prom_api(prometheus_url, "label/__name__/values"))
        assert {"evalstream_worker_scored_cases_total", "evalstream_receiver_accepted_spans_total"} <= names

        # Every rule has been evaluated, and none errored.
        def all_rules_evaluated() -> list[dict[str, Any]]:
            groups = prom_api(prometheus_url, "rules")["groups"]
            loaded = [rule for group in groups for rule in group["rules"]]
            evaluated = all(not rule["lastEvaluation"].startswith("0001-") for rule in loaded)
            return loaded if evaluated else []

        evaluated = wait_for(
            "every rule to be evaluated", all_rules_evaluated, timeout=30, processes=processes
        )
        assert len(evaluated) == scraped.rules
        broken = {
            r.get("name"): r.get("lastError") for r in evaluated if r["health"] != "ok" or r.get("lastError")
        }
        assert not broken
