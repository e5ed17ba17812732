"""Every metric evalstream exports: name, help, labels, buckets, declared against an injected registry.

Scores are `<prefix>_<scorer>` histograms (default prefix `app_eval`) with the slice labels; everything
about evalstream itself is `evalstream_<part>_<what>_<unit>`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from processor.metrics.guard import CardinalityGuard
from processor.model import EvalCase, Outcome, Score
from processor.sanitize import label_value

#: Scores live in [0, 1]; the client's default buckets are latency-shaped (5 ms .. 10 s).
SCORE_BUCKETS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

_INVALID_METRIC_CHARS = re.compile(r"[^a-zA-Z0-9_]")


def score_metric_name(prefix: str, scorer: str) -> str:
    """`app_eval` + `context-relevance` -> `app_eval_context_relevance`."""
    return f"{prefix}_{_INVALID_METRIC_CHARS.sub('_', scorer)}"


class WorkerMetrics:
    """The worker's instruments: score histograms per scorer plus the outcome counters."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        prefix: str,
        label_names: Sequence[str],
        max_label_values: int,
        max_series: int | None = None,
        max_label_length: int = 64,
    ) -> None:
        self.registry = registry
        self.prefix = prefix
        self.label_names = tuple(label_names)
        self.max_label_length = max_label_length
        self._histograms: dict[str, Histogram] = {}
        self._lock = threading.Lock()
        self.label_overflow = Counter(
            "evalstream_metrics_label_overflow_total",
            "Slice label values replaced by __other__ because the label hit its value budget "
            "(label=__series__: the label combination hit metrics.max_series).",
            ["label"],
            registry=registry,
        )
        self.guard = CardinalityGuard(
            max_label_values,
            max_series=max_series,
            on_overflow=lambda label: self.label_overflow.labels(label).inc(),
        )
        self.cases = Counter(
            "evalstream_worker_cases_total",
            "LLM calls assembled from the stream and handed to the scorers.",
            registry=registry,
        )
        self.scored = Counter(
            "evalstream_worker_scored_cases_total", "Cases scored, per scorer.", ["scorer"], registry=registry
        )
        self.skipped = Counter(
            "evalstream_worker_skipped_cases_total",
            "Cases a scorer skipped on purpose (no_content, no_context, budget...), per scorer and reason.",
            ["scorer", "reason"],
            registry=registry,
        )
        self.errors = Counter(
            "evalstream_worker_scorer_errors_total",
            "Scorer failures (judge timeout, bad response...): not low scores. Per scorer and reason.",
            ["scorer", "reason"],
            registry=registry,
        )
        self.score_duration = Histogram(
            "evalstream_worker_score_duration_seconds",
            "Time one scorer took on one case.",
            ["scorer"],
            buckets=(0.001, 0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.dead_letters = Counter(
            "evalstream_worker_dead_letter_records_total",
            "Records that could not be decoded or processed and went to the dead-letter topic, per reason.",
            ["reason"],
            registry=registry,
        )
        self.poison_traces = Counter(
            "evalstream_worker_poison_traces_total",
            "Traces that made a step raise (reason = the step: extract_failed, score_failed, result_failed, "
            "labels_failed...): dead-lettered, committed past, the loop went on.",
            ["reason"],
            registry=registry,
        )
        self.values_cut = Counter(
            "evalstream_worker_values_cut_total",
            "Span or log attribute strings longer than worker.max_attribute_chars, cut there (a cut JSON "
            "content attribute yields no content: its case is skipped no_content).",
            registry=registry,
        )
        self.late_records = Counter(
            "evalstream_worker_late_records_total",
            "Records that arrived after their trace was already scored (outside the assembly window).",
            registry=registry,
        )
        self.lag = Gauge(
            "evalstream_worker_consumer_lag_records",
            "Records not yet consumed, per topic and partition.",
            ["topic", "partition"],
            registry=registry,
        )
        self.assigned_partitions = Gauge(
            "evalstream_worker_assigned_partitions",
            "Topic partitions this consumer-group member currently owns.",
            registry=registry,
        )
        self.judge_tokens = Counter(
            "evalstream_judge_tokens_total",
            "Tokens the LLM judge spent (prompt + completion).",
            registry=registry,
        )
        self.results_published = Counter(
            "evalstream_worker_published_results_total",
            "Scores produced to the results topic.",
            registry=registry,
        )
        self.stamp_errors = Counter(
            "evalstream_worker_stamp_errors_total",
            "Batches of gen_ai.evaluation.result events the OTLP endpoint did not accept.",
            registry=registry,
        )

    def prepare(self, scorers: Sequence[str]) -> None:
        """Create every scorer's series up front so a dashboard shows 0, not 'no data'."""
        for name in scorers:
            self.histogram(name)
            self.scored.labels(name)

    def histogram(self, scorer: str) -> Histogram:
        with self._lock:
            histogram = self._histograms.get(scorer)
            if histogram is None:
                histogram = Histogram(
                    score_metric_name(self.prefix, scorer),
                    f"Score of the '{scorer}' scorer on sampled LLM calls, in [0, 1].",
                    list(self.label_names),
                    buckets=SCORE_BUCKETS,
                    registry=self.registry,
                )
                self._histograms[scorer] = histogram
            return histogram

    def labels_for(self, case: EvalCase) -> list[str]:
        """The case's slice label values: sanitised, length-limited, within the value and series budgets."""
        values = tuple(
            self.guard.admit(name, label_value(case.label(name), self.max_label_length))
            for name in self.label_names
        )
        return list(self.guard.admit_series(values))

    def _reason(self, scorer: str, reason: str) -> str:
        """A skip/error reason as a label: custom scorers choose it, so it gets the slice labels' guards."""
        value = label_value(reason or "unspecified", self.max_label_length)
        return self.guard.admit(f"{scorer}.reason", value)

    def record(self, case: EvalCase, score: Score) -> None:
        """Count one scorer outcome on one case."""
        if score.tokens:
            self.judge_tokens.inc(score.tokens)
        if score.outcome is Outcome.SCORED and score.value is not None:
            self.histogram(score.name).labels(*self.labels_for(case)).observe(score.value)
            self.scored.labels(score.name).inc()
        elif score.outcome is Outcome.SKIPPED:
            self.skipped.labels(score.name, self._reason(score.name, score.reason)).inc()
        else:
            self.errors.labels(score.name, self._reason(score.name, score.reason)).inc()


# Every `reason` label value the receiver uses, pre-created so each series exists from the start.
REFUSAL_REASONS = ("invalid", "too_large", "full", "unavailable", "shutting_down")
SIGNALS = ("traces", "logs")
AUTH_REFUSAL_REASONS = ("missing", "invalid")
REQUEST_DURATION_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


class ReceiverMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.received_spans = Counter(
            "evalstream_receiver_received_spans",
            "Spans in decoded export requests, before sampling.",
            registry=registry,
        )
        self.received_traces = Counter(
            "evalstream_receiver_received_traces",
            "Trace ids in decoded export requests, before sampling (counted once per request).",
            registry=registry,
        )
        self.received_log_records = Counter(
            "evalstream_receiver_received_log_records",
            "Log records in decoded export requests, before sampling.",
            registry=registry,
        )
        self.accepted_spans = Counter(
            "evalstream_receiver_accepted_spans",
            "Spans accepted: sampled out or durably handed to the transport.",
            registry=registry,
        )
        self.refused_spans = Counter(
            "evalstream_receiver_refused_spans",
            "Spans refused, per reason (invalid, too_large, full, unavailable, shutting_down).",
            ["reason"],
            registry=registry,
        )
        self.failed_spans = Counter(
            "evalstream_receiver_failed_spans",
            "Spans lost to an internal error of the receiver (a bug: INTERNAL).",
            registry=registry,
        )
        self.accepted_log_records = Counter(
            "evalstream_receiver_accepted_log_records",
            "Log records accepted: sampled out or durably handed to the transport.",
            registry=registry,
        )
        self.refused_log_records = Counter(
            "evalstream_receiver_refused_log_records",
            "Log records refused, per reason.",
            ["reason"],
            registry=registry,
        )
        self.failed_log_records = Counter(
            "evalstream_receiver_failed_log_records",
            "Log records lost to an internal error of the receiver.",
            registry=registry,
        )
        self.llm_calls = Counter(
            "evalstream_receiver_llm_calls",
            "LLM calls found in the spans of sampled traces.",
            registry=registry,
        )
        self.kept_traces = Counter(
            "evalstream_sampler_kept_traces",
            "Trace ids the sampler kept (counted once per request).",
            registry=registry,
        )
        self.kept_spans = Counter(
            "evalstream_sampler_kept_spans",
            "Spans of sampled-in traces handed to the transport.",
            registry=registry,
        )
        self.refused_requests = Counter(
            "evalstream_receiver_refused_requests",
            "Requests refused by bearer-token auth (UNAUTHENTICATED / 401), per reason (missing, invalid).",
            ["reason"],
            registry=registry,
        )
        self.requests = Counter(
            "evalstream_receiver_requests",
            "Export requests answered (gRPC and OTLP/HTTP), per signal and gRPC status code.",
            ["signal", "code"],
            registry=registry,
        )
        self.request_duration = Histogram(
            "evalstream_receiver_request_duration_seconds",
            "Time from request received to reply, including the wait for Kafka's ack.",
            ["signal"],
            buckets=REQUEST_DURATION_BUCKETS,
            registry=registry,
        )
        for reason in REFUSAL_REASONS:
            self.refused_spans.labels(reason)
            self.refused_log_records.labels(reason)
        for signal in SIGNALS:
            self.request_duration.labels(signal)
        for reason in AUTH_REFUSAL_REASONS:
            self.refused_requests.labels(reason)


SEND_ERROR_REASONS = ("unavailable", "timeout", "too_large", "full", "shutting_down")


class TransportMetrics:
    """evalstream_transport_* self-metrics, against the injected registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.sent_records = Counter(
            "evalstream_transport_sent_records",
            "Records acknowledged by Kafka (acks=all), per topic.",
            ["topic"],
            registry=registry,
        )
        self.send_errors = Counter(
            "evalstream_transport_send_errors",
            "send() calls that failed, per reason (unavailable, timeout, too_large, full, shutting_down).",
            ["reason"],
            registry=registry,
        )
        for reason in SEND_ERROR_REASONS:
            self.send_errors.labels(reason)
