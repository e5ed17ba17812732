"""Fault suite, poison inputs (issue 9): real processes, the real OTel SDK exporter, a real broker.

Each poison input of the issue (a lone surrogate in `gen_ai.input.messages`, one in the model name of
`llm.invocation_parameters`) is exported, then a canary call with a tenant of its own; the canary must
be scored (on /metrics, and on the results topic when results are published), the poisoned calls too
(their text repaired), /metrics must keep answering, and the process must stop cleanly (exit 0).
Once, one bad string stopped every worker for good while /healthz said 200.
"""

from __future__ import annotations

import pathlib
import time
import uuid

import pytest
from kafka import KafkaConsumer
from prometheus_client.parser import text_string_to_metric_families

from processor._proto import eval_result_pb2
from processor.demo.replay import replay
from tests import poison
from tests.kafka_broker import kafka_section
from tests.processes import RunningProcessor, http_get, run_processor, wait_for

POISONS = (poison.poison_messages, poison.poison_model)


def _tenant_count(processor: RunningProcessor, tenant: str) -> float:
    status, text = http_get(processor.metrics_url + "/metrics")
    assert status == 200, f"/metrics answered {status}"
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "app_eval_relevance_count" and s.labels.get("tenant") == tenant
    )


def _poison_then_canary(processor: RunningProcessor, fixtures: pathlib.Path) -> None:
    for i, build in enumerate(POISONS):
        assert replay(processor.grpc_endpoint, [build(fixtures, tenant=f"poison-{i}")]) == (True, True)
        assert replay(processor.grpc_endpoint, [poison.canary(fixtures, tenant=f"canary-{i}")]) == (
            True,
            True,
        )
        wait_for(
            lambda i=i: _tenant_count(processor, f"canary-{i}") == 2,
            timeout_s=60,
            what=f"canary {i} to be scored after {build.__name__}",
        )
        assert _tenant_count(processor, f"poison-{i}") == 2  # scored too, its text repaired
    assert http_get(processor.metrics_url + "/healthz")[0] == 200
    text = http_get(processor.metrics_url + "/metrics")[1]
    assert 'model="gpt-4o\ufffd"' in text
    assert 'evalstream_worker_poison_traces_total{reason="' not in text  # nothing had to be dropped


@pytest.mark.parametrize("publish_results", [True, False])
def test_embedded_poison_inputs_never_stop_scoring(
    tmp_path: pathlib.Path, otlp_fixtures: pathlib.Path, publish_results: bool
) -> None:
    config = {
        "sampling": {"rate": 1.0},
        "worker": {"assembly_window_s": 0.5, "publish_results": publish_results},
    }
    with run_processor(tmp_path, config) as processor:
        _poison_then_canary(processor, otlp_fixtures)
    assert "Traceback" not in processor.log()


def _results(bootstrap: str, topic: str, tenants: set[str], timeout_s: float = 60) -> dict[str, list]:
    """The relevance results on `topic` by tenant, once every tenant in `tenants` has both its calls."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=2000,
    )
    by_tenant: dict[str, list] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            for message in consumer:
                result = eval_result_pb2.EvalResult.FromString(message.value)
                if result.scorer == "relevance":
                    by_tenant.setdefault(result.labels.get("tenant", ""), []).append(result)
            if all(len(by_tenant.get(t, [])) >= 2 for t in tenants):
                break
    finally:
        consumer.close()
    return by_tenant


@pytest.mark.kafka
@pytest.mark.parametrize("publish_results", [True, False])
def test_kafka_poison_inputs_never_stop_scoring(
    tmp_path: pathlib.Path,
    otlp_fixtures: pathlib.Path,
    kafka_bootstrap: str,
    topic_prefix: str,
    publish_results: bool,
) -> None:
    config = {
        "sampling": {"rate": 1.0},
        "kafka": kafka_section(kafka_bootstrap, topic_prefix, create_topics=True, partitions=2),
        "worker": {
            "group_id": f"{topic_prefix}-workers",
            "assembly_window_s": 0.5,
            "publish_results": publish_results,
        },
    }
    with run_processor(tmp_path, config) as processor:
        _poison_then_canary(processor, otlp_fixtures)
    assert "Traceback" not in processor.log()
    if publish_results:
        tenants = {"poison-0", "poison-1", "canary-0", "canary-1"}
        results = _results(kafka_bootstrap, f"{topic_prefix}_results", tenants)
        assert {t: len(results.get(t, [])) for t in tenants} == dict.fromkeys(tenants, 2)
        assert {r.question for r in results["poison-0"]} == {"refund window? \ufffd"}
        assert {r.model for r in results["poison-1"]} == {"gpt-4o\ufffd"}
