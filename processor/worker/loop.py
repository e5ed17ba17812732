"""The worker: poll -> assemble each trace in a short window -> extract -> score -> record -> commit.

Records are keyed by trace id, so one trace's spans and log records arrive on one partition, but not
in one poll: the parent span ends after its LLM child and is exported later, and log records travel on
their own topic. A trace is scored `assembly_window_s` after its first record arrived; anything of that
trace arriving later is counted as late and dropped (a longer window trades latency and memory for
completeness).

Offsets are committed only up to the oldest record whose trace is not yet fully recorded (metrics,
results topic, score events), so a crash re-delivers rather than loses: at least once.

A trace that makes any step raise (assembly, extraction, a scorer, the result record, its metric
labels) is poison for that trace only: its records go to the dead-letter topic with the step as the
reason (in-process: into the transport's bounded `sent`), the reason is counted, and the loop commits
past it and goes on. Otherwise one bad string would stop every worker of the group on the same record.
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from processor.errors import EvalstreamError, InvalidRequest, TooLarge
from processor.extract import TraceAssembly
from processor.extract.config import SlicesConfig
from processor.health import SERVING, PartHealth, thread_health
from processor.metrics import WorkerMetrics
from processor.model import EvalCase, Outcome, Score
from processor.redact import Redactor
from processor.scorers import Scorer, run_scorers, run_scorers_batch
from processor.transport import Consumed, Consumer, Producer, Record, Signal, codec
from processor.worker.config import WorkerConfig
from processor.worker.results import MAX_RESULT_BYTES, result_record
from processor.worker.stamp import ScoreStamper
from processor.worker.tiers import Choice, SliceQuota

log = logging.getLogger(__name__)

LAG_INTERVAL_S = 5.0
STALE_POLL_S = 5.0  # not ready when the loop has not come back to poll for poll_timeout_s + this
# Cases per score_batch call: the encoder amortises its weights over ~384 tokens (a dozen short cases),
# so larger batches gain little and only hold the loop thread longer.
MAX_BATCH = 64

Scored = tuple[EvalCase, list[Score]]  # the case as it may leave the process, and its scores

Position = tuple[str, int]  # topic, partition

_NOT_CHOSEN = {
    Choice.OUT: ("tier", "not in the expensive tier's sample (worker.tiers)"),
    Choice.HELD: ("budget", "token budget held back for slices below their quota"),
}


@dataclass
class _PendingTrace:
    assembly: TraceAssembly
    first_seen: float
    offsets: list[tuple[Position, int]] = field(default_factory=list)
    records: list[Consumed] = field(default_factory=list)  # dead-lettered if the trace is poison


@dataclass
class _Prepared:
    """A trace ready to record: its scores, and their result records when results are published."""

    trace_id: bytes
    trace: _PendingTrace
    cases: int
    pairs: list[tuple[EvalCase, Score]]
    records: list[Record]


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
        expensive: Collection[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.slices = slices
        self.scorers = list(scorers)
        # The expensive tier (the judge): by scorer index; they run on the quota's subsample only,
        # planned around the smallest of their token budgets (a case's cost: all their tokens).
        self._expensive = [i for i, s in enumerate(self.scorers) if s.name in expensive]
        budgets = [getattr(self.scorers[i], "budget_tokens_per_hour", 0) for i in self._expensive]
        self.quota = SliceQuota(
            config.tiers, budget_tokens_per_hour=min((b for b in budgets if b > 0), default=0), clock=clock
        )
        # Model scorers (`score_batch`) score a step's cases in one pass on the loop thread; the rest
        # score case by case on the pool, so the judge's network waits overlap.
        indexed = list(enumerate(self.scorers))
        self._batched = [(i, s) for i, s in indexed if callable(getattr(s, "score_batch", None))]
        self._per_case = [(i, s) for i, s in indexed if not callable(getattr(s, "score_batch", None))]
        self.consumer = consumer
        self.metrics = metrics
        self.producer = producer if config.publish_results else None
        self.dead_letter_producer = producer
        # A result the producer refuses as too large would be retried for ever: keep them under its limit.
        limit = getattr(producer, "max_record_bytes", None)
        self._max_result_bytes = MAX_RESULT_BYTES if limit is None else min(MAX_RESULT_BYTES, limit - 1024)
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
        self._last_poll = 0.0  # time.monotonic() when a poll last returned without an error
        self._poll_error = ""  # why the last poll failed ("" when it did not)
        self._poll_failures = 0
        self._publish_failures = 0
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
        cases = 0
        while not self._stop.is_set():
            cases += self.step()
        cases += self.drain()
        log.info("worker: stopped; %d cases scored since start", cases)

    def health(self) -> PartHealth:
        """Not live when the loop's thread died; ready while it polls without errors and its consumer is."""
        thread = thread_health(self._thread, "worker")
        if not thread.live and not self._stop.is_set():
            return thread
        if self._stop.is_set():
            return PartHealth(ready=False, reason="the worker is stopping")
        if self._poll_error:
            return PartHealth(ready=False, reason=f"polling fails: {self._poll_error}")
        if self._last_poll == 0.0:
            return PartHealth(ready=False, reason="the worker has not polled yet")
        since = time.monotonic() - self._last_poll
        if since > self.config.poll_timeout_s + STALE_POLL_S:
            return PartHealth(ready=False, reason=f"the worker loop has not polled for {since:.0f}s")
        consumer_health = getattr(self.consumer, "health", None)
        if consumer_health is not None:
            consumer: PartHealth = consumer_health()
            if not consumer.ready:
                return PartHealth(ready=False, reason=consumer.reason)
        return SERVING

    # --- one turn ----------------------------------------------------------------------------------
    def step(self) -> int:
        """Poll once, score the traces whose window has closed, commit. Returns cases scored."""
        timeout = self.config.poll_timeout_s
        if self._pending:
            oldest = min(p.first_seen for p in self._pending.values())
            timeout = max(0.0, min(timeout, oldest + self.config.assembly_window_s - self._clock()))
        batch = self._poll(timeout)
        for consumed in batch:
            self._take(consumed)
        now = self._clock()
        due = [tid for tid, p in self._pending.items() if now - p.first_seen >= self.config.assembly_window_s]
        scored = self._score(due)
        self._update_lag()
        return scored

    def drain(self) -> int:
        """Shutdown: take what the transport still holds, score everything open now, commit.

        Polls until a poll comes back empty (or a quarter of drain_timeout_s is spent: the rest is for
        scoring), so requests the receiver accepted during its own grace period are scored, not left in
        an in-process queue.
        """
        deadline = time.monotonic() + self.config.drain_timeout_s / 4
        while (left := deadline - time.monotonic()) > 0:
            batch = self._poll(min(self.config.poll_timeout_s, left))
            if not batch:
                break
            for consumed in batch:
                self._take(consumed)
        return self._score(list(self._pending))

    def _poll(self, timeout_s: float) -> list[Consumed]:
        """One poll; any failure (the broker away, ...) is logged, backed off and shown by health()."""
        try:
            batch = self.consumer.poll(timeout_s=timeout_s, max_records=self.config.max_poll_records)
        except Exception as exc:  # the transport's own errors and librdkafka's: never end the loop
            self._poll_error = f"{type(exc).__name__}: {exc}"
            self._poll_failures += 1
            if self._poll_failures == 1 or self._poll_failures % 60 == 0:
                log.warning("poll failed (%d in a row), retrying: %s", self._poll_failures, self._poll_error)
            self._stop.wait(min(1.0, self.config.poll_timeout_s))
            return []
        if self._poll_failures:
            log.info("polling again after %d failed polls", self._poll_failures)
        self._poll_error, self._poll_failures = "", 0
        self._last_poll = time.monotonic()
        return batch

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
                traces = codec.decode(record.value, ExportTraceServiceRequest)
            elif record.signal is Signal.LOGS:
                logs = codec.decode(record.value, ExportLogsServiceRequest)
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
            assembly = TraceAssembly(max_value_chars=self.config.max_attribute_chars)
            pending = self._pending[trace_id] = _PendingTrace(assembly, self._clock())
        pending.offsets.append((position, consumed.offset))
        pending.records.append(consumed)
        limit = pending.assembly.value_limit
        cut_before = limit.cut
        try:
            if traces is not None:
                pending.assembly.add_traces(traces)
            if logs is not None:
                pending.assembly.add_logs(logs)
            self.metrics.values_cut.inc(limit.cut - cut_before)
        except Exception:  # a bug triggered by one record costs that trace only
            log.exception("assembling trace %s failed; dead-lettering it", trace_id.hex())
            self._poison(trace_id, "assembly_failed")

    def _send_dead_letters(self, consumed: Sequence[Consumed], reason: str) -> None:
        """Dead-letter records; one too large with our headers goes without its value (the source header
        still says where to find it), since a refused record would otherwise be retried for ever."""
        assert self.dead_letter_producer is not None
        letters = [codec.dead_letter_record(c, reason) for c in consumed]
        try:
            self.dead_letter_producer.send(letters, timeout_s=30.0)
        except TooLarge:
            letters = [codec.dead_letter_record(c, reason, keep_value=False) for c in consumed]
            self.dead_letter_producer.send(letters, timeout_s=30.0)

    def _dead_letter_bug(self, consumed: Sequence[Consumed], reason: str) -> None:
        """Dead-lettering raised something other than a transport error: a bug the same records would
        trigger again. Committing past them (they stay on their source topic, named in the log) beats
        a worker group that dies on them for ever; transport errors, by contrast, are retried."""
        log.exception(
            "dead-lettering (%s) raised; committing past %s all the same",
            reason,
            ", ".join(f"{c.topic}/{c.partition}/{c.offset}" for c in consumed),
        )
        self.metrics.poison_traces.labels("dead_letter_failed").inc()

    def _dead_letter(self, consumed: Consumed, reason: str) -> None:
        self.metrics.dead_letters.labels(reason).inc()
        if self.dead_letter_producer is not None:
            try:
                self._send_dead_letters([consumed], reason)
            except EvalstreamError as exc:
                # Leave the offset pending: committing past it would lose the record.
                log.warning("dead-letter produce failed, record stays uncommitted: %s", exc)
                return
            except Exception:
                self._dead_letter_bug([consumed], reason)
        self._book.done((consumed.topic, consumed.partition), consumed.offset)
        self._commit()

    def _poison(self, trace_id: bytes, reason: str) -> bool:
        """Dead-letter every record of a trace that made a step raise, count it, and forget the trace.

        Returns False when the dead-letter topic is unavailable: the trace then stays pending (its
        offsets uncommitted) and is retried on the next step, so nothing is committed unrecorded.
        """
        trace = self._pending.get(trace_id)
        if trace is None:
            return True
        if self.dead_letter_producer is not None and trace.records:
            try:
                self._send_dead_letters(trace.records, reason)
            except EvalstreamError as exc:
                log.warning("dead-letter produce failed, trace stays uncommitted: %s", exc)
                return False
            except Exception:
                self._dead_letter_bug(trace.records, reason)
        self.metrics.poison_traces.labels(reason).inc()
        self.metrics.dead_letters.labels(reason).inc(len(trace.records))
        del self._pending[trace_id]
        self._remember_finished(trace_id)
        for position, offset in trace.offsets:
            self._book.done(position, offset)
        return True

    def _extract(self, trace_id: bytes) -> list[EvalCase] | None:
        try:
            return self._pending[trace_id].assembly.cases(self.slices)
        except Exception:  # a bug triggered by one trace costs that trace only
            log.exception("trace %s: extraction failed; dead-lettering it", trace_id.hex())
            return None

    def _prepare(
        self, trace_id: bytes, outcomes: list[tuple[EvalCase, list[Score]] | None]
    ) -> _Prepared | str:
        """One trace's scores and result records (on the cases as they may leave the process); the
        failing step's name when one raised."""
        scored = [outcome for outcome in outcomes if outcome is not None]
        if len(scored) < len(outcomes):
            return "score_failed"
        pairs = [(shown, score) for shown, scores in scored for score in scores]
        step = "result_failed"
        try:
            records = (
                [result_record(case, score, max_bytes=self._max_result_bytes) for case, score in pairs]
                if self.producer
                else []
            )
            step = "labels_failed"
            for case in {id(case): case for case, score in pairs if score.outcome is Outcome.SCORED}.values():
                self.metrics.labels_for(case)  # what `record` will observe under, built before publishing
        except Exception:  # a bug triggered by one trace costs that trace only
            log.exception("trace %s: %s; dead-lettering it", trace_id.hex(), step)
            return step
        return _Prepared(trace_id, self._pending[trace_id], len(outcomes), pairs, records)

    def _score(self, trace_ids: Sequence[bytes]) -> int:
        if not trace_ids:
            self._commit()
            return 0
        extracted: list[tuple[bytes, list[EvalCase]]] = []
        for trace_id in trace_ids:
            cases = self._extract(trace_id)
            if cases is None:
                self._poison(trace_id, "extract_failed")
            else:
                extracted.append((trace_id, cases))
        every_case = [case for _, cases in extracted for case in cases]
        self.metrics.cases.inc(len(every_case))
        outcomes = iter(self._score_cases(every_case))
        prepared: list[_Prepared] = []
        for trace_id, cases in extracted:
            outcome = self._prepare(trace_id, [next(outcomes) for _ in cases])
            if isinstance(outcome, str):
                self._poison(trace_id, outcome)
            else:
                prepared.append(outcome)
        published = self._publish_traces(prepared)
        if published is None:
            self._commit()  # past the poison, if any; the good traces stay pending and are retried
            return 0
        prepared = published
        pairs = [pair for p in prepared for pair in p.pairs]
        for case, score in pairs:
            try:
                self.metrics.record(case, score)
            except Exception:  # the result is published; count the metric that is not
                log.exception("recording %s on trace %s failed", score.name, case.trace_id)
                self.metrics.poison_traces.labels("metrics_failed").inc()
        self._stamp(pairs)
        if self._expensive:
            self.metrics.set_inclusion(self.quota.rates())
        for p in prepared:
            del self._pending[p.trace_id]
            self._remember_finished(p.trace_id)
            for position, offset in p.trace.offsets:
                self._book.done(position, offset)
        self._commit()
        return sum(p.cases for p in prepared)

    def _score_cases(self, cases: Sequence[EvalCase]) -> list[Scored | None]:
        """Every scorer on every case of a step, each case's scores in the configured order; None for a
        case when something raised all the same (its trace is poison, the other cases are scored).

        The copy of a case that may leave the process is redacted once per case, here: the judge's
        request, the results topic and the score events carry it, while the other scorers read the
        raw text in-process. Per-case scorers run on the pool while the batches run on this thread.
        """
        ready: list[tuple[int, EvalCase]] = []  # (index in cases, redacted copy)
        choices: dict[int, Choice | None] = {}  # the expensive tier's choice, per case index
        for i, case in enumerate(cases):
            copy = self._redacted(case)
            if copy is None:
                continue
            try:
                choices[i] = self._choose(case)
            except Exception:  # a bug triggered by one case costs its trace only
                log.exception("choosing the tier of a case of trace %s failed", case.trace_id)
                continue
            ready.append((i, copy))
        skips = {i: self._tier_skips(choices[i]) for i, _ in ready}  # expensive scorers not run
        futures = (
            [self._pool.submit(self._score_one, cases[i], copy, skips[i]) for i, copy in ready]
            if self._per_case
            else []
        )
        scores: dict[int, dict[int, Score]] = {i: {} for i, _ in ready}  # case -> scorer index -> score
        for start in range(0, len(ready), MAX_BATCH):
            chunk = ready[start : start + MAX_BATCH]
            batch = self._score_batch(
                [cases[i] for i, _ in chunk], [copy for _, copy in chunk], [skips[i] for i, _ in chunk]
            )
            for (i, _), got in zip(chunk, batch, strict=True):
                self._merge(scores, i, got)
        for (i, _), future in zip(ready, futures, strict=False):
            self._merge(scores, i, future.result())
        for i, got in scores.items():
            choice = choices[i]
            if choice is not None and choice.runs:
                self.quota.spent(choice, sum(got[j].tokens for j in self._expensive if j in got))
        outcomes: list[Scored | None] = [None] * len(cases)
        for i, copy in ready:
            if i in scores:
                outcomes[i] = self._finish(cases[i], copy, [scores[i][j] for j in range(len(self.scorers))])
        return outcomes

    def _choose(self, case: EvalCase) -> Choice | None:
        """The expensive tier's choice for a case; None when there is nothing to choose (no expensive
        scorer, or a case without content, which every scorer skips)."""
        if not self._expensive or not case.has_content:
            return None
        return self.quota.choose(case.trace_id, self.metrics.tier_value(case), case.span_id)

    def _tier_skips(self, choice: Choice | None) -> dict[int, Score]:
        """The skipped scores of the expensive scorers a case is not chosen for, by scorer index."""
        if choice is None or choice.runs:
            return {}
        reason, explanation = _NOT_CHOSEN[choice]
        return {i: Score.skipped(self.scorers[i].name, reason, explanation) for i in self._expensive}

    @staticmethod
    def _merge(scores: dict[int, dict[int, Score]], case: int, got: dict[int, Score] | None) -> None:
        if got is None:
            scores.pop(case, None)
        elif case in scores:
            scores[case].update(got)

    def _redacted(self, case: EvalCase) -> EvalCase | None:
        try:
            return self.redactor.case(case) if self.redactor else case
        except Exception:  # a redaction bug costs this case's trace only
            log.exception("redacting a case of trace %s failed", case.trace_id)
            return None

    def _score_one(self, case: EvalCase, shown: EvalCase, skips: dict[int, Score]) -> dict[int, Score] | None:
        """The per-case scorers on one case (on the pool), by scorer index; None when something raised.
        The scorers in `skips` (the expensive tier's, for a case not chosen) are not run."""
        scores: dict[int, Score] = dict(skips)
        try:
            for index, scorer in self._per_case:
                if index in skips:
                    continue
                started = time.perf_counter()
                (scores[index],) = run_scorers([scorer], case, redacted=shown)
                self.metrics.score_duration.labels(scorer.name).observe(time.perf_counter() - started)
        except Exception:  # run_scorers never raises for a scorer's sake; this is a bug of ours
            log.exception("scoring a case of trace %s failed", case.trace_id)
            return None
        return scores

    def _score_batch(
        self, every: Sequence[EvalCase], every_copy: Sequence[EvalCase], skips: Sequence[dict[int, Score]]
    ) -> list[dict[int, Score] | None]:
        """The batch scorers on a batch, one `score_batch` pass each; each case is observed at the
        batch's time divided by its size. A batch that raises all the same is scored again case by
        case, so only the case that raises is lost (None). A scorer in a case's `skips` (the
        expensive tier's, for a case not chosen) is not run on it."""
        out: list[dict[int, Score] | None] = [{} for _ in every]
        for index, scorer in self._batched:
            runs = [k for k, skipped in enumerate(skips) if index not in skipped]
            for k, skipped in enumerate(skips):
                if index in skipped and (scores := out[k]) is not None:
                    scores[index] = skipped[index]
            if not runs:
                continue
            batch, copies = [every[k] for k in runs], [every_copy[k] for k in runs]
            duration = self.metrics.score_duration.labels(scorer.name)
            started = time.perf_counter()
            try:
                rows = run_scorers_batch([scorer], batch, redacted=copies)
            except Exception:  # run_scorers_batch never raises for a scorer's sake: a bug of ours
                log.exception("scoring a batch of %d cases failed; scoring them one by one", len(batch))
                for k, case, copy in zip(runs, batch, copies, strict=True):
                    scores = out[k]
                    if scores is None:
                        continue
                    started = time.perf_counter()
                    try:
                        (scores[index],) = run_scorers([scorer], case, redacted=copy)
                    except Exception:
                        log.exception("scoring a case of trace %s failed", case.trace_id)
                        out[k] = None
                        continue
                    duration.observe(time.perf_counter() - started)
                continue
            each = (time.perf_counter() - started) / len(batch)
            for k, (score,) in zip(runs, rows, strict=True):
                scores = out[k]
                if scores is not None:
                    scores[index] = score
                duration.observe(each)
        return out

    def _finish(self, case: EvalCase, shown: EvalCase, scores: list[Score]) -> Scored | None:
        try:
            return shown, [self.redactor.score(score) for score in scores] if self.redactor else scores
        except Exception:  # a redaction bug costs this case's trace only
            log.exception("redacting the scores of trace %s failed", case.trace_id)
            return None

    def _publish_traces(self, prepared: list[_Prepared]) -> list[_Prepared] | None:
        """Publish every trace's result records in one send: the traces published, or None when the
        transport failed (the batch stays pending and is retried after a back-off).

        Anything else raised is a bug that one trace's records may trigger every time: the traces are
        then sent one by one and those that raise again are poison (`publish_failed`), so one trace
        cannot stop the group (a crash would re-deliver it to every new worker).
        """
        try:
            return prepared if self._publish([r for p in prepared for r in p.records]) else None
        except Exception:
            log.exception(
                "publishing the results of %d traces raised; sending them one by one", len(prepared)
            )
        published: list[_Prepared] = []
        for trace in prepared:
            try:
                if not self._publish(trace.records):
                    return None  # those published already will be again: at least once
            except Exception:
                log.exception(
                    "publishing the results of trace %s raised; dead-lettering it", trace.trace_id.hex()
                )
                self._poison(trace.trace_id, "publish_failed")
                continue
            published.append(trace)
        return published

    def _publish(self, records: Sequence[Record]) -> bool:
        if self.producer is None or not records:
            return True
        try:
            self.producer.send(records, timeout_s=30.0)
        except EvalstreamError as exc:
            self._publish_failures += 1
            if self._publish_failures == 1 or self._publish_failures % 30 == 0:
                log.warning(
                    "results topic unavailable (%d tries), will retry the batch: %s",
                    self._publish_failures,
                    exc,
                )
            self._stop.wait(1.0)  # the broker is away: do not re-score the batch in a tight loop
            return False
        self._publish_failures = 0
        self.metrics.results_published.inc(len(records))
        return True

    def _stamp(self, pairs: Sequence[tuple[EvalCase, Score]]) -> None:
        if self.stamper is None or not pairs:
            return
        try:
            unstamped = self.stamper.export(pairs)
            if unstamped:
                self.metrics.poison_traces.labels("stamp_failed").inc(unstamped)
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
        except Exception as exc:  # the broker away: the offsets stay committable, the next turn retries
            log.warning("offset commit failed, will retry: %s: %s", type(exc).__name__, exc)
            return
        self._book.committed(offsets)

    def _update_lag(self) -> None:
        now = self._clock()
        if now < self._next_lag_update:
            return  # end offsets cost a broker round trip; the gauge needs no more than this
        self._next_lag_update = now + LAG_INTERVAL_S
        try:
            lag = self.consumer.lag()
        except Exception as exc:  # a gauge: the broker being away must not stop the loop
            log.debug("consumer lag unknown: %s: %s", type(exc).__name__, exc)
            return
        for (topic, partition), value in lag.items():
            self.metrics.lag.labels(topic, str(partition)).set(value)
