"""The two tiers through the real worker: a real broker, the judge against its local stand-in, hours
compressed on an injected clock (the worker's, the quota's and the judge's budget window).

1,000 LLM calls an hour in four locales, es-ES with 2 % of them (20 an hour): every call gets the
cheap scorer, the judge runs on the per-slice quota plus what its token budget leaves for the
large locales, and es-ES, the smallest, is never the one that goes without.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from prometheus_client import CollectorRegistry

from processor.demo.corpus import CURRENT, TOPICS
from processor.extract.config import SlicesConfig
from processor.metrics import WorkerMetrics
from processor.model import EvalCase, Score
from processor.scorers import HttpxChatClient, build_scorers
from processor.scorers.config import ScorerSpec
from processor.scorers.judge import JudgeParams, JudgeScorer
from processor.transport import Record, Signal, trace_key
from processor.worker.config import TiersConfig, WorkerConfig
from processor.worker.loop import Worker
from tests.processes import serving_in_thread
from tests.receiver.helpers import chat_attributes, kv
from tests.scorers.test_judge import StandIn

SLICES = SlicesConfig()
CALLS_PER_HOUR = {"en-US": 560, "de-DE": 260, "fr-FR": 160, "es-ES": 20}  # 1,000; es-ES 2 %
TOKENS_PER_JUDGEMENT = 120  # the stand-in's usage.total_tokens
BUDGET = 30_000  # tokens an hour: 250 judgements, of 1,000 calls


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def chat_call(trace_id: bytes, locale: str, n: int) -> Record:
    """One GenAI chat span (content on the span, the locale on it too), as the receiver forwards it."""
    topic = TOPICS[locale][n % len(TOPICS[locale])]
    question, answer = topic.questions[n % 2], topic.answers[n % 2].format(**CURRENT)
    span = Span(
        trace_id=trace_id,
        span_id=(n + 1).to_bytes(8, "big"),
        name="chat gpt-4o-mini",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=1,
        end_time_unix_nano=2,
        attributes=[*chat_attributes(question, answer), kv("app.locale", locale)],
    )
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource={"attributes": [kv("service.name", "support-bot")]},
                scope_spans=[ScopeSpans(spans=[span])],
            )
        ]
    )
    return Record(Signal.TRACES, trace_key(trace_id), request.SerializeToString())


def schedule(hours: int) -> list[tuple[float, str]]:
    """(second, locale) of every call: each locale's calls evenly spread over each hour, interleaved."""
    calls = [
        (hour * 3600 + (i + 0.5) * 3600 / n, locale)
        for hour in range(hours)
        for locale, n in CALLS_PER_HOUR.items()
        for i in range(n)
    ]
    return sorted(calls)


@pytest.fixture
def judge_server() -> Iterator[StandIn]:
    with serving_in_thread(StandIn()) as server:
        yield server


class CountingJudge(JudgeScorer):
    """The real judge, noting the simulated second and locale of each judgement it scored."""

    def __init__(self, clock: Clock, **kwargs: object) -> None:
        super().__init__(clock=clock, **kwargs)  # type: ignore[arg-type]
        self.clock = clock
        self.judged: list[tuple[float, str, int]] = []
        self._noted = threading.Lock()

    def __call__(self, case: EvalCase) -> Score:
        score = super().__call__(case)
        with self._noted:
            self.judged.append((self.clock(), case.label("locale"), score.tokens))
        return score


@pytest.mark.kafka
@pytest.mark.timeout(300)
def test_a_two_percent_locale_gets_its_cheap_scores_and_judge_quota_within_the_budget(
    kafka_bootstrap: str, topic_prefix: str, judge_server: StandIn
) -> None:
    from processor.transport.kafka import KafkaConsumerTransport, KafkaProducerTransport, create_topics
    from tests.transport.test_kafka import kafka_config

    hours = 3
    clock = Clock()
    config = kafka_config(kafka_bootstrap, topic_prefix, partitions=2)
    create_topics(config)
    producer = KafkaProducerTransport(config, registry=CollectorRegistry())
    producer.start()
    consumer = KafkaConsumerTransport(config, group_id=f"{topic_prefix}-workers")
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry, prefix="app_eval", label_names=SLICES.names, max_label_values=50)
    judge = CountingJudge(
        clock,
        name="judge",
        threshold=0.7,
        settings=JudgeParams(
            base_url=judge_server.base_url, model="judge-mini", max_retries=0, budget_tokens_per_hour=BUDGET
        ),
        client=HttpxChatClient(),
    )
    worker = Worker(
        WorkerConfig(
            assembly_window_s=0.0,
            poll_timeout_s=0.2,
            publish_results=False,
            tiers=TiersConfig(min_per_hour=20),
        ),
        slices=SLICES,
        scorers=[*build_scorers([ScorerSpec(name="relevance")]), judge],
        expensive={"judge"},
        consumer=consumer,
        metrics=metrics,
        producer=producer,
        clock=clock,
    )
    calls = schedule(hours)
    cases = "evalstream_worker_cases_total"
    try:
        assert producer.wait_ready(60)
        sent = 0
        for minute in range(hours * 60):  # produce a simulated minute, score it, move the clock on
            batch = [c for c in calls[sent:] if c[0] < (minute + 1) * 60]
            records = [
                chat_call((sent + k + 1).to_bytes(16, "big"), locale, sent + k)
                for k, (_, locale) in enumerate(batch)
            ]
            producer.send(records, timeout_s=30)
            sent += len(batch)
            deadline = time.monotonic() + 60  # the first poll waits for the group to form
            while (registry.get_sample_value(cases) or 0) < sent and time.monotonic() < deadline:
                worker.step()
            assert registry.get_sample_value(cases) == sent, f"minute {minute}: not every call was scored"
            clock.advance(60)
    finally:
        consumer.shutdown(timeout_s=5)
        producer.shutdown(timeout_s=5)

    def relevance_count(locale: str) -> float:
        return sum(
            s.value
            for m in registry.collect()
            if m.name == "app_eval_relevance"
            for s in m.samples
            if s.name.endswith("_count") and s.labels["locale"] == locale
        )

    assert relevance_count("es-ES") == 20 * hours  # the cheap tier: every call, 20 an hour
    for hour in range(hours):
        judged = [
            (locale, tokens) for at, locale, tokens in judge.judged if hour * 3600 <= at < (hour + 1) * 3600
        ]
        es = [tokens for locale, tokens in judged if locale == "es-ES"]
        assert len(es) >= 20 and all(es), f"hour {hour}: es-ES judged {len(es)} times"
        spent = sum(tokens for _, tokens in judged)
        per_locale = {loc: sum(1 for where, t in judged if where == loc and t) for loc in CALLS_PER_HOUR}
        print(f"hour {hour}: judged {per_locale}, {spent} of {BUDGET} tokens")  # shown with pytest -s
        assert spent <= BUDGET, f"hour {hour}: {spent} judge tokens"
        large = {loc: n for loc, n in per_locale.items() if loc != "es-ES"}
        assert all(n >= 15 for n in large.values()), (hour, large)  # their quota, roughly, and more
        assert sum(large.values()) * TOKENS_PER_JUDGEMENT > BUDGET / 2, (
            hour,
            large,
        )  # the rest of the budget
    tokens = {
        s.labels["locale"]: s.value
        for m in registry.collect()
        if m.name == "evalstream_judge_tokens"
        for s in m.samples
        if s.name.endswith("_total")
    }
    assert tokens["es-ES"] == 20 * hours * TOKENS_PER_JUDGEMENT
    assert sum(tokens.values()) == sum(t for _, _, t in judge.judged) == len(judge_server.requests) * 120
    assert registry.get_sample_value("evalstream_tier_inclusion_ratio", {"locale": "es-ES"}) == 1.0
    en_rate = registry.get_sample_value("evalstream_tier_inclusion_ratio", {"locale": "en-US"})
    assert en_rate is not None and 0.05 < en_rate < 0.5
    skipped = registry.get_sample_value(
        "evalstream_worker_skipped_cases_total", {"scorer": "judge", "reason": "tier"}
    )
    assert skipped and skipped > 1000


def test_an_expensive_batch_scorer_sees_only_the_chosen_cases_and_the_rest_are_skipped_tier() -> None:
    """In-process: a model scorer marked expensive gets the chosen cases in its batch; every other
    case gets a `tier` skip, in the results and in the skipped-cases counter, like any skip."""
    from processor.transport.memory import MemoryTransport
    from tests.worker.test_loop import Batching, _results

    transport, registry, clock = MemoryTransport(max_records=5000), CollectorRegistry(), Clock()
    transport.send([chat_call((n + 1).to_bytes(16, "big"), "en-US", n) for n in range(200)], timeout_s=1)
    model = Batching("model")
    worker = Worker(
        WorkerConfig(assembly_window_s=0.0, poll_timeout_s=0.01, tiers=TiersConfig(min_per_hour=5, rate=0.1)),
        slices=SLICES,
        scorers=[*build_scorers([ScorerSpec(name="relevance")]), model],
        expensive={"model"},
        consumer=transport,
        metrics=WorkerMetrics(registry, prefix="app_eval", label_names=SLICES.names, max_label_values=50),
        producer=transport,
        clock=clock,
    )
    for _ in range(20):
        worker.step()
    results = [r for r in _results(transport) if r.scorer == "model"]
    assert len(results) == 200
    chosen = {case.trace_id for batch in model.calls for case in batch}
    skipped = [r for r in results if r.reason == "tier"]
    assert len(chosen) + len(skipped) == 200 and {r.trace_id for r in skipped}.isdisjoint(chosen)
    assert 20 <= len(chosen) <= 80  # all while the young worker's estimate is low, then 5 + 10 % of the rest
    labels = {"scorer": "model", "reason": "tier"}
    assert registry.get_sample_value("evalstream_worker_skipped_cases_total", labels) == len(skipped)
    relevance = registry.get_sample_value("evalstream_worker_scored_cases_total", {"scorer": "relevance"})
    assert relevance == 200  # the cheap tier: every case
