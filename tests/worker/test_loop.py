"""The worker over the in-process transport: assembly window, metrics, results, DLQ, offsets."""

from __future__ import annotations

import pathlib
import time
from collections.abc import Sequence

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client import CollectorRegistry, generate_latest

from processor._proto import eval_result_pb2
from processor.errors import TooLarge
from processor.extract import select_logs, select_traces
from processor.extract.config import SlicesConfig
from processor.metrics import WorkerMetrics
from processor.model import EvalCase, Score
from processor.sampler.config import SamplingConfig
from processor.sampler.trace_id import TraceIdSampler
from processor.scorers import build_scorers
from processor.scorers.config import ScorerSpec
from processor.transport import Record, Signal, trace_key
from processor.transport.codec import DEAD_LETTER_REASON, DEAD_LETTER_VALUE_DROPPED
from processor.transport.memory import MemoryTransport
from processor.worker.config import WorkerConfig
from processor.worker.loop import Worker, _OffsetBook
from tests import poison

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


# --- per-trace isolation (issue 9) -------------------------------------------------------------------


def _request_records(request: ExportTraceServiceRequest) -> list[Record]:
    return [
        Record(Signal.TRACES, trace_key(tid), req.SerializeToString())
        for tid, req in select_traces(request, KEEP_ALL, SLICES).traces.items()
    ]


def _tenant_count(registry: CollectorRegistry, tenant: str, scorer: str = "relevance") -> float:
    total = 0.0
    for family in registry.collect():
        for s in family.samples:
            if s.name == f"app_eval_{scorer}_count" and s.labels.get("tenant") == tenant:
                total += s.value
    return total


@pytest.mark.parametrize("publish_results", [True, False])
def test_lone_surrogates_are_replaced_and_scored_and_metrics_still_scrape(
    otlp_fixtures: pathlib.Path, publish_results: bool
) -> None:
    transport, registry = RecordingTransport(), CollectorRegistry()
    records = [
        *_request_records(poison.poison_messages(otlp_fixtures)),
        *_request_records(poison.poison_model(otlp_fixtures)),
        *_request_records(poison.canary(otlp_fixtures)),
    ]
    transport.send(records, timeout_s=1)
    worker = _worker(transport, registry, publish_results=publish_results)
    _run_until(worker, lambda: _tenant_count(registry, "canary") == 2)
    assert _tenant_count(registry, "poison") == 4  # the poisoned calls are scored too, text repaired
    text = generate_latest(registry).decode("utf-8")
    assert 'model="gpt-4o\ufffd"' in text
    if publish_results:
        results = _results(transport)
        assert len(results) == 6
        assert "refund window? \ufffd" in {r.question for r in results}
        assert "gpt-4o\ufffd" in {r.model for r in results}
    assert transport.commits[-1][("traces", 0)] == len(records)


def _failing_on(bad: set[str], original, case_of):  # type: ignore[no-untyped-def]
    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        if case_of(*args) in bad:
            raise UnicodeEncodeError("utf-8", "\udc80", 0, 1, "surrogates not allowed")
        return original(*args, **kwargs)

    return failing


@pytest.mark.parametrize("reason", ["extract_failed", "score_failed", "result_failed", "labels_failed"])
def test_a_step_raising_on_one_trace_dead_letters_that_trace_only(
    otlp_fixtures: pathlib.Path, monkeypatch: pytest.MonkeyPatch, reason: str
) -> None:
    from processor.extract import TraceAssembly
    from processor.worker import loop

    bad_request = poison.poison_messages(otlp_fixtures)
    bad = {tid.hex() for tid in poison.trace_ids(bad_request)}
    if reason == "extract_failed":
        first_trace = lambda assembly, slices: next(iter(assembly._spans)).hex()  # noqa: E731
        monkeypatch.setattr(TraceAssembly, "cases", _failing_on(bad, TraceAssembly.cases, first_trace))
    elif reason == "score_failed":
        case_trace = lambda scorers, case: case.trace_id  # noqa: E731
        monkeypatch.setattr(loop, "run_scorers", _failing_on(bad, loop.run_scorers, case_trace))
    elif reason == "result_failed":
        case_trace = lambda case, score: case.trace_id  # noqa: E731
        monkeypatch.setattr(loop, "result_record", _failing_on(bad, loop.result_record, case_trace))
    else:
        case_trace = lambda metrics, case: case.trace_id  # noqa: E731
        failing = _failing_on(bad, WorkerMetrics.labels_for, case_trace)
        monkeypatch.setattr(WorkerMetrics, "labels_for", failing)
    transport, registry = RecordingTransport(), CollectorRegistry()
    records = [*_request_records(bad_request), *_request_records(poison.canary(otlp_fixtures))]
    transport.send(records, timeout_s=1)
    worker = _worker(transport, registry)
    _run_until(worker, lambda: _tenant_count(registry, "canary") == 2)
    dead = [r for r in transport.sent if r.signal is Signal.DEAD_LETTER]
    assert {dict(r.headers)[DEAD_LETTER_REASON] for r in dead} == {reason.encode()}
    assert {r.key.decode() for r in dead} == bad
    assert registry.get_sample_value("evalstream_worker_poison_traces_total", {"reason": reason}) == 2
    assert _tenant_count(registry, "poison") == 0
    assert transport.commits[-1][("traces", 0)] == len(records)  # committed past the poison


@pytest.mark.kafka
def test_on_kafka_a_poison_trace_is_dead_lettered_and_committed_past(
    otlp_fixtures: pathlib.Path, kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real broker: the trace whose result record raises lands on the DLQ topic with its reason, the
    canary after it is scored, and the group's committed offsets reach the end of every partition."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    from processor.transport.kafka import KafkaConsumerTransport, KafkaProducerTransport, create_topics
    from processor.worker import loop
    from tests.transport.test_kafka import consume_all, kafka_config

    config = kafka_config(kafka_bootstrap, topic_prefix, partitions=2)
    create_topics(config)
    bad_request = poison.poison_messages(otlp_fixtures)
    bad = {tid.hex() for tid in poison.trace_ids(bad_request)}
    case_trace = lambda case, score: case.trace_id  # noqa: E731
    monkeypatch.setattr(loop, "result_record", _failing_on(bad, loop.result_record, case_trace))
    producer = KafkaProducerTransport(config, registry=CollectorRegistry())
    producer.start()
    group = f"{topic_prefix}-workers"
    consumer = KafkaConsumerTransport(config, group_id=group)
    registry = CollectorRegistry()
    try:
        assert producer.wait_ready(60)
        records = [*_request_records(bad_request), *_request_records(poison.canary(otlp_fixtures))]
        producer.send(records, timeout_s=30)
        metrics = WorkerMetrics(registry, prefix="app_eval", label_names=SLICES.names, max_label_values=50)
        worker = Worker(
            WorkerConfig(assembly_window_s=0.5, poll_timeout_s=0.5),
            slices=SLICES,
            scorers=build_scorers([ScorerSpec(name="relevance", threshold=0.5)]),
            consumer=consumer,
            metrics=metrics,
            producer=producer,
        )
        reason = {"reason": "result_failed"}
        # both poison traces too: under load the canary's partition may be read before the other's
        _run_until(
            worker,
            lambda: _tenant_count(registry, "canary") == 2
            and registry.get_sample_value("evalstream_worker_poison_traces_total", reason) == 2,
            limit_s=90,
        )
        assert _tenant_count(registry, "canary") == 2
    finally:
        consumer.shutdown(timeout_s=5)
        producer.shutdown(timeout_s=5)
    assert registry.get_sample_value("evalstream_worker_poison_traces_total", reason) == 2
    dlq = KafkaConsumerTransport(config, group_id=f"{topic_prefix}-dlq", signals=(Signal.DEAD_LETTER,))
    try:
        dead = consume_all(dlq, 2, max_polls=60)
    finally:
        dlq.shutdown(timeout_s=5)
    assert {c.record.key.decode() for c in dead} == bad
    assert {dict(c.record.headers)[DEAD_LETTER_REASON] for c in dead} == {b"result_failed"}
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    reader = KafkaConsumer(bootstrap_servers=kafka_bootstrap)
    try:
        committed = {tp: meta.offset for tp, meta in admin.list_group_offsets(group)[group].items()}
        spans = [TopicPartition(config.topics.traces, p) for p in range(2)]
        ends = reader.end_offsets(spans)
    finally:
        admin.close()
        reader.close()
    assert sum(ends.values()) == len(records)
    assert {tp: committed.get(tp, 0) for tp in spans if ends[tp]} == {tp: n for tp, n in ends.items() if n}


class LimitedTransport(RecordingTransport):
    """Refuses what the worker produces above `max_record_bytes`, as KafkaProducerTransport does."""

    def __init__(self, max_record_bytes: int) -> None:
        super().__init__()
        self.max_record_bytes = max_record_bytes

    def send(self, records, *, timeout_s):  # type: ignore[no-untyped-def]
        for record in records:
            size = len(record.key) + len(record.value) + sum(len(k) + len(v) for k, v in record.headers)
            if record.signal in (Signal.RESULTS, Signal.DEAD_LETTER) and size > self.max_record_bytes:
                raise TooLarge(f"a record of {size} bytes exceeds {self.max_record_bytes}")
        super().send(records, timeout_s=timeout_s)


def _with_long_question(request: ExportTraceServiceRequest, chars: int) -> ExportTraceServiceRequest:
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                for kv in span.attributes:
                    if kv.key == "gen_ai.input.messages":
                        kv.value.string_value = kv.value.string_value.replace(
                            "What is", "What is " + "x" * chars
                        )
    return request


@pytest.mark.parametrize("poisoned", [False, True])
def test_what_the_worker_produces_always_fits_the_producers_record_limit(
    otlp_fixtures: pathlib.Path, monkeypatch: pytest.MonkeyPatch, poisoned: bool
) -> None:
    """A result or dead letter the producer refuses as too large would be retried for ever."""
    from processor.extract import TraceAssembly

    big_request = _with_long_question(poison.canary(otlp_fixtures, tenant="big"), 30_000)
    big_records = _request_records(big_request)
    too_large = {r.key.decode() for r in big_records if len(r.value) > 20_000}
    assert len(too_large) == 1  # the English call's question is long; the German one's is not
    if poisoned:
        bad = {tid.hex() for tid in poison.trace_ids(big_request)}
        first_trace = lambda assembly, slices: next(iter(assembly._spans)).hex()  # noqa: E731
        monkeypatch.setattr(TraceAssembly, "cases", _failing_on(bad, TraceAssembly.cases, first_trace))
    transport, registry = LimitedTransport(20_000), CollectorRegistry()
    records = [*big_records, *_request_records(poison.canary(otlp_fixtures))]
    transport.send(records, timeout_s=1)
    worker = _worker(transport, registry)
    _run_until(worker, lambda: _tenant_count(registry, "canary") == 2)
    assert _tenant_count(registry, "canary") == 2
    assert transport.commits[-1][("traces", 0)] == len(records)
    if poisoned:
        dead = {r.key.decode(): r for r in transport.sent if r.signal is Signal.DEAD_LETTER}
        assert set(dead) == bad
        assert {k for k, r in dead.items() if r.value == b""} == too_large
        (dropped,) = [r for r in dead.values() if not r.value]
        assert int(dict(dropped.headers)[DEAD_LETTER_VALUE_DROPPED]) > 20_000
    else:
        assert _tenant_count(registry, "big") == 2
        (long,) = [r for r in _results(transport) if r.trace_id in too_large]
        assert long.question.endswith("…") and len(long.question) < 20_000


@pytest.mark.parametrize("batched", [False, True])
def test_one_redacted_copy_per_case_goes_out_and_in_process_scorers_see_the_raw_text(batched: bool) -> None:
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

    batches: list[int] = []

    def score_batch(self, cases: Sequence[EvalCase]) -> list[Score]:  # type: ignore[no-untyped-def]
        batches.append(len(cases))
        return [self(case) for case in cases]

    if batched:  # the same two as model scorers, scored a batch at a time
        Outside.score_batch = Inside.score_batch = score_batch  # type: ignore[attr-defined]

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
    assert batches == ([1, 1] if batched else [])
    assert seen["inside"][0].input == QUESTION and seen["inside"][0].output == ANSWER
    assert EMAIL not in repr(seen["outside"][0]) and CARD not in repr(seen["outside"][0])
    results = _results(transport)
    assert {r.scorer for r in results} == {"outside", "inside"}
    for result in results:  # question, answer and both explanations
        assert EMAIL not in str(result) and CARD not in str(result)
        assert "[EMAIL]" in result.question and "[EMAIL]" in result.explanation


class Batching:
    """A model scorer's stand-in: records every call, one case (`__call__`) or a batch (`score_batch`)."""

    threshold = None

    def __init__(self, name: str = "batching", *, sends_text_out: bool = False) -> None:
        self.name, self.sends_text_out = name, sends_text_out
        self.calls: list[list[EvalCase]] = []

    def __call__(self, case: EvalCase) -> Score:
        self.calls.append([case])
        return Score.scored(self.name, 1.0, threshold=None, explanation=f"saw {case.input}")

    def score_batch(self, cases: Sequence[EvalCase]) -> list[Score]:
        self.calls.append(list(cases))
        return [Score.scored(self.name, 1.0, threshold=None, explanation=f"saw {c.input}") for c in cases]


def _batching_worker(transport: MemoryTransport, registry: CollectorRegistry, *scorers: object) -> Worker:
    metrics = WorkerMetrics(registry, prefix="app_eval", label_names=SLICES.names, max_label_values=50)
    return Worker(
        WorkerConfig(assembly_window_s=0.0, poll_timeout_s=0.05),
        slices=SLICES,
        scorers=scorers,  # type: ignore[arg-type]
        consumer=transport,
        metrics=metrics,
        producer=transport,
    )


@pytest.mark.parametrize(("max_batch", "sizes"), [(64, [6]), (4, [4, 2])])
def test_a_steps_cases_are_scored_in_one_batch_per_scorer_that_has_score_batch(
    otlp_fixtures: pathlib.Path, monkeypatch: pytest.MonkeyPatch, max_batch: int, sizes: list[int]
) -> None:
    from processor.worker import loop

    monkeypatch.setattr(loop, "MAX_BATCH", max_batch)
    transport, registry = RecordingTransport(), CollectorRegistry()
    flavours = ["otel-genai-latest-event", "openinference", "otel-genai-legacy-events"]
    transport.send([r for flavour in flavours for r in _records(otlp_fixtures, flavour)], timeout_s=1)
    batching = Batching()
    relevance = build_scorers([ScorerSpec(name="relevance", threshold=0.5)])[0]
    worker = _batching_worker(transport, registry, batching, relevance)
    _run_until(worker, lambda: len(_results(transport)) == 12)
    assert [len(call) for call in batching.calls] == sizes  # 6 calls of 3 fixtures, never one by one
    assert _count(registry, "de-DE") == 3  # relevance, case by case on the pool, still scored every case
    results = _results(transport)
    assert sorted(r.scorer for r in results) == ["batching"] * 6 + ["relevance"] * 6
    assert all(r.explanation == f"saw {r.question}" for r in results if r.scorer == "batching")
    for scorer in ("batching", "relevance"):  # a batch is observed once per case, at its share of the time
        labels = {"scorer": scorer}
        assert registry.get_sample_value("evalstream_worker_score_duration_seconds_count", labels) == 6


def test_a_batch_that_raises_is_scored_case_by_case_and_only_the_bad_trace_is_poison(
    otlp_fixtures: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from processor.worker import loop

    bad_request = poison.poison_messages(otlp_fixtures)
    bad = {tid.hex() for tid in poison.trace_ids(bad_request)}
    batch_sizes: list[int] = []

    def bad_in(scorers, cases, **kwargs):  # type: ignore[no-untyped-def]
        batch_sizes.append(len(cases))
        return next((case.trace_id for case in cases if case.trace_id in bad), "")

    monkeypatch.setattr(loop, "run_scorers_batch", _failing_on(bad, loop.run_scorers_batch, bad_in))
    case_trace = lambda scorers, case: case.trace_id  # noqa: E731
    monkeypatch.setattr(loop, "run_scorers", _failing_on(bad, loop.run_scorers, case_trace))
    transport, registry = RecordingTransport(), CollectorRegistry()
    records = [*_request_records(bad_request), *_request_records(poison.canary(otlp_fixtures))]
    transport.send(records, timeout_s=1)
    batching = Batching()
    worker = _batching_worker(transport, registry, batching)
    _run_until(worker, lambda: _tenant_count(registry, "canary", "batching") == 2)
    assert batch_sizes == [4]  # one batch of both traces' calls raised...
    assert [len(call) for call in batching.calls] == [1, 1]  # ...and the canary's were scored one by one
    dead = [r for r in transport.sent if r.signal is Signal.DEAD_LETTER]
    assert {dict(r.headers)[DEAD_LETTER_REASON] for r in dead} == {b"score_failed"}
    assert {r.key.decode() for r in dead} == bad
    assert registry.get_sample_value("evalstream_worker_poison_traces_total", {"reason": "score_failed"}) == 2
    assert _tenant_count(registry, "poison", "batching") == 0
    assert transport.commits[-1][("traces", 0)] == len(records)


class BuggyProducer(RecordingTransport):
    """Raises a non-transport error (a bug, not the broker) on result records of the `bad` traces, or on
    every dead letter: what kafka-python or our code could raise the same way on every retry."""

    def __init__(self, bad: set[str], *, dead_letters_too: bool = False) -> None:
        super().__init__()
        self.bad, self.dead_letters_too = bad, dead_letters_too

    def send(self, records, *, timeout_s):  # type: ignore[no-untyped-def]
        for record in records:
            if record.signal is Signal.RESULTS and record.key.decode() in self.bad:
                raise TypeError("a bug triggered by this trace's results")
            if record.signal is Signal.DEAD_LETTER and self.dead_letters_too:
                raise AssertionError("a bug triggered by dead letters")
        super().send(records, timeout_s=timeout_s)


@pytest.mark.parametrize("dead_letters_too", [False, True])
def test_publishing_raising_a_bug_on_one_trace_dead_letters_it_and_the_loop_goes_on(
    otlp_fixtures: pathlib.Path, dead_letters_too: bool
) -> None:
    bad_request = poison.canary(otlp_fixtures, tenant="bad")
    bad = {tid.hex() for tid in poison.trace_ids(bad_request)}
    transport, registry = BuggyProducer(bad, dead_letters_too=dead_letters_too), CollectorRegistry()
    records = [*_request_records(bad_request), *_request_records(poison.canary(otlp_fixtures))]
    transport.send(records, timeout_s=1)
    worker = _worker(transport, registry)
    _run_until(worker, lambda: _tenant_count(registry, "canary") == 2)
    assert _tenant_count(registry, "canary") == 2 and _tenant_count(registry, "bad") == 0
    assert {r.key.decode() for r in transport.sent if r.signal is Signal.RESULTS}.isdisjoint(bad)
    poison_traces = "evalstream_worker_poison_traces_total"
    assert registry.get_sample_value(poison_traces, {"reason": "publish_failed"}) == 2
    dead = [r for r in transport.sent if r.signal is Signal.DEAD_LETTER]
    if dead_letters_too:  # could not even be dead-lettered: counted, committed past, left on the source topic
        assert dead == []
        failed = {"reason": "dead_letter_failed"}
        assert registry.get_sample_value(poison_traces, failed) == 2
    else:
        assert {r.key.decode() for r in dead} == bad
    assert transport.commits[-1][("traces", 0)] == len(records)
