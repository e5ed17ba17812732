"""End to end through real processes: real OTel SDK exporters -> receiver -> worker -> /metrics.

The embedded default runs with no Kafka; the Kafka variants run against a real broker, including two
workers in one consumer group with one of them SIGKILLed mid-stream.
"""

from __future__ import annotations

import json
import pathlib
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer
from opentelemetry.exporter.otlp.proto.grpc.exporter import Compression
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client.parser import text_string_to_metric_families

from processor._proto import eval_result_pb2
from processor.demo.replay import FLAVOURS, load_flavour, replay
from tests.processes import REPO, http_get, run_processor, wait_for

FIXTURE_LABELS = {
    "service": "support-bot",
    "model": "gpt-4o-mini-2024-07-18",
    "prompt_version": "support-v7",
    "tenant": "acme",
}


def sample(metrics_text: str, name: str, labels: dict[str, str]) -> float:
    total = 0.0
    for family in text_string_to_metric_families(metrics_text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def replay_fixtures(endpoint: str, fixtures: pathlib.Path) -> None:
    for flavour in FLAVOURS:
        traces, logs = load_flavour(fixtures, flavour)
        assert replay(endpoint, [traces], [logs] if logs else []) == (True, True), flavour


def assert_fixture_metrics(processor, content_flavours: int = 6) -> None:
    en = {**FIXTURE_LABELS, "locale": "en-US"}
    de = {**FIXTURE_LABELS, "locale": "de-DE"}

    def scored() -> bool:
        text = processor.metrics()
        return (
            sample(text, "app_eval_relevance_count", en) == content_flavours
            and sample(text, "app_eval_relevance_count", de) == content_flavours
        )

    wait_for(scored, timeout_s=60, what="every fixture call to be scored")
    text = processor.metrics()
    skipped = {"scorer": "relevance", "reason": "no_content"}
    wait_for(
        lambda: sample(processor.metrics(), "evalstream_worker_skipped_cases_total", skipped) == 2,
        timeout_s=30,
        what="the no-content calls to be counted as skipped",
    )
    # every relevance observation carries a full, known label set
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "app_eval_relevance_count" and s.value:
                assert {k: s.labels[k] for k in FIXTURE_LABELS} == FIXTURE_LABELS
                assert s.labels["locale"] in ("en-US", "de-DE")


def test_embedded_default_scores_every_fixture_flavour(
    tmp_path: pathlib.Path, otlp_fixtures: pathlib.Path
) -> None:
    config = {"sampling": {"rate": 1.0}, "worker": {"assembly_window_s": 1.0}}
    with run_processor(tmp_path, config) as processor:
        replay_fixtures(processor.grpc_endpoint, otlp_fixtures)
        assert_fixture_metrics(processor)
    assert "point a Collector" in processor.log()


def test_readme_run_command_defaults_answer(tmp_path: pathlib.Path) -> None:
    """`python -m processor` with no config binds the documented defaults (skipped if they are taken)."""
    for port in (4317, 4318, 9464):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                pytest.skip(f"localhost:{port} is in use on this machine")
    process = subprocess.Popen(
        [sys.executable, "-m", "processor"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(
            lambda: http_get("http://localhost:9464/readyz", timeout=1)[0] == 200, timeout_s=60, what="ready"
        )
        assert "app_eval_relevance" in http_get("http://localhost:9464/metrics")[1]
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, out
    assert "localhost:4317" in out and "http://localhost:9464/metrics" in out


def kafka_config(bootstrap: str, prefix: str, **worker: object) -> dict:
    return {
        "sampling": {"rate": 1.0},
        "kafka": {
            "bootstrap_servers": bootstrap,
            "create_topics": True,
            "partitions": 6,
            "topics": {
                "traces": f"{prefix}_spans",
                "logs": f"{prefix}_logs",
                "results": f"{prefix}_results",
                "dead_letter": f"{prefix}_dlq",
            },
        },
        "worker": {"group_id": f"{prefix}-workers", "assembly_window_s": 1.0, **worker},
    }


@pytest.mark.kafka
def test_kafka_end_to_end_fixtures_to_metrics_then_harvest_and_gate(
    tmp_path: pathlib.Path, otlp_fixtures: pathlib.Path, kafka_bootstrap: str, topic_prefix: str
) -> None:
    config = kafka_config(kafka_bootstrap, topic_prefix)
    with run_processor(tmp_path, config) as processor:
        # a poison record on the spans topic must go to the dead-letter topic, not stop the partition
        poison = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        poison.send(f"{topic_prefix}_spans", key=b"0af7651916cd43dd8448eb211c80319c", value=b"\xff not otlp")
        poison.flush(timeout=30)
        poison.close()
        replay_fixtures(processor.grpc_endpoint, otlp_fixtures)
        assert_fixture_metrics(processor)
    (dead,) = read_topic(kafka_bootstrap, f"{topic_prefix}_dlq", expect=1)
    assert dead.value == b"\xff not otlp"
    assert dict(dead.headers)["evalstream.dlq.reason"] == b"undecodable_otlp"
    results_topic = f"{topic_prefix}_results"
    results = read_results(kafka_bootstrap, results_topic, expect=14 * 2)
    relevance = [r for r in results if r.scorer == "relevance"]
    assert len(relevance) == 14
    scored = [r for r in relevance if r.outcome == eval_result_pb2.EvalResult.OUTCOME_SCORED]
    assert len(scored) == 12

    # One implementation: the offline runner scores the worker's cases exactly as the worker did.
    golden = tmp_path / "from_worker.jsonl"
    outputs = tmp_path / "from_worker.outputs.jsonl"
    golden.write_text(
        "".join(json.dumps({"id": f"{r.trace_id}-{r.span_id}", "input": r.question}) + "\n" for r in scored)
    )
    outputs.write_text(
        "".join(json.dumps({"id": f"{r.trace_id}-{r.span_id}", "output": r.answer}) + "\n" for r in scored)
    )
    report = tmp_path / "report.json"
    offline = run_module(
        "processor.offline",
        str(golden),
        "--outputs",
        str(outputs),
        "--scorer",
        "relevance:0.0",
        "--report",
        str(report),
    )
    assert offline.returncode == 0, offline.stdout + offline.stderr
    offline_scores = {
        case["id"]: score["score"]
        for case in json.loads(report.read_text())["cases"]
        for score in case["scores"]
        if score["scorer"] == "relevance"
    }
    assert offline_scores == {f"{r.trace_id}-{r.span_id}": pytest.approx(r.score, abs=1e-12) for r in scored}

    # The loop: the worker's results become golden candidates, deduplicated across the six flavours
    # that asked the same two questions; with `expected` filled in, the offline gate accepts them.
    candidates = tmp_path / "candidates.jsonl"
    harvest = run_module(
        "processor.offline.harvest",
        "--bootstrap-servers",
        kafka_bootstrap,
        "--topic",
        results_topic,
        "--scorer",
        "relevance",
        "--below",
        "1.0",
        "-o",
        str(candidates),
    )
    assert harvest.returncode == 0, harvest.stderr
    lines = [json.loads(line) for line in candidates.read_text().splitlines()]
    assert sorted(c["input"] for c in lines) == [
        "What is the refund window for annual plans?",
        "Wie lange gilt das Rückgaberecht?",
    ]
    assert all("expected" not in c and c["provenance"]["scorer"] == "relevance" for c in lines)
    assert {c["metadata"]["locale"] for c in lines} == {"en-US", "de-DE"}
    expected = {
        "What is the refund window for annual plans?": "30 days",
        "Wie lange gilt das Rückgaberecht?": "14 Tage",
    }
    filled = tmp_path / "golden.jsonl"
    filled.write_text("".join(json.dumps({**c, "expected": expected[c["input"]]}) + "\n" for c in lines))
    recorded = tmp_path / "outputs.jsonl"
    recorded.write_text(
        "".join(json.dumps({"input": c["input"], "output": c["output"]}) + "\n" for c in lines)
    )
    gate = run_module("processor.offline", str(filled), "--outputs", str(recorded))
    assert gate.returncode == 0, gate.stdout + gate.stderr


def run_module(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def read_topic(bootstrap: str, topic: str, *, expect: int, timeout_s: float = 60) -> list:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    messages = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(messages) < expect and time.monotonic() < deadline:
            messages.extend(consumer)
    finally:
        consumer.close()
    return messages


def read_results(bootstrap: str, topic: str, *, expect: int, timeout_s: float = 60) -> list:
    return [
        eval_result_pb2.EvalResult.FromString(m.value)
        for m in read_topic(bootstrap, topic, expect=expect, timeout_s=timeout_s)
    ]


def send_synthetic_traces(endpoint: str, count: int, *, batch: int = 50) -> set[str]:
    """`count` traces shaped like the fixtures (root with slice labels, GenAI chat child with content)."""
    exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True, compression=Compression.Gzip, timeout=30)
    provider = TracerProvider(resource=Resource({"service.name": "load-bot", "app.tenant": "acme"}))
    provider.add_span_processor(
        BatchSpanProcessor(exporter, max_export_batch_size=batch, schedule_delay_millis=100)
    )
    tracer = provider.get_tracer("synthetic")
    span_ids = set()
    for i in range(count):
        with (
            tracer.start_as_current_span(
                "handle_question", attributes={"app.locale": ["en-US", "fr-FR"][i % 2]}
            ),
            tracer.start_as_current_span(
                "chat gpt-4o-mini",
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.input.messages": json.dumps(
                        [
                            {
                                "role": "user",
                                "parts": [{"type": "text", "content": f"How do I reset password {i}?"}],
                            }
                        ]
                    ),
                    "gen_ai.output.messages": json.dumps(
                        [
                            {
                                "role": "assistant",
                                "parts": [{"type": "text", "content": f"Reset password {i} in settings."}],
                                "finish_reason": "stop",
                            }
                        ]
                    ),
                },
            ) as span,
        ):
            span_ids.add(format(span.get_span_context().span_id, "016x"))
    provider.force_flush(60_000)
    provider.shutdown()
    return span_ids


def scored_span_ids(bootstrap: str, topic: str, expect: int, timeout_s: float = 5) -> set[str]:
    return {r.span_id for r in read_results(bootstrap, topic, expect=expect, timeout_s=timeout_s)}


@pytest.mark.kafka
def test_two_workers_share_partitions_and_survive_a_sigkill(
    tmp_path: pathlib.Path, kafka_bootstrap: str, topic_prefix: str
) -> None:
    config = kafka_config(kafka_bootstrap, topic_prefix, session_timeout_s=6.0)
    worker_config = {**config, "scorers": {"enabled": [{"name": "relevance"}]}}
    results_topic = f"{topic_prefix}_results"
    with (
        run_processor(tmp_path, config, role="receiver", name="receiver") as receiver,
        run_processor(tmp_path, worker_config, role="worker", name="worker-a", expect_exit=None) as worker_a,
        run_processor(tmp_path, worker_config, role="worker", name="worker-b") as worker_b,
    ):
        # both members own partitions before any data flows, so both score
        wait_for(
            lambda: all(
                sample(w.metrics(), "evalstream_worker_assigned_partitions", {}) > 0
                for w in (worker_a, worker_b)
            ),
            timeout_s=90,
            what="the group to assign partitions to both workers",
        )
        first = send_synthetic_traces(receiver.grpc_endpoint, 200)
        wait_for(
            lambda: all(
                sample(w.metrics(), "evalstream_worker_scored_cases_total", {"scorer": "relevance"}) > 0
                for w in (worker_a, worker_b)
            ),
            timeout_s=90,
            what="both workers to score",
        )
        worker_a.process.send_signal(signal.SIGKILL)
        worker_a.process.wait()
        second = send_synthetic_traces(receiver.grpc_endpoint, 200)
        wait_for(
            lambda: scored_span_ids(kafka_bootstrap, results_topic, 400) >= first | second,
            timeout_s=150,
            interval_s=2,
            what="every sampled call to be scored at least once",
        )
    assert worker_a.process.returncode == -signal.SIGKILL
    assert len(first | second) == 400
