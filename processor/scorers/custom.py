"""Custom scorers: `function: pkg.mod:func` imported and checked at build time, wrapped as a Scorer.

The function takes the case (plus the spec's `params` as keyword arguments, if any) and returns a
`Score`, a float in [0, 1] or a bool:

    def brand_voice(case: EvalCase, *, banned: list[str] = ()) -> float: ...

A returned Score is renamed to the spec's name (the metric label); a float or bool becomes
`Score.scored(name, value, threshold=spec.threshold)`, a bool counting as 1.0 / 0.0 with 0.5 as its
threshold when none is configured. Any other return value is an ERROR with reason `bad_return`.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
from collections.abc import Callable
from typing import Any

from processor.errors import ConfigError
from processor.model import EvalCase, Outcome, Score


def import_function(target: str, key: str) -> Callable[..., Any]:
    """Resolve `module:attr.path` to a callable, or raise ConfigError naming `key`."""
    module_name, _, attr_path = target.partition(":")
    if not module_name or not attr_path:
        raise ConfigError([f"{key}: must be module:function, got {target!r}"])
    try:
        obj: Any = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:  # a module may fail to import in any way, sys.exit() too
        raise ConfigError(
            [f"{key}: cannot import module {module_name!r}: {type(exc).__name__}: {exc}"]
        ) from None
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError([f"{key}: module {module_name!r} has no attribute {attr_path!r}"]) from None
    if not callable(obj):
        raise ConfigError([f"{key}: {target!r} is not callable"])
    return obj  # type: ignore[no-any-return]


class CustomScorer:
    """A user function bound to its spec's name, threshold and params."""

    def __init__(
        self, name: str, *, threshold: float | None, function: Callable[..., Any], params: dict[str, Any]
    ) -> None:
        self.name = name
        self.threshold = threshold
        self._function = function
        self._params = dict(params)

    def __call__(self, case: EvalCase) -> Score:
        result = self._function(case, **self._params)
        if isinstance(result, Score):
            return self._adopt(result)
        if isinstance(result, bool):
            threshold = 0.5 if self.threshold is None else self.threshold
            return Score.scored(self.name, 1.0 if result else 0.0, threshold=threshold)
        if isinstance(result, (int, float)) and math.isfinite(result) and 0.0 <= result <= 1.0:
            return Score.scored(self.name, float(result), threshold=self.threshold)
        if isinstance(result, (int, float)):
            return Score.errored(self.name, "bad_return", "returned a number outside 0-1")
        return Score.errored(
            self.name, "bad_return", f"returned {type(result).__name__}, not Score/float/bool"
        )

    def _adopt(self, score: Score) -> Score:
        if score.outcome is Outcome.SCORED and score.threshold is None and self.threshold is not None:
            assert score.value is not None
            return Score.scored(
                self.name,
                score.value,
                threshold=self.threshold,
                explanation=score.explanation,
                tokens=score.tokens,
            )
        return score if score.name == self.name else dataclasses.replace(score, name=self.name)


def build_custom(
    name: str, target: str, *, threshold: float | None, params: dict[str, Any], path: str
) -> CustomScorer:
    """Import `target` and check it accepts (case, **params); raise ConfigError naming the key."""
    function = import_function(target, f"{path}.function")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        signature = None  # some builtins have no signature: trust them
    if signature is not None:
        try:
            signature.bind(EvalCase(input="", output=""), **params)
        except TypeError as exc:
            where = f"{path}.params" if params else f"{path}.function"
            raise ConfigError(
                [f"{where}: {target!r} cannot be called as f(case{', **params' if params else ''}): {exc}"]
            ) from None
    return CustomScorer(name, threshold=threshold, function=function, params=params)
