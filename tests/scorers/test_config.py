"""ScorerSpec.tier: the judge is expensive unless told otherwise; any scorer may opt in."""

from __future__ import annotations

from processor.config import parse
from processor.errors import ConfigError
from processor.scorers.config import ScorerSpec


def test_the_judge_is_expensive_by_default_and_any_scorer_may_opt_in_or_out() -> None:
    assert ScorerSpec(name="judge").expensive
    assert ScorerSpec(name="strict", builtin="judge").expensive
    assert not ScorerSpec(name="judge", tier="cheap").expensive
    assert not ScorerSpec(name="relevance").expensive
    assert ScorerSpec(name="brand_voice", function="mod:f", tier="expensive").expensive
    assert not ScorerSpec(name="judge", function="mod:f").expensive  # a custom function named judge


def test_an_unknown_tier_is_a_start_up_error() -> None:
    try:
        parse({"scorers": {"enabled": [{"name": "relevance", "tier": "premium"}]}})
    except ConfigError as exc:
        assert "scorers.enabled[0].tier: must be one of cheap, expensive, got 'premium'" in exc.problems
    else:
        raise AssertionError("tier: premium was accepted")
