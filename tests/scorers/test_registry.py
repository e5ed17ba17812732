"""The public API: build_scorer(s), run_scorers, BUILTIN, custom scorers, config errors by file."""

from __future__ import annotations

import pathlib
import sys

import pytest
import yaml

import processor.scorers as scorers_pkg
from processor.config import decode
from processor.errors import ConfigError
from processor.model import EvalCase, Outcome, Score
from processor.scorers import BUILTIN, Scorer, build_scorer, build_scorers, run_scorers
from processor.scorers.config import ScorersConfig, ScorerSpec

TESTDATA = pathlib.Path(__file__).parent / "testdata"
FIXTURES = "tests.scorers.custom_fixtures"
CASE = EvalCase(
    input="What is the refund window for annual plans?",
    output="Annual plans can be refunded within 30 days of purchase, per refund policy v3.",
    expected="30 days",
    context=("Refund policy v3: annual plans are refundable within 30 days of purchase.",),
)


def test_public_names():
    assert set(scorers_pkg.__all__) >= {
        "BUILTIN",
        "Scorer",
        "build_scorer",
        "build_scorers",
        "run_scorers",
        "ChatClient",
    }
    for name in scorers_pkg.__all__:
        assert hasattr(scorers_pkg, name)


def test_builtin_registry_names():
    assert set(BUILTIN) == {
        "relevance",
        "context_relevance",
        "groundedness",
        "semantic_relevance",
        "language_match",
        "judge",
        "contains",
        "exact",
        "regex",
        "json_valid",
        "json_schema",
    }


def test_default_config_builds_and_scores_the_fixture_case():
    scorers = build_scorers(ScorersConfig().enabled)
    scores = run_scorers(scorers, CASE)
    assert [s.name for s in scores] == ["relevance", "context_relevance", "groundedness", "language_match"]
    assert all(s.outcome is Outcome.SCORED and s.passed for s in scores)


def test_every_builtin_without_required_params_satisfies_the_protocol():
    for name in ["relevance", "context_relevance", "groundedness", "contains", "exact", "json_valid"]:
        scorer: Scorer = build_scorer(ScorerSpec(name=name))
        assert scorer.name == name
        assert isinstance(scorer.threshold, float)
        assert isinstance(scorer(CASE), Score)


def test_spec_name_is_the_score_name_and_threshold_applies():
    scorer = build_scorer(ScorerSpec(name="relevance", threshold=0.99))
    score = scorer(CASE)
    assert score.threshold == 0.99
    assert score.passed is (score.value >= 0.99)


# run_scorers --------------------------------------------------------------------------------------------


class Exploding:
    name = "exploding"
    threshold = None

    def __call__(self, case: EvalCase) -> Score:
        raise ValueError("bug in scorer")


class ReturnsNone:
    name = "returns_none"
    threshold = None

    def __call__(self, case: EvalCase) -> Score:
        return None  # type: ignore[return-value]


def test_an_exception_inside_a_scorer_becomes_an_error_score_and_others_still_run():
    scorers = [Exploding(), build_scorer(ScorerSpec(name="contains")), ReturnsNone()]
    scores = run_scorers(scorers, CASE)
    assert [s.name for s in scores] == ["exploding", "contains", "returns_none"]
    assert (scores[0].outcome, scores[0].reason) == (Outcome.ERROR, "exception")
    assert "bug in scorer" in scores[0].explanation
    assert scores[1].outcome is Outcome.SCORED and scores[1].passed is True
    assert (scores[2].outcome, scores[2].reason) == (Outcome.ERROR, "bad_return")


def test_case_without_content_is_skipped_by_every_scorer_never_scored_as_empty():
    called = []

    class Spy:
        name = "spy"
        threshold = None

        def __call__(self, case: EvalCase) -> Score:
            called.append(case)
            return Score.scored("spy", 0.0)

    metadata_only = EvalCase(input="", output="", has_content=False)
    scorers = [*build_scorers(ScorersConfig().enabled), Spy()]
    scores = run_scorers(scorers, metadata_only)
    assert [(s.outcome, s.reason) for s in scores] == [(Outcome.SKIPPED, "no_content")] * len(scorers)
    assert called == []


def test_run_scorers_with_no_scorers():
    assert run_scorers([], CASE) == []


# build errors ---------------------------------------------------------------------------------------------


def test_unknown_name_suggests_and_names_the_key():
    with pytest.raises(ConfigError) as err:
        build_scorer(ScorerSpec(name="relevence"), path="scorers.enabled[4]")
    (problem,) = err.value.problems
    assert problem.startswith(
        "scorers.enabled[4].name: unknown scorer 'relevence' (did you mean 'relevance'?)"
    )


def test_build_scorers_collects_every_problem_at_once():
    specs = [
        ScorerSpec(name="relevance"),
        ScorerSpec(name="regex", params={"pattern": "("}),
        ScorerSpec(name="nope"),
        ScorerSpec(name="exact", params={"strp": True}),
    ]
    with pytest.raises(ConfigError) as err:
        build_scorers(specs)
    problems = err.value.problems
    assert problems[0].startswith("scorers.enabled[1].params.pattern: invalid regular expression")
    assert problems[1].startswith("scorers.enabled[2].name: unknown scorer 'nope'")
    assert problems[2] == "scorers.enabled[3].params: unknown key 'strp' (did you mean 'strip'?)"
    assert len(problems) == 3


def test_repeated_scorer_names_are_refused_by_the_config():
    problems: list[str] = []
    decode(ScorersConfig, {"enabled": [{"name": "relevance"}, {"name": "relevance"}]}, "scorers", problems)
    assert problems == ["scorers.enabled: scorer names must be unique, repeated: relevance"]


def test_params_on_a_scorer_without_params():
    with pytest.raises(ConfigError) as err:
        build_scorer(ScorerSpec(name="relevance", params={"threshold": 0.5}))
    assert err.value.problems[0].startswith("scorers.enabled[0].params: unknown key 'threshold'")


@pytest.mark.parametrize("file", sorted(TESTDATA.glob("*.yaml")), ids=lambda p: p.stem)
def test_bad_config_files(file, monkeypatch):
    """One YAML per broken config; its first line says the message start-up must print."""
    monkeypatch.delenv("EVALSTREAM_TEST_UNSET_KEY", raising=False)
    text = file.read_text(encoding="utf-8")
    expected = text.splitlines()[0].removeprefix("# expect: ")
    problems: list[str] = []
    section = decode(ScorersConfig, yaml.safe_load(text)["scorers"], "scorers", problems)
    if not problems:
        with pytest.raises(ConfigError) as err:
            build_scorers(section.enabled)
        problems = err.value.problems
    assert any(p.startswith(expected) for p in problems), problems


# custom scorers ----------------------------------------------------------------------------------------


def custom(function: str, **kwargs) -> Scorer:
    return build_scorer(ScorerSpec(name="brand_voice", function=f"{FIXTURES}:{function}", **kwargs))


def test_custom_bool_is_wrapped_with_name_and_default_half_threshold():
    score = custom("mentions_policy")(CASE)
    assert (score.name, score.value, score.threshold, score.passed) == ("brand_voice", 1.0, 0.5, True)
    assert custom("mentions_policy")(EvalCase(input="q", output="no")).passed is False


def test_custom_float_uses_spec_threshold_and_params():
    scorer = custom("length_ratio", threshold=0.5, params={"limit": 1000})
    score = scorer(CASE)
    assert score.value == pytest.approx(len(CASE.output) / 1000)
    assert score.passed is False
    assert custom("length_ratio")(CASE).passed is None  # no threshold configured: no verdict


def test_custom_score_is_renamed_and_gets_the_spec_threshold():
    score = custom("full_score", threshold=0.95)(CASE)
    assert (score.name, score.value, score.passed, score.explanation) == ("brand_voice", 0.9, False, "custom")


def test_custom_nested_attribute():
    assert custom("Scorers.nested")(CASE).value == 0.25


@pytest.mark.parametrize(
    ("function", "reason"), [("out_of_range", "bad_return"), ("wrong_type", "bad_return")]
)
def test_custom_bad_return_is_an_error(function, reason):
    score = custom(function)(CASE)
    assert (score.outcome, score.reason) == (Outcome.ERROR, reason)


def test_custom_exception_is_caught_by_run_scorers():
    (score,) = run_scorers([custom("boom")], CASE)
    assert (score.outcome, score.reason, score.name) == (Outcome.ERROR, "exception", "brand_voice")


@pytest.mark.parametrize(
    ("function", "kwargs", "message"),
    [
        (
            "tests.scorers.broken_import:anything",
            {},
            "scorers.enabled[0].function: cannot import module 'tests.scorers.broken_import': "
            "ModuleNotFoundError",
        ),
        (
            f"{FIXTURES}:missing",
            {},
            f"scorers.enabled[0].function: module '{FIXTURES}' has no attribute 'missing'",
        ),
        (
            f"{FIXTURES}:NOT_CALLABLE",
            {},
            "scorers.enabled[0].function: 'tests.scorers.custom_fixtures:NOT_CALLABLE' is not callable",
        ),
        (
            f"{FIXTURES}:takes_nothing",
            {},
            f"scorers.enabled[0].function: '{FIXTURES}:takes_nothing' cannot be called as f(case)",
        ),
        (
            f"{FIXTURES}:length_ratio",
            {"params": {"limt": 5}},
            "scorers.enabled[0].params: 'tests.scorers.custom_fixtures:length_ratio' cannot be called",
        ),
        ("no_colon_here", {}, "scorers.enabled[0].function: must be module:function, got 'no_colon_here'"),
    ],
)
def test_custom_import_and_signature_problems_fail_at_build(function, kwargs, message):
    with pytest.raises(ConfigError) as err:
        build_scorer(ScorerSpec(name="brand_voice", function=function, **kwargs))
    assert any(p.startswith(message) for p in err.value.problems), err.value.problems


def test_custom_module_is_imported_at_build_time_not_first_use():
    sys.modules.pop("tests.scorers.custom_fixtures", None)
    custom("mentions_policy")
    assert "tests.scorers.custom_fixtures" in sys.modules


# builtin: one built-in under several names ---------------------------------------------------------------


def test_builtin_lets_two_scorers_share_one_kind():
    specs = [
        ScorerSpec(name="ticket_ref", builtin="regex", params={"pattern": r"REF-\d{5}"}),
        ScorerSpec(name="no_email", builtin="regex", params={"pattern": r"^[^@]*$"}),
    ]
    scorers = build_scorers(specs)
    scores = run_scorers(scorers, EvalCase(input="q", output="Ticket REF-12345, mail me at a@b.c"))
    assert [(s.name, s.value) for s in scores] == [("ticket_ref", 1.0), ("no_email", 0.0)]


def test_unknown_builtin_names_the_builtin_key():
    with pytest.raises(ConfigError) as err:
        build_scorer(ScorerSpec(name="ticket_ref", builtin="regx"))
    assert err.value.problems == ["scorers.enabled[0].builtin: unknown scorer 'regx' (did you mean 'regex'?)"]


def test_builtin_and_function_together_is_rejected():
    # the decoded config refuses it; build_scorer trusts what the decoder let through
    problems: list[str] = []
    decode(
        ScorersConfig,
        {"enabled": [{"name": "x", "builtin": "regex", "function": "m:f"}]},
        "scorers",
        problems,
    )
    assert problems == ["scorers.enabled[0]: set either builtin or function, not both"]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("high", "score value is str, not a number"),
        (float("nan"), "score value nan is outside [0, 1]"),
        (1.5, "score value 1.5 is outside [0, 1]"),
        (-0.1, "score value -0.1 is outside [0, 1]"),
    ],
)
def test_a_scored_value_outside_0_1_is_a_bad_return_never_clamped(value: object, why: str) -> None:
    class Wrong:
        name = "wrong"
        threshold = 0.5

        def __call__(self, case: EvalCase) -> Score:
            if isinstance(value, str):
                return Score("wrong", Outcome.SCORED, value)  # type: ignore[arg-type]
            return Score.scored("wrong", value, threshold=0.5)  # type: ignore[arg-type]

    (score,) = run_scorers([Wrong()], EvalCase(input="q", output="a"))
    assert score.outcome is Outcome.ERROR
    assert (score.reason, score.explanation) == ("bad_return", why)


def test_a_lone_surrogate_in_a_scorers_own_text_is_replaced_not_recorded() -> None:
    class Chatty:
        name = "chatty"
        threshold = None

        def __call__(self, case: EvalCase) -> Score:
            return Score.skipped("chatty", "odd\udc80", explanation="see \ud83d")

    (score,) = run_scorers([Chatty()], EvalCase(input="q", output="a"))
    assert (score.reason, score.explanation) == ("odd\ufffd", "see \ufffd")
