"""Cardinality guard: each slice label admits at most N distinct values; later ones become `__other__`.

A tenant id or a free-form locale header must not be able to blow up the time-series database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

OVERFLOW = "__other__"


class CardinalityGuard:
    """Admits the first `max_values` distinct values per label, in arrival order, for the process lifetime."""

    def __init__(self, max_values: int, *, on_overflow: Callable[[str], None] | None = None) -> None:
        if max_values < 1:
            raise ValueError(f"max_values must be at least 1, got {max_values}")
        self.max_values = max_values
        self._seen: dict[str, set[str]] = {}
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
