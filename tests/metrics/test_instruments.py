from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from processor.metrics import SCORE_BUCKETS, WorkerMetrics, score_metric_name
from processor.model import EvalCase, Score

LABELS = ("service", "model", "prompt_version", "tenant", "locale")


def _metrics(registry: CollectorRegistry, max_values: int = 50) -> WorkerMetrics:
    return WorkerMetrics(registry, prefix="app_eval", label_names=LABELS, max_label_values=max_values)


def _case(**labels: str) -> EvalCase:
    return EvalCase(input="q", output="a", labels=labels)


def test_score_lands_in_histogram_with_slice_labels_and_unknown_for_missing() -> None:
    registry = CollectorRegistry()
    metrics = _metrics(registry)
    metrics.record(_case(service="bot", model="m1", locale="de-DE"), Score.scored("relevance", 0.35))
    labels = {
        "service": "bot",
        "model": "m1",
        "prompt_version": "unknown",
        "tenant": "unknown",
        "locale": "de-DE",
    }
    assert registry.get_sample_value("app_eval_relevance_count", labels) == 1
    assert registry.get_sample_value("app_eval_relevance_sum", labels) == 0.35
    assert registry.get_sample_value("app_eval_relevance_bucket", {**labels, "le": "0.3"}) == 0
    assert registry.get_sample_value("app_eval_relevance_bucket", {**labels, "le": "0.4"}) == 1
    assert registry.get_sample_value("evalstream_worker_scored_cases_total", {"scorer": "relevance"}) == 1


def test_skips_and_errors_are_counted_not_observed() -> None:
    registry = CollectorRegistry()
    metrics = _metrics(registry)
    metrics.prepare(["judge"])
    metrics.record(_case(), Score.skipped("judge", "budget"))
    metrics.record(_case(), Score.errored("judge", "timeout", tokens=12))
    assert (
        registry.get_sample_value(
            "evalstream_worker_skipped_cases_total", {"scorer": "judge", "reason": "budget"}
        )
        == 1
    )
    assert (
        registry.get_sample_value(
            "evalstream_worker_scorer_errors_total", {"scorer": "judge", "reason": "timeout"}
        )
        == 1
    )
    assert registry.get_sample_value("evalstream_judge_tokens_total", {"locale": "unknown"}) == 12
    assert b"app_eval_judge_count{" not in generate_latest(registry)  # declared, but nothing observed


def test_judge_spend_is_per_tier_slice_and_the_inclusion_gauge_forgets_gone_slices() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(
        registry, prefix="app_eval", label_names=LABELS, max_label_values=50, tier_label="tenant"
    )
    metrics.record(_case(tenant="acme", locale="de-DE"), Score.scored("judge", 0.8, tokens=30))
    metrics.record(_case(tenant="acme", locale="fr-FR"), Score.scored("judge", 0.6, tokens=20))
    metrics.record(_case(tenant="globex"), Score.skipped("judge", "tier"))
    assert registry.get_sample_value("evalstream_judge_tokens_total", {"tenant": "acme"}) == 50
    assert registry.get_sample_value("evalstream_judge_tokens_total", {"tenant": "globex"}) is None
    metrics.set_inclusion({"acme": 0.25, "globex": 1.0})
    assert registry.get_sample_value("evalstream_tier_inclusion_ratio", {"tenant": "acme"}) == 0.25
    metrics.set_inclusion({"globex": 0.5})
    assert registry.get_sample_value("evalstream_tier_inclusion_ratio", {"tenant": "acme"}) is None
    assert registry.get_sample_value("evalstream_tier_inclusion_ratio", {"tenant": "globex"}) == 0.5


def test_cardinality_guard_folds_excess_values_and_counts_them() -> None:
    registry = CollectorRegistry()
    metrics = _metrics(registry, max_values=2)
    for tenant in ("a", "b", "c", "d"):
        metrics.record(_case(tenant=tenant), Score.scored("relevance", 0.9))
    text = generate_latest(registry).decode()
    assert 'tenant="__other__"' in text
    assert registry.get_sample_value("evalstream_metrics_label_overflow_total", {"label": "tenant"}) == 2


def test_names_and_buckets() -> None:
    assert score_metric_name("app_eval", "context-relevance") == "app_eval_context_relevance"
    assert SCORE_BUCKETS[0] == 0.1 and SCORE_BUCKETS[-1] == 1.0
