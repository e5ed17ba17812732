"""Custom scorer functions imported by module:function in test_registry (as a user's package would be)."""

from __future__ import annotations

from processor.model import EvalCase, Score


def mentions_policy(case: EvalCase) -> bool:
    return "policy" in case.output.casefold()


def length_ratio(case: EvalCase, *, limit: int = 100) -> float:
    return min(1.0, len(case.output) / limit)


def full_score(case: EvalCase) -> Score:
    return Score.scored("whatever_name", 0.9, explanation="custom")


def out_of_range(case: EvalCase) -> float:
    return 3.0


def wrong_type(case: EvalCase) -> str:
    return "great"


def boom(case: EvalCase) -> float:
    raise RuntimeError("custom scorer bug")


def takes_nothing() -> float:
    return 1.0


NOT_CALLABLE = 42


class Scorers:
    @staticmethod
    def nested(case: EvalCase) -> float:
        return 0.25
