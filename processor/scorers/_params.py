"""Read one scorer's `params` mapping: typed getters that record problems under the dotted key path."""

from __future__ import annotations

import builtins
import difflib
import math
from collections.abc import Mapping
from typing import Any

from processor.errors import ConfigError


class Params:
    """Typed access to `params`; every getter marks its key as known, `done()` reports the rest.

    Problems are collected, never raised one by one, so a user sees every mistake of a scorer at once.
    """

    def __init__(self, params: Mapping[builtins.str, Any] | None, path: builtins.str) -> None:
        self._raw = dict(params or {})
        self._path = path
        self._known: set[str] = set()
        self.problems: list[str] = []

    def key(self, name: builtins.str) -> str:
        return f"{self._path}.params.{name}"

    def problem(self, name: builtins.str, message: builtins.str) -> None:
        self.problems.append(f"{self.key(name)}: {message}")

    def has(self, name: builtins.str) -> bool:
        self._known.add(name)
        return name in self._raw and self._raw[name] is not None

    def raw(self, name: builtins.str) -> Any:
        self._known.add(name)
        return self._raw.get(name)

    def str(self, name: builtins.str, default: builtins.str = "", *, required: builtins.bool = False) -> str:
        value = self.raw(name)
        if value is None:
            if required:
                self.problem(name, "is required")
            return default
        if not isinstance(value, str):
            self.problem(name, f"expected a string, got {value!r}")
            return default
        if required and not value.strip():
            self.problem(name, "must not be empty")
        return value

    def bool(self, name: builtins.str, default: builtins.bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(name, f"expected true or false, got {value!r}")
            return default
        return value

    def float(
        self,
        name: builtins.str,
        default: builtins.float,
        *,
        low: builtins.float | None = None,
        high: builtins.float | None = None,
        low_open: builtins.bool = False,
    ) -> float:
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            self.problem(name, f"expected a number, got {value!r}")
            return default
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and value > high
        if too_low or too_high:
            self.problem(name, f"must be {_range(low, high, low_open)}, got {value!r}")
            return default
        return float(value)

    def int(
        self,
        name: builtins.str,
        default: builtins.int,
        *,
        low: builtins.int | None = None,
        high: builtins.int | None = None,
    ) -> int:
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(name, f"expected an integer, got {value!r}")
            return default
        if (low is not None and value < low) or (high is not None and value > high):
            self.problem(name, f"must be {_range(low, high, False)}, got {value!r}")
            return default
        return value

    def str_list(self, name: builtins.str) -> list[builtins.str]:
        value = self.raw(name)
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            self.problem(name, f"expected a list of strings, got {value!r}")
            return []
        return list(value)

    def check_unknown(self) -> None:
        for name in self._raw:
            if name in self._known:
                continue
            suggestion = difflib.get_close_matches(str(name), sorted(self._known), n=1)
            if suggestion:
                hint = f" (did you mean '{suggestion[0]}'?)"
            elif self._known:
                hint = f"; valid keys: {', '.join(sorted(self._known))}"
            else:
                hint = "; this scorer takes no params"
            self.problems.append(f"{self._path}.params: unknown key '{name}'{hint}")

    def done(self) -> None:
        """Raise ConfigError with every problem found, unknown keys included."""
        self.check_unknown()
        if self.problems:
            raise ConfigError(self.problems)


def _range(low: float | None, high: float | None, low_open: bool) -> str:
    if low is not None and high is not None:
        return f"between {low:g} and {high:g}"
    if low is not None:
        return f"greater than {low:g}" if low_open else f"at least {low:g}"
    return f"at most {high:g}"
