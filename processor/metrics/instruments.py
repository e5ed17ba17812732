"""Every metric evalstream exports: name, help, labels, buckets, declared against an injected registry.

Scores are `<prefix>_<scorer>` histograms (default prefix `app_eval`) with the slice labels; everything
about evalstream itself is `evalstream_<part>_<what>[_<unit>]`, assembled by `Instruments` alone
(a counter's `_total` is the one prometheus_client appends).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from processor.extract.config import SlicesConfig
from processor.metrics.config import MetricsConfig
from processor.metrics.guard import CardinalityGuard
from processor.model import EvalCase, Outcome, Score
from processor.sanitize import label_value

#: Scores live in [0, 1]; the client's default buckets are latency-shaped (5 ms .. 10 s).
SCORE_BUCKETS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

_INVALID_METRIC_CHARS = re.compile(r"[^a-zA-Z0-9_]")


NAMESPACE = "evalstream"


class Instruments:
    """Declares one part's metrics as `evalstream_<part>_<name>[_<unit>]` in `registry`.

    Names are given without `_total`: prometheus_client appends it to every counter it exposes.
    """

    def __init__(self, registry: CollectorRegistry, part: str) -> None:
        self._registry = registry
        self._part = part

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        return Counter(
            name, documentation, labels, namespace=NAMESPACE, subsystem=self._part, registry=self._registry
        )

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = (), *, unit: str = "") -> Gauge:
        return Gauge(
            name,
            documentation,
            labels,
            namespace=NAMESPACE,
            subsystem=self._part,
            unit=unit,
            registry=self._registry,
        )

    def histogram(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str] = (),
        *,
        unit: str = "",
        buckets: Sequence[float],
    ) -> Histogram:
        return Histogram(
            name,
            documentation,
            labels,
            namespace=NAMESPACE,
            subsystem=self._part,
            unit=unit,
            buckets=buckets,
            registry=self._registry,
        )


def counter_sample(part: str, name: str) -> str:
    """The exposed sample name of counter `name` of `part`, as `registry.get_sample_value` wants it."""
    return f"{NAMESPACE}_{part}_{name}_total"


def score_metric_name(prefix: str, scorer: str) -> str:
    """`app_eval` + `context-relevance` -> `app_eval_context_relevance`."""
    return f"{prefix}_{_INVALID_METRIC_CHARS.sub('_', scorer)}"


class WorkerMetrics:
    """The worker's instruments: score histograms per scorer plus the outcome counters."""

    @classmethod
    def configured(
        cls,
        registry: CollectorRegistry,
        metrics: MetricsConfig,
        slices: SlicesConfig,
        *,
        tier_label: str = "locale",
    ) -> WorkerMetrics:
        """The instruments as the `metrics` and `slices` sections say (prefix, labels, budgets), with
        the expensive tier's slices by `tier_label` (`worker.tiers.slice_label`)."""
        return cls(
            registry,
            prefix=metrics.prefix,
            label_names=slices.names,
            max_label_values=metrics.max_label_values,
            max_series=metrics.max_series,
            max_label_length=metrics.max_label_length,
            tier_label=tier_label,
        )

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        prefix: str,
        label_names: Sequence[str],
        max_label_values: int,
        max_series: int | None = None,
        max_label_length: int = 64,
        tier_label: str = "locale",
    ) -> None:
        self.registry = registry
        self.tier_label = tier_label
        self.prefix = prefix
        self.label_names = tuple(label_names)
        self.max_label_length = max_label_length
        self._histograms: dict[str, Histogram] = {}
        self._lock = threading.Lock()
        worker = Instruments(registry, "worker")
        self.label_overflow = Instruments(registry, "metrics").counter(
            "label_overflow",
            "Slice label values replaced by __other__ because the label hit its value budget "
            "(label=__series__: the label combination hit metrics.max_series).",
            ["label"],
        )
        self.guard = CardinalityGuard(
            max_label_values,
            max_series=max_series,
            on_overflow=lambda label: self.label_overflow.labels(label).inc(),
        )
        self.cases = worker.counter("cases", "LLM calls assembled from the stream and handed to the scorers.")
        self.scored = worker.counter("scored_cases", "Cases scored, per scorer.", ["scorer"])
        self.skipped = worker.counter(
            "skipped_cases",
            "Cases a scorer skipped on purpose (no_content, no_context, budget...), per scorer and reason.",
            ["scorer", "reason"],
        )
        self.errors = worker.counter(
            "scorer_errors",
            "Scorer failures (judge timeout, bad response...): not low scores. Per scorer and reason.",
            ["scorer", "reason"],
        )
        self.score_duration = worker.histogram(
            "score_duration",
            "Time one scorer took on one case.",
            ["scorer"],
            buckets=(0.001, 0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30),
            unit="seconds",
        )
        self.dead_letters = worker.counter(
            "dead_letter_records",
            "Records that could not be decoded or processed and went to the dead-letter topic, per reason.",
            ["reason"],
        )
        self.poison_traces = worker.counter(
            "poison_traces",
            "Traces that made a step raise (reason = the step: extract_failed, score_failed, result_failed, "
            "labels_failed...): dead-lettered, committed past, the loop went on.",
            ["reason"],
        )
        self.values_cut = worker.counter(
            "values_cut",
            "Span or log attribute strings longer than worker.max_attribute_chars, cut there (a cut JSON "
            "content attribute yields no content: its case is skipped no_content).",
        )
        self.late_records = worker.counter(
            "late_records",
            "Records that arrived after their trace was already scored (outside the assembly window).",
        )
        self.lag = worker.gauge(
            "consumer_lag",
            "Records not yet consumed, per topic and partition.",
            ["topic", "partition"],
            unit="records",
        )
        self.assigned_partitions = worker.gauge(
            "assigned_partitions", "Topic partitions this consumer-group member currently owns."
        )
        self.judge_tokens = Instruments(registry, "judge").counter(
            "tokens",
            f"Tokens the LLM judge spent (prompt + completion), per {tier_label} (worker.tiers.slice_label).",
            [tier_label],
        )
        self.inclusion = Instruments(registry, "tier").gauge(
            "inclusion",
            f"Share of a {tier_label}'s cases the expensive scorers (the judge) run on, on this replica now: "
            "divide a slice's expensive-tier scores by it to weight slices by their traffic.",
            [tier_label],
            unit="ratio",
        )
        self._inclusion_values: set[str] = set()
        self.results_published = worker.counter("published_results", "Scores produced to the results topic.")
        self.stamp_errors = worker.counter(
            "stamp_errors", "Batches of gen_ai.evaluation.result events the OTLP endpoint did not accept."
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

    def tier_value(self, case: EvalCase) -> str:
        """The case's expensive-tier slice: its `tier_label` value as the score histograms carry it."""
        value = label_value(case.label(self.tier_label), self.max_label_length)
        return self.guard.admit(self.tier_label, value)

    def set_inclusion(self, rates: Mapping[str, float]) -> None:
        """Each slice's inclusion rate now; a slice the quota forgot loses its series."""
        with self._lock:
            for gone in self._inclusion_values - set(rates):
                self.inclusion.remove(gone)
            for value, rate in rates.items():
                self.inclusion.labels(value).set(rate)
            self._inclusion_values = set(rates)

    def _reason(self, scorer: str, reason: str) -> str:
        """A skip/error reason as a label: custom scorers choose it, so it gets the slice labels' guards."""
        value = label_value(reason or "unspecified", self.max_label_length)
        return self.guard.admit(f"{scorer}.reason", value)

    def record(self, case: EvalCase, score: Score) -> None:
        """Count one scorer outcome on one case."""
        if score.tokens:
            self.judge_tokens.labels(self.tier_value(case)).inc(score.tokens)
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
        receiver, sampler = Instruments(registry, "receiver"), Instruments(registry, "sampler")
        self.received_spans = receiver.counter(
            "received_spans", "Spans in decoded export requests, before sampling."
        )
        self.received_traces = receiver.counter(
            "received_traces",
            "Trace ids in decoded export requests, before sampling (counted once per request).",
        )
        self.received_log_records = receiver.counter(
            "received_log_records", "Log records in decoded export requests, before sampling."
        )
        self.accepted_spans = receiver.counter(
            "accepted_spans", "Spans accepted: sampled out or durably handed to the transport."
        )
        self.refused_spans = receiver.counter(
            "refused_spans",
            "Spans refused, per reason (invalid, too_large, full, unavailable, shutting_down).",
            ["reason"],
        )
        self.failed_spans = receiver.counter(
            "failed_spans", "Spans lost to an internal error of the receiver (a bug: INTERNAL)."
        )
        self.accepted_log_records = receiver.counter(
            "accepted_log_records", "Log records accepted: sampled out or durably handed to the transport."
        )
        self.refused_log_records = receiver.counter(
            "refused_log_records", "Log records refused, per reason.", ["reason"]
        )
        self.failed_log_records = receiver.counter(
            "failed_log_records", "Log records lost to an internal error of the receiver."
        )
        self.llm_calls = receiver.counter("llm_calls", "LLM calls found in the spans of sampled traces.")
        self.kept_traces = sampler.counter(
            "kept_traces", "Trace ids the sampler kept (counted once per request)."
        )
        self.kept_spans = sampler.counter("kept_spans", "Spans of sampled-in traces handed to the transport.")
        self.refused_requests = receiver.counter(
            "refused_requests",
            "Requests refused by bearer-token auth (UNAUTHENTICATED / 401), per reason (missing, invalid).",
            ["reason"],
        )
        self.requests = receiver.counter(
            "requests",
            "Export requests answered (gRPC and OTLP/HTTP), per signal and gRPC status code.",
            ["signal", "code"],
        )
        self.request_duration = receiver.histogram(
            "request_duration",
            "Time from request received to reply, including the wait for Kafka's ack.",
            ["signal"],
            buckets=REQUEST_DURATION_BUCKETS,
            unit="seconds",
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
        transport = Instruments(registry, "transport")
        self.sent_records = transport.counter(
            "sent_records", "Records acknowledged by Kafka (acks=all), per topic.", ["topic"]
        )
        self.send_errors = transport.counter(
            "send_errors",
            "send() calls that failed, per reason (unavailable, timeout, too_large, full, shutting_down).",
            ["reason"],
        )
        for reason in SEND_ERROR_REASONS:
            self.send_errors.labels(reason)


class OfflineMetrics:
    """The offline runner's gauges (`--prom`: a node_exporter textfile), in a registry of their own."""

    def __init__(self, registry: CollectorRegistry) -> None:
        offline = Instruments(registry, "offline")
        self.pass_ratio = offline.gauge("pass_ratio", "Offline golden-set pass rate (passed / scored)")
        self.cases = offline.gauge("cases", "Golden cases by status", ["status"])
