"""The worker over the in-process transport: assembly window, metrics, results, DLQ, offsets."""

from __future__ import annotations

import pathlib
import time

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client import CollectorRegistry

from processor._proto import eval_result_pb2
from processor.extract import select_logs, select_traces
from processor.extract.config import SlicesConfig
from processor.metrics import WorkerMetrics
from processor.sampler.config import SamplingConfig
from processor.sampler.trace_id import TraceIdSampler
from processor.scorers import build_scorers
from processor.scorers.config import ScorerSpec
from processor.transport import Record, Signal, trace_key
from processor.transport.codec import DEAD_LETTER_REASON
from processor.transport.memory import MemoryTransport
from processor.worker.config import WorkerConfig
from processor.worker.loop import Worker, _OffsetBook

KEEP_ALL = TraceIdSampler(SamplingConfig(rate=1.0))
SLICES = SlicesConfig()


class RecordingTransport(MemoryTransport):
    def __init__(self) -> None:
        super().__init__(max_records=1000)
        self.commits: list[dict[tuple[str, int], int]] = []

    def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        self.commits.append(dict(offsets))


def _records(fixtures: pathlib.Path, flavour: str) -> list[Record]:
    """What the receiver would produce for one fixture flavour at 100% sampling."""
    traces = ExportTraceServiceRequest.FromString((fixtures / f"{flavour}.traces.pb").read_bytes())
    records = [
        Record(Signal.TRACES, trace_key(tid), req.SerializeToString())
        for tid, req in select_traces(traces, KEEP_ALL, SLICES).traces.items()
    ]
    logs_file = fixtures / f"{flavour}.logs.pb"
    if logs_file.exists():
        logs = ExportLogsServiceRequest.FromString(logs_file.read_bytes())
        records += [
            Record(Signal.LOGS, trace_key(tid), req.SerializeToString())
            for tid, req in select_logs(logs, KEEP_ALL).logs.items()
        ]
    return records


def _worker(transport: MemoryTransport, registry: CollectorRegistry, *, window: float = 0.0, **kw) -> Worker:
    config = WorkerConfig(assembly_window_s=window, poll_timeout_s=0.05, **kw)
    metrics = WorkerMetrics(registry, prefix="app_eval", label_names=SLICES.names, max_label_values=50)
    scorers = build_scorers([ScorerSpec(name="relevance", threshold=0.5)])
    return Worker(
        config, slices=SLICES, scorers=scorers, consumer=transport, metrics=metrics, producer=transport
    )


def _run_until(worker: Worker, done, limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while not done() and time.monotonic() < deadline:
        worker.step()


def _count(registry: CollectorRegistry, locale: str) -> float | None:
    return registry.get_sample_value(
        "app_eval_relevance_count",
        {
            "service": "support-bot",
            "model": "gpt-4o-mini-2024-07-18",
            "prompt_version": "support-v7",
            "tenant": "acme",
            "locale": locale,
        },
    )


def _results(transport: MemoryTransport) -> list[eval_result_pb2.EvalResult]:
    return [
        eval_result_pb2.EvalResult.FromString(r.value) for r in transport.sent if r.signal is Signal.RESULTS
    ]


@pytest.mark.parametrize("flavour", ["otel-genai-latest-event", "openinference", "otel-genai-legacy-events"])
def test_fixture_traces_are_scored_with_their_slice_labels(otlp_fixtures: pathlib.Path, flavour: str) -> None:
    transport, registry = RecordingTransport(), CollectorRegistry()
    transport.send(_records(otlp_fixtures, flavour), timeout_s=1)
    worker = _worker(transport, registry)
    _run_until(worker, lambda: len(_results(transport)) == 2)
    assert _count(registry, "en-US") == 1
    assert _count(registry, "de-DE") == 1
    results = {r.question: r for r in _results(transport)}
    assert results["Wie lange gilt das Rückgaberecht?"].answer.startswith("Das Rückgaberecht gilt 14 Tage")
    assert results["Wie lange gilt das Rückgaberecht?"].labels["locale"] == "de-DE"
    assert all(r.outcome == eval_result_pb2.EvalResult.OUTCOME_SCORED for r in results.values())


def test_no_content_calls_are_counted_as_skipped_never_scored(otlp_fixtures: pathlib.Path) -> None:
    transport, registry = RecordingTransport(), CollectorRegistry()
    transport.send(_records(otlp_fixtures, "otel-genai-no-content"), timeout_s=1)
    worker = _worker(transport, registry)
    _run_until(worker, lambda: len(_results(transport)) == 2)
    skipped = {"scorer": "relevance", "reason": "no_content"}
    assert registry.get_sample_value("evalstream_worker_skipped_cases_total", skipped) == 2
    assert _count(registry, "en-US") is None


def test_parent_arriving_later_within_the_window_still_labels_the_call(otlp_fixtures: pathlib.Path) -> None:
    flavour = "otel-genai-latest-span"
    traces = ExportTraceServiceRequest.FromString((otlp_fixtures / f"{flavour}.traces.pb").read_bytes())
    selection = select_traces(traces, KEEP_ALL, SLICES)
    children, parents = [], []
    for tid, request in selection.traces.items():
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    single = ExportTraceServiceRequest()
                    rs = single.resource_spans.add(resource=resource_spans.resource)
                    rs.scope_spans.add(scope=scope_spans.scope).spans.append(span)
                    (parents if not span.parent_span_id else children).append(
                        Record(Signal.TRACES, trace_key(tid), single.SerializeToString())
                    )
    transport, registry = RecordingTransport(), CollectorRegistry()
    worker = _worker(transport, registry, window=0.5)
    transport.send(children, timeout_s=1)
    worker.step()
    assert _results(transport) == []  # window still open
    transport.send(parents, timeout_s=1)
    _run_until(worker, lambda: len(_results(transport)) == 2)
    assert _count(registry, "en-US") == 1 and _count(registry, "de-DE") == 1


def test_undecodable_record_goes_to_dead_letter_and_the_partition_moves_on(
    otlp_fixtures: pathlib.Path,
) -> None:
    transport, registry = RecordingTransport(), CollectorRegistry()
    good = _records(otlp_fixtures, "otel-genai-latest-span")
    poison = Record(Signal.TRACES, b"0af7651916cd43dd8448eb211c80319c", b"\xff\xff not protobuf")
    transport.send([poison, *good], timeout_s=1)
    worker = _worker(transport, registry)
    _run_until(worker, lambda: len(_results(transport)) == 2)
    (dead,) = [r for r in transport.sent if r.signal is Signal.DEAD_LETTER]
    assert dict(dead.headers)[DEAD_LETTER_REASON] == b"undecodable_otlp"
    assert dead.value == poison.value
    assert (
        registry.get_sample_value(
            "evalstream_worker_dead_letter_records_total", {"reason": "undecodable_otlp"}
        )
        == 1
    )
    assert transport.commits[-1][("traces", 0)] == len(good) + 1  # everything, poison included, is done


def test_drain_scores_open_traces_immediately(otlp_fixtures: pathlib.Path) -> None:
    transport, registry = RecordingTransport(), CollectorRegistry()
    transport.send(_records(otlp_fixtures, "openllmetry"), timeout_s=1)
    worker = _worker(transport, registry, window=3600)
    worker.step()
    assert _results(transport) == []
    assert worker.drain() == 2
    assert len(_results(transport)) == 2


def test_offset_book_never_commits_past_a_pending_record() -> None:
    book = _OffsetBook()
    p = ("traces", 0)
    for offset in (10, 11, 12):
        book.polled(p, offset)
    book.done(p, 10)
    book.done(p, 12)
    assert book.committable() == {p: 11}
    book.committed({p: 11})
    assert book.committable() == {}
    book.done(p, 11)
    assert book.committable() == {p: 13}


def test_revoked_partitions_drop_their_open_traces(otlp_fixtures: pathlib.Path) -> None:
    transport, registry = RecordingTransport(), CollectorRegistry()
    transport.send(_records(otlp_fixtures, "openllmetry"), timeout_s=1)
    worker = _worker(transport, registry, window=3600)
    worker.step()
    worker.revoked([("traces", 0)])
    assert worker.drain() == 0


def test_one_redacted_copy_per_case_goes_out_and_in_process_scorers_see_the_raw_text() -> None:
    from processor.model import EvalCase, Score
    from processor.redact import Redactor
    from tests.test_redaction_e2e import ANSWER, CARD, EMAIL, QUESTION, requests

    seen: dict[str, list[EvalCase]] = {"outside": [], "inside": []}

    class Outside:  # stands in for the judge: its request would leave the process
        name, threshold, sends_text_out = "outside", None, True

        def __call__(self, case: EvalCase) -> Score:
            seen["outside"].append(case)
            return Score.scored(self.name, 1.0, threshold=None, explanation=f"quoted: {case.input}")

    class Inside:
        name, threshold = "inside", None

        def __call__(self, case: EvalCase) -> Score:
            seen["inside"].append(case)
            return Score.scored(self.name, 1.0, threshold=None, explanation=f"saw {EMAIL}")

    transport = RecordingTransport()
    traces, _ = requests(bytes(range(1, 17)))
    transport.send(
        [
            Record(Signal.TRACES, trace_key(tid), req.SerializeToString())
            for tid, req in select_traces(traces, KEEP_ALL, SLICES).traces.items()
        ],
        timeout_s=1,
    )
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry, prefix="app_eval", label_names=SLICES.names, max_label_values=50)
    worker = Worker(
        WorkerConfig(assembly_window_s=0.0, poll_timeout_s=0.05),
        slices=SLICES,
        scorers=[Outside(), Inside()],
        consumer=transport,
        metrics=metrics,
        producer=transport,
        redactor=Redactor(),
    )
    _run_until(worker, lambda: len(_results(transport)) == 2)
    assert seen["inside"][0].input == QUESTION and seen["inside"][0].output == ANSWER
    assert EMAIL not in repr(seen["outside"][0]) and CARD not in repr(seen["outside"][0])
    results = _results(transport)
    assert {r.scorer for r in results} == {"outside", "inside"}
    for result in results:  # question, answer and both explanations
        assert EMAIL not in str(result) and CARD not in str(result)
        assert "[EMAIL]" in result.question and "[EMAIL]" in result.explanation
