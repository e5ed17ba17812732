"""Cardinality guard: each slice label admits at most N distinct values, and the label set as a whole at
most M distinct combinations (series); anything beyond becomes `__other__`.

A tenant id or a free-form locale header must not be able to blow up the time-series database. A cap per
label alone is not enough: 50 tenants x 50 locales x 4 prompt versions is 10,000 series, each a dozen
histogram lines. With the series cap, a score histogram has at most M + 1 series whatever arrives.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

OVERFLOW = "__other__"
SERIES = "__series__"  # the overflow counter's label value when the series cap, not a label's, was hit


class CardinalityGuard:
    """Admits the first `max_values` distinct values per label, in arrival order, for the process lifetime."""

    def __init__(
        self,
        max_values: int,
        *,
        max_series: int | None = None,
        on_overflow: Callable[[str], None] | None = None,
    ) -> None:
        # both budgets are at least 1: metrics.max_label_values / max_series are validated with the config
        self.max_values = max_values
        self.max_series = max_series
        self._seen: dict[str, set[str]] = {}
        self._series: set[tuple[str, ...]] = set()
        self._lock = threading.Lock()
        self._on_overflow = on_overflow

    def admit(self, label: str, value: str) -> str:
        with self._lock:
            seen = self._seen.setdefault(label, set())
            if value in seen:
                return value
            if len(seen) < self.max_values:
                seen.add(value)
                return value
        if self._on_overflow is not None:
            self._on_overflow(label)
        return OVERFLOW

    def admit_series(self, values: tuple[str, ...]) -> tuple[str, ...]:
        """The combination itself while fewer than `max_series` are admitted, else all `__other__`.

        Overflow is reported under the label name `__series__`.
        """
        if self.max_series is None:
            return values
        with self._lock:
            if values in self._series:
                return values
            if len(self._series) < self.max_series:
                self._series.add(values)
                return values
        if self._on_overflow is not None:
            self._on_overflow(SERIES)
        return tuple(OVERFLOW for _ in values)
