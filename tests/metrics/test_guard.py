from __future__ import annotations

import pytest

from processor.metrics.guard import OVERFLOW, CardinalityGuard


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


def test_rejects_empty_budget() -> None:
    with pytest.raises(ValueError, match="max_values"):
        CardinalityGuard(0)
