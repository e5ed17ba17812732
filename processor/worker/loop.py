"""The worker: poll -> assemble each trace in a short window -> extract -> score -> record -> commit.

Records are keyed by trace id, so one trace's spans and log records arrive on one partition, but not
in one poll: the parent span ends after its LLM child and is exported later, and log records travel on
their own topic. A trace is scored `assembly_window_s` after its first record arrived; anything of that
trace arriving later is counted as late and dropped (a longer window trades latency and memory for
completeness).

Offsets are committed only up to the oldest record whose trace is not yet fully recorded (metrics,
results topic, score events), so a crash re-delivers rather than loses: at least once.
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from processor.errors import EvalstreamError, InvalidRequest
from processor.extract import TraceAssembly
from processor.extract.config import SlicesConfig
from processor.metrics import WorkerMetrics
from processor.model import EvalCase, Score
from processor.redact import Redactor
from processor.scorers import Scorer, run_scorers
from processor.transport import Consumed, Consumer, Producer, Signal, codec
from processor.worker.config import WorkerConfig
from processor.worker.results import result_record
from processor.worker.stamp import ScoreStamper

log = logging.getLogger(__name__)

LAG_INTERVAL_S = 5.0

Position = tuple[str, int]  # topic, partition


@dataclass
class _PendingTrace:
    assembly: TraceAssembly
    first_seen: float
    offsets: list[tuple[Position, int]] = field(default_factory=list)


class _OffsetBook:
    """Per partition: which polled offsets are still in flight, so commits never pass them."""

    def __init__(self) -> None:
        self._pending: dict[Position, set[int]] = collections.defaultdict(set)
        self._next: dict[Position, int] = {}
        self._committed: dict[Position, int] = {}

    def polled(self, position: Position, offset: int) -> None:
        self._pending[position].add(offset)
        self._next[position] = max(self._next.get(position, 0), offset + 1)

    def done(self, position: Position, offset: int) -> None:
        self._pending[position].discard(offset)

    def forget(self, positions: Sequence[Position]) -> None:
        for position in positions:
            self._pending.pop(position, None)
            self._next.pop(position, None)
            self._committed.pop(position, None)

    def committable(self) -> dict[Position, int]:
        """Offsets to commit now: the oldest pending offset, else one past the newest polled."""
        out: dict[Position, int] = {}
        for position, next_offset in self._next.items():
            pending = self._pending.get(position)
            offset = min(pending) if pending else next_offset
            if self._committed.get(position) != offset:
                out[position] = offset
        return out

    def committed(self, offsets: dict[Position, int]) -> None:
        self._committed.update(offsets)


class Worker:
    """Consumes sampled LLM calls, scores them with the shared scorers, records the results."""

    def __init__(
        self,
        config: WorkerConfig,
        *,
        slices: SlicesConfig,
        scorers: Sequence[Scorer],
        consumer: Consumer,
        metrics: WorkerMetrics,
        producer: Producer | None = None,
        stamper: ScoreStamper | None = None,
        redactor: Redactor | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.slices = slices
        self.scorers = list(scorers)
        self.consumer = consumer
        self.metrics = metrics
        self.producer = producer if config.publish_results else None
        self.dead_letter_producer = producer
        self.stamper = stamper
        self.redactor = redactor
        self._clock = clock
        self._pending: dict[bytes, _PendingTrace] = {}
        self._finished: collections.OrderedDict[bytes, None] = collections.OrderedDict()
        self._book = _OffsetBook()
        self._pool = concurrent.futures.ThreadPoolExecutor(config.concurrency, thread_name_prefix="scorer")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_lag_update = 0.0
        self._owned: set[Position] = set()
        metrics.prepare([s.name for s in self.scorers])

    # --- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Run the loop in a background thread (embedded mode); `run()` is the foreground form."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.run, name="worker", daemon=True)
            self._thread.start()

    def shutdown(self, timeout_s: float | None = None) -> None:
        """Stop polling, score what is in flight, commit, and stop. Idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.config.drain_timeout_s if timeout_s is None else timeout_s)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def stop(self) -> None:
        """Ask a running loop to drain and return (signal-handler safe)."""
        self._stop.set()

    def run(self) -> None:
        while not self._stop.is_set():
            self.step()
        self.drain()

    # --- one turn ----------------------------------------------------------------------------------
    def step(self) -> int:
        """Poll once, score the traces whose window has closed, commit. Returns cases scored."""
        timeout = self.config.poll_timeout_s
        if self._pending:
            oldest = min(p.first_seen for p in self._pending.values())
            timeout = max(0.0, min(timeout, oldest + self.config.assembly_window_s - self._clock()))
        try:
            batch = self.consumer.poll(timeout_s=timeout, max_records=self.config.max_poll_records)
        except EvalstreamError as exc:
            log.warning("poll failed, retrying: %s", exc)
            time.sleep(min(1.0, self.config.poll_timeout_s))
            batch = []
        for consumed in batch:
            self._take(consumed)
        now = self._clock()
        due = [tid for tid, p in self._pending.items() if now - p.first_seen >= self.config.assembly_window_s]
        scored = self._score(due)
        self._update_lag()
        return scored

    def drain(self) -> int:
        """Score everything in flight now (shutdown), then commit."""
        return self._score(list(self._pending))

    def assigned(self, partitions: Sequence[Position]) -> None:
        """Rebalance: count what this member now owns."""
        self._owned.update(partitions)
        self.metrics.assigned_partitions.set(len(self._owned))

    def revoked(self, partitions: Sequence[Position]) -> None:
        """Rebalance: abandon uncommitted traces of lost partitions; their new owner re-reads them."""
        lost = set(partitions)
        self._owned -= lost
        self.metrics.assigned_partitions.set(len(self._owned))
        for trace_id in [t for t, p in self._pending.items() if any(pos in lost for pos, _ in p.offsets)]:
            del self._pending[trace_id]
        self._book.forget(list(lost))

    # --- internals ---------------------------------------------------------------------------------
    def _take(self, consumed: Consumed) -> None:
        position = (consumed.topic, consumed.partition)
        self._book.polled(position, consumed.offset)
        record = consumed.record
        try:
            trace_id = codec.decode_key(record.key)
        except InvalidRequest:
            self._dead_letter(consumed, "bad_key")
            return
        traces = logs = None
        try:
            if record.signal is Signal.TRACES:
                traces = codec.decode_traces(record.value)
            elif record.signal is Signal.LOGS:
                logs = codec.decode_logs(record.value)
            else:
                self._dead_letter(consumed, "unexpected_topic")
                return
        except InvalidRequest:
            self._dead_letter(consumed, "undecodable_otlp")
            return
        if trace_id in self._finished:
            self.metrics.late_records.inc()
            self._book.done(position, consumed.offset)
            return
        pending = self._pending.get(trace_id)
        if pending is None:
            pending = self._pending[trace_id] = _PendingTrace(TraceAssembly(), self._clock())
        pending.offsets.append((position, consumed.offset))
        if traces is not None:
            pending.assembly.add_traces(traces)
        if logs is not None:
            pending.assembly.add_logs(logs)

    def _dead_letter(self, consumed: Consumed, reason: str) -> None:
        self.metrics.dead_letters.labels(reason).inc()
        if self.dead_letter_producer is not None:
            record = codec.dead_letter_record(consumed, reason)
            try:
                self.dead_letter_producer.send([record], timeout_s=30.0)
            except EvalstreamError as exc:
                # Leave the offset pending: committing past it would lose the record.
                log.warning("dead-letter produce failed, record stays uncommitted: %s", exc)
                return
        self._book.done((consumed.topic, consumed.partition), consumed.offset)
        self._commit()

    def _score(self, trace_ids: Sequence[bytes]) -> int:
        if not trace_ids:
            self._commit()
            return 0
        traces = [self._pending[t] for t in trace_ids]
        cases = [case for trace in traces for case in trace.assembly.cases(self.slices)]
        self.metrics.cases.inc(len(cases))
        # Redacted once per case, here: the judge's request, the results topic and the score events
        # all carry this copy; the other scorers still read the raw text in-process.
        shown = [self.redactor.case(case) for case in cases] if self.redactor else cases
        outcomes = list(self._pool.map(self._score_case, cases, shown))
        redact_score = self.redactor.score if self.redactor else (lambda score: score)
        pairs = [
            (case, redact_score(score))
            for case, scores in zip(shown, outcomes, strict=True)
            for score in scores
        ]
        if not self._publish(pairs):
            return 0  # keep the traces pending; the next step tries again
        for case, score in pairs:
            self.metrics.record(case, score)
        self._stamp(pairs)
        for trace_id, trace in zip(trace_ids, traces, strict=True):
            del self._pending[trace_id]
            self._remember_finished(trace_id)
            for position, offset in trace.offsets:
                self._book.done(position, offset)
        self._commit()
        return len(cases)

    def _score_case(self, case: EvalCase, redacted: EvalCase) -> list[Score]:
        scores = []
        for scorer in self.scorers:
            started = time.perf_counter()
            scores.extend(run_scorers([scorer], case, redacted=redacted))
            self.metrics.score_duration.labels(scorer.name).observe(time.perf_counter() - started)
        return scores

    def _publish(self, pairs: Sequence[tuple[EvalCase, Score]]) -> bool:
        if self.producer is None or not pairs:
            return True
        records = [result_record(case, score) for case, score in pairs]
        try:
            self.producer.send(records, timeout_s=30.0)
        except EvalstreamError as exc:
            log.warning("results topic unavailable, will retry the batch: %s", exc)
            return False
        self.metrics.results_published.inc(len(records))
        return True

    def _stamp(self, pairs: Sequence[tuple[EvalCase, Score]]) -> None:
        if self.stamper is None or not pairs:
            return
        try:
            self.stamper.export(pairs)
        except Exception as exc:  # the trace backend being down must not stop scoring
            self.metrics.stamp_errors.inc()
            log.warning("could not stamp %d scores on their traces: %s", len(pairs), exc)

    def _remember_finished(self, trace_id: bytes) -> None:
        self._finished[trace_id] = None
        while len(self._finished) > 100_000:
            self._finished.popitem(last=False)

    def _commit(self) -> None:
        offsets = self._book.committable()
        if not offsets:
            return
        try:
            self.consumer.commit(offsets)
        except EvalstreamError as exc:
            log.warning("offset commit failed, will retry: %s", exc)
            return
        self._book.committed(offsets)

    def _update_lag(self) -> None:
        now = self._clock()
        if now < self._next_lag_update:
            return  # end offsets cost a broker round trip; the gauge needs no more than this
        self._next_lag_update = now + LAG_INTERVAL_S
        try:
            lag = self.consumer.lag()
        except EvalstreamError:
            return
        for (topic, partition), value in lag.items():
            self.metrics.lag.labels(topic, str(partition)).set(value)
