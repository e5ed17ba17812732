from __future__ import annotations

from processor.metrics.config import MetricsConfig


def test_series_and_label_length_budgets_are_validated_with_their_keys() -> None:
    assert MetricsConfig().validate("metrics") == []
    assert MetricsConfig(max_series=0, max_label_length=4).validate("metrics") == [
        "metrics.max_series: must be at least 1, got 0",
        "metrics.max_label_length: must be at least 8, got 4",
    ]
