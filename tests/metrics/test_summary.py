"""The flow summary reads the very counters /metrics serves and explains the sampling rate."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry

from processor.metrics import WorkerMetrics
from processor.metrics.instruments import ReceiverMetrics
from processor.metrics.summary import FlowCounts, FlowSummary, describe_flow, sampling_hint


def test_one_of_48_explains_itself(caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    receiver = ReceiverMetrics(registry)
    worker = WorkerMetrics(registry, prefix="app_eval", label_names=(), max_label_values=5)
    summary = FlowSummary(registry, interval_s=60, sampling_rate=0.05)
    summary.start()
    try:
        receiver.received_traces.inc(48)
        receiver.kept_traces.inc(1)
        receiver.llm_calls.inc(1)
        worker.cases.inc(1)
        with caplog.at_level(logging.INFO, logger="evalstream"):
            summary.log_once()
            receiver.received_traces.inc(2)
            summary.log_once()
    finally:
        summary.shutdown(1.0)
    first, second = caplog.messages[:2]
    assert first == (
        "last 60s: 48 traces received, 1 sampled (sampling.rate=0.05), 1 LLM calls in them, "
        "1 LLM calls scored | since start: 48 traces received, 1 sampled, 1 LLM calls in them, "
        "1 LLM calls scored"
    )
    assert second.startswith("last 60s: 2 traces received, 0 sampled (sampling.rate=0.05), 0 LLM calls")
    assert "since start: 50 traces received" in second


def test_a_role_counts_only_its_own_parts() -> None:
    registry = CollectorRegistry()
    WorkerMetrics(registry, prefix="app_eval", label_names=(), max_label_values=5).cases.inc(3)
    assert describe_flow(FlowCounts.read(registry), None) == "3 LLM calls scored"


@pytest.mark.parametrize(
    ("rate", "hint"),
    [
        (0.05, "sampling.rate=0.05: about 1 trace in 20 is scored; to score every trace while trying"),
        (1.0, "sampling.rate=1: every trace is scored"),
        (0.0, "sampling.rate=0: only traces with sampling.priority > 0 are scored"),
    ],
)
def test_the_start_up_hint_names_the_rate_and_the_flag(rate: float, hint: str) -> None:
    assert sampling_hint(rate).startswith(hint)
    if 0 < rate < 1:
        assert "--set sampling.rate=1" in sampling_hint(rate)
