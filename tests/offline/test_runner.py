"""processor.offline.runner: per-case overrides, --repeat, statuses, and the gate's decisions."""

from __future__ import annotations

import itertools
import pathlib
import sys
import threading
import types

import pytest

from processor.model import EvalCase, Outcome, Score
from processor.offline.golden import GoldenCase, InputError, ScorerOverride
from processor.offline.outputs import Produced
from processor.offline.runner import Gate, Runner, ScoreResult, Tally, _combine, summarize
from processor.scorers.config import ScorerSpec

CONTAINS = ScorerSpec(name="contains", threshold=1.0)


def golden(text: str = "What is 2+2?", expected: str | None = "4", *overrides: ScorerOverride, **labels: str):
    case = EvalCase(input=text, output="", expected=expected, labels=labels, id=text, source="g.jsonl:1")
    return GoldenCase(case, {}, tuple(overrides))


@pytest.fixture
def counting_module() -> types.ModuleType:
    """A custom-scorer module on sys.modules: `count` records calls, `steps` returns 0.2, 0.5, 0.8, ..."""
    module = types.ModuleType("offline_test_scorers")
    module.calls = 0  # type: ignore[attr-defined]
    values = itertools.cycle([0.2, 0.5, 0.8])
    lock = threading.Lock()

    def count(case: EvalCase) -> float:
        with lock:
            module.calls += 1  # type: ignore[attr-defined]
        return 1.0

    def steps(case: EvalCase) -> float:
        with lock:
            return next(values)

    module.count, module.steps = count, steps  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    yield module
    del sys.modules[module.__name__]


def test_statuses() -> None:
    runner = Runner([CONTAINS])
    assert runner.score(golden(), Produced("It is 4.")).status == "pass"
    failed = runner.score(golden(), Produced("five"))
    assert failed.status == "fail" and [s.name for s in failed.failed] == ["contains"]
    assert runner.score(golden(expected=None), Produced("x")).status == "skip"
    errored = runner.score(golden(), Produced(None, "timeout", "no output within 1s"))
    assert errored.status == "error" and errored.planned == ("contains",) and errored.scores == ()


def test_case_overrides() -> None:
    runner = Runner([CONTAINS, ScorerSpec(name="relevance", threshold=0.2)])
    plain = runner.score(golden(), Produced("4"))
    assert [s.name for s in plain.scores] == ["contains", "relevance"]

    removed = runner.score(golden("q", "4", ScorerOverride("contains", remove=True)), Produced("nope"))
    assert [s.name for s in removed.scores] == ["relevance"]

    strict = runner.score(
        golden("What is 2+2?", "4", ScorerOverride("relevance", threshold=1.0)), Produced("4")
    )
    relevance = next(s for s in strict.scores if s.name == "relevance")
    assert relevance.threshold == 1.0

    added = runner.score(
        golden(
            "q", None, ScorerOverride("regex", params={"pattern": r"^\d+$"}), ScorerOverride("json_valid")
        ),
        Produced("42"),
    )
    assert [(s.name, s.passed) for s in added.scores] == [
        ("contains", None),
        ("relevance", added.scores[1].passed),
        ("regex", True),
        ("json_valid", True),
    ]


def test_bad_override_is_input_error_naming_the_line() -> None:
    runner = Runner([CONTAINS])
    with pytest.raises(InputError) as caught:
        runner.check([golden("q", "a", ScorerOverride("nope", threshold=0.5))])
    [problem] = caught.value.problems
    assert problem.startswith("g.jsonl:1: scorers.nope.name: unknown scorer 'nope'")


def test_repeat_runs_only_nondeterministic_scorers(counting_module: types.ModuleType) -> None:
    runner = Runner(
        [CONTAINS, ScorerSpec(name="s", threshold=0.5, function="offline_test_scorers:steps")], repeat=3
    )
    result = runner.score(golden(), Produced("4"))
    contains, steps = result.scores
    assert contains.values == () and contains.spread is None
    assert steps.values == (0.2, 0.5, 0.8)
    assert steps.score.value == pytest.approx(0.5) and steps.passed is True
    low, high, stdev = steps.spread or (0, 0, 0)
    assert (low, high) == (0.2, 0.8) and stdev == pytest.approx(0.2449, abs=1e-4)

    counter = Runner([ScorerSpec(name="c", function="offline_test_scorers:count")], repeat=4)
    counter.score(golden(), Produced("4"))
    assert counting_module.calls == 4
    Runner([ScorerSpec(name="c", function="offline_test_scorers:count")], repeat=1).score(
        golden(), Produced("4")
    )
    assert counting_module.calls == 5


def test_one_erring_repeat_makes_the_score_an_error() -> None:
    scores = [Score.scored("judge", 0.9, threshold=0.5), Score.errored("judge", "timeout", "no reply")]
    combined = _combine(scores)
    assert combined.score.outcome is Outcome.ERROR and combined.passed is None
    assert combined.score.explanation == "1 of 2 repeats erred: no reply"


def test_score_without_threshold_passes_at_half() -> None:
    assert ScoreResult(Score.scored("x", 0.5)).passed is True
    assert ScoreResult(Score.scored("x", 0.49)).passed is False


def tally(passed: int = 0, failed: int = 0, errors: int = 0, skipped: int = 0) -> Tally:
    return Tally(passed, failed, errors, skipped)


@pytest.mark.parametrize(
    ("gate", "counts", "code"),
    [
        (Gate(), tally(10), 0),
        (Gate(), tally(9, 1), 1),
        (Gate(max_fail=1), tally(9, 1), 0),
        (Gate(max_fail=None, min_pass_rate=0.9), tally(9, 1), 0),
        (Gate(max_fail=None, min_pass_rate=0.95), tally(9, 1), 1),
        (Gate(), tally(9, 0, 1), 3),  # one error, none tolerated
        (Gate(max_errors=1), tally(9, 0, 1), 0),  # tolerated: left out of the rate
        (Gate(), tally(8, 1, 1), 1),  # a regression is certain whatever the error would have been
        (Gate(max_fail=None, min_pass_rate=0.9), tally(5, 4, 1), 1),  # 6/10 at best: certainly below
        (Gate(max_fail=None, min_pass_rate=0.5), tally(5, 4, 1), 3),  # could go either way
        (Gate(), tally(0, 0, 0, 5), 2),  # nothing scored
    ],
)
def test_gate(gate: Gate, counts: Tally, code: int) -> None:
    assert gate.decide(counts)[0] == code


def test_summarize_slices() -> None:
    runner = Runner([CONTAINS])
    results = [
        runner.score(golden("a", "x", locale="de"), Produced("x")),
        runner.score(golden("b", "x", locale="de"), Produced("y")),
        runner.score(golden("c", "x"), Produced("x")),
    ]
    summary = summarize(results, ["locale", "tenant"])
    assert (summary.overall.passed, summary.overall.failed) == (2, 1)
    assert set(summary.slices) == {"locale"}  # no case carries a tenant
    assert summary.slices["locale"]["de"].pass_rate == 0.5
    assert summary.slices["locale"]["unknown"].pass_rate == 1.0


def test_unknown_run_scorer_is_input_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(InputError) as caught:
        Runner([ScorerSpec(name="relevence")], paths=["--scorer relevence"])
    assert caught.value.problems[0].startswith("--scorer relevence.name: unknown scorer 'relevence'")
