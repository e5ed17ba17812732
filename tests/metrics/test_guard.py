from __future__ import annotations

import pytest

from processor.config import parse
from processor.errors import ConfigError
from processor.metrics.guard import OVERFLOW, SERIES, CardinalityGuard


def test_admits_up_to_budget_per_label_then_overflows() -> None:
    overflowed: list[str] = []
    guard = CardinalityGuard(2, on_overflow=overflowed.append)
    assert [guard.admit("tenant", v) for v in ("a", "b", "a", "c", "b", "d")] == [
        "a",
        "b",
        "a",
        OVERFLOW,
        "b",
        OVERFLOW,
    ]
    assert guard.admit("locale", "c") == "c"  # budgets are per label
    assert overflowed == ["tenant", "tenant"]


def test_empty_budgets_are_refused_by_the_config() -> None:
    # the guard trusts its decoded config: the one check is the config's, at start-up
    with pytest.raises(ConfigError) as err:
        parse({"metrics": {"max_label_values": 0, "max_series": 0}})
    assert err.value.problems == [
        "metrics.max_label_values: must be at least 1, got 0",
        "metrics.max_series: must be at least 1, got 0",
    ]


def test_admits_up_to_max_series_combinations_then_all_other() -> None:
    overflowed: list[str] = []
    guard = CardinalityGuard(50, max_series=2, on_overflow=overflowed.append)
    assert guard.admit_series(("a", "x")) == ("a", "x")
    assert guard.admit_series(("b", "y")) == ("b", "y")
    assert guard.admit_series(("a", "y")) == (OVERFLOW, OVERFLOW)  # each value known, the pair is new
    assert guard.admit_series(("a", "x")) == ("a", "x")
    assert overflowed == [SERIES]
