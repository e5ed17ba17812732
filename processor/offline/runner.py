"""Score golden cases with the workers' own scorers (per-case overrides, --repeat), tally, and gate.

Scoring goes through `processor.scorers.run_scorers` only, so a scorer that raises comes back as an
ERROR score, never as a crash or a low value. A case's status is, in this order: `error` when its
output could not be produced, `fail` when any scorer scored it below that scorer's threshold, `error`
when a scorer erred, `pass` when at least one scorer scored it, else `skip` (say, `contains` without
`expected`). A scorer built without a threshold passes at DEFAULT_THRESHOLD.

With `--repeat N` every scorer that may answer differently twice (the judge, custom functions) scores
each case N times; the verdict is the mean against the threshold, with min, max and stdev kept for
the report. One erring repeat makes the whole score an error: a mean over the answers that happened
to arrive is not the measurement that was asked for.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from processor.errors import ConfigError
from processor.model import Outcome, Score
from processor.offline.golden import GoldenCase, InputError
from processor.offline.outputs import Produced
from processor.scorers import Scorer, build_scorer, run_scorers
from processor.scorers.config import ScorerSpec

#: Pass mark for a scorer that was built without a threshold.
DEFAULT_THRESHOLD = 0.5

#: Built-in scorers that give the same score for the same case every time: never repeated.
DETERMINISTIC: frozenset[str] = frozenset(
    {
        "contains",
        "exact",
        "regex",
        "json_valid",
        "json_schema",
        "relevance",
        "context_relevance",
        "groundedness",
        "semantic_relevance",
        "language_match",
    }
)

#: The seed's check, run unless the run configures `contains` itself: expected.lower() in output.lower().
DEFAULT_SPECS: tuple[ScorerSpec, ...] = (ScorerSpec(name="contains", threshold=1.0),)


@dataclass(frozen=True)
class ScoreResult:
    """One scorer's verdict on one case; `values` holds every repeat's value when it was repeated."""

    score: Score
    values: tuple[float, ...] = ()

    @property
    def name(self) -> str:
        return self.score.name

    @property
    def threshold(self) -> float:
        return DEFAULT_THRESHOLD if self.score.threshold is None else self.score.threshold

    @property
    def passed(self) -> bool | None:
        """True/False when scored, None when skipped or erred."""
        if self.score.outcome is not Outcome.SCORED or self.score.value is None:
            return None
        if self.score.passed is not None:
            return self.score.passed
        return self.score.value >= self.threshold

    @property
    def spread(self) -> tuple[float, float, float] | None:
        """(min, max, stdev) over the repeats, or None when scored once."""
        if len(self.values) < 2:
            return None
        return min(self.values), max(self.values), statistics.pstdev(self.values)


@dataclass(frozen=True)
class CaseResult:
    golden: GoldenCase
    output: str | None
    scores: tuple[ScoreResult, ...] = ()
    error: str = ""  # why no output could be produced (the target's error), empty when there is one
    error_detail: str = ""
    planned: tuple[str, ...] = ()  # the scorers that would have run, when the output is missing

    @property
    def status(self) -> str:
        if self.error:
            return "error"
        verdicts = [s.passed for s in self.scores]
        if False in verdicts:
            return "fail"
        if any(s.score.outcome is Outcome.ERROR for s in self.scores):
            return "error"
        return "pass" if True in verdicts else "skip"

    @property
    def failed(self) -> list[ScoreResult]:
        return [s for s in self.scores if s.passed is False]

    @property
    def errored(self) -> list[ScoreResult]:
        return [s for s in self.scores if s.score.outcome is Outcome.ERROR]


@dataclass
class Tally:
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0

    def add(self, status: str) -> None:
        if status == "pass":
            self.passed += 1
        elif status == "fail":
            self.failed += 1
        elif status == "error":
            self.errors += 1
        else:
            self.skipped += 1

    @property
    def scored(self) -> int:
        return self.passed + self.failed

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errors + self.skipped

    @property
    def pass_rate(self) -> float | None:
        """passed / (passed + failed); errors and skips are not in the denominator."""
        return self.passed / self.scored if self.scored else None


@dataclass
class Summary:
    overall: Tally = field(default_factory=Tally)
    #: label -> value -> tally, for every slice label some case carries
    slices: dict[str, dict[str, Tally]] = field(default_factory=dict)


def summarize(results: Iterable[CaseResult], slice_labels: Sequence[str]) -> Summary:
    results = list(results)
    summary = Summary()
    present = [name for name in slice_labels if any(name in r.golden.case.labels for r in results)]
    for result in results:
        status = result.status
        summary.overall.add(status)
        for name in present:
            value = result.golden.case.label(name)
            summary.slices.setdefault(name, {}).setdefault(value, Tally()).add(status)
    return summary


@dataclass(frozen=True)
class Gate:
    """--max-fail, --min-pass-rate, --max-errors."""

    max_fail: int | None = 0
    min_pass_rate: float | None = None
    max_errors: int = 0

    def decide(self, tally: Tally) -> tuple[int, str]:
        """(exit code, reason): 0 passed, 1 regressions, 2 nothing scored, 3 undecidable because of errors.

        Errors can only hide results, never add passes or failures that are not there: when the gate
        fails even if every erred case had passed, the failure is certain (1); when it could go either
        way and the errors exceed --max-errors, the gate is undecided (3). Tolerated errors are left
        out of the pass rate.
        """
        if tally.scored + tally.errors == 0:
            return 2, "no case was scored: every scorer skipped every case (add `expected` or a scorer)"
        if self.max_fail is not None and tally.failed > self.max_fail:
            return 1, f"{tally.failed} failed > --max-fail {self.max_fail}"
        if self.min_pass_rate is not None:
            best = (tally.passed + tally.errors) / (tally.scored + tally.errors)
            if best < self.min_pass_rate:
                wanted = _pct(self.min_pass_rate)
                return 1, f"pass rate {_pct(best)} < --min-pass-rate {wanted} even if every error passed"
        if tally.errors > self.max_errors:
            return (
                3,
                f"{tally.errors} cases erred > --max-errors {self.max_errors}: the gate cannot be decided",
            )
        rate = tally.pass_rate
        if self.min_pass_rate is not None and (rate is None or rate < self.min_pass_rate):
            shown = "n/a" if rate is None else _pct(rate)
            return 1, f"pass rate {shown} < --min-pass-rate {_pct(self.min_pass_rate)}"
        return 0, "passed"


def _pct(rate: float) -> str:
    return f"{rate * 100:.1f}%"


class Runner:
    """Builds the run's scorers once, and per-case variants (cached) for cases with a `scorers` override."""

    def __init__(
        self,
        specs: Sequence[ScorerSpec],
        *,
        judge_client: Any = None,
        repeat: int = 1,
        concurrency: int = 4,
        paths: Sequence[str] | None = None,
    ) -> None:
        self.judge_client = judge_client
        self.repeat = max(1, repeat)
        self.concurrency = max(1, concurrency)
        self.specs: dict[str, ScorerSpec] = {spec.name: spec for spec in specs}
        self._cache: dict[str, Scorer] = {}
        problems: list[str] = []
        self.default: list[tuple[ScorerSpec, Scorer]] = []
        for i, spec in enumerate(specs):
            try:
                path = paths[i] if paths else f"scorers.enabled[{i}]"
                self.default.append((spec, self._build(spec, path=path)))
            except ConfigError as exc:
                problems.extend(exc.problems)
        if problems:
            raise InputError(problems)

    def _build(self, spec: ScorerSpec, *, path: str) -> Scorer:
        key = json.dumps([spec.name, spec.threshold, spec.params, spec.function], sort_keys=True, default=str)
        if key not in self._cache:
            self._cache[key] = build_scorer(spec, path=path, judge_client=self.judge_client)
        return self._cache[key]

    def scorers_for(self, golden: GoldenCase) -> list[tuple[ScorerSpec, Scorer]]:
        """The run's scorers with the case's `scorers` override applied; ConfigError names FILE:LINE."""
        if not golden.overrides:
            return self.default
        chosen: dict[str, ScorerSpec] = {spec.name: spec for spec, _ in self.default}
        for override in golden.overrides:
            if override.remove:
                chosen.pop(override.name, None)
                continue
            base = self.specs.get(override.name) or ScorerSpec(name=override.name)
            spec = replace(
                base,
                threshold=base.threshold if override.threshold is None else override.threshold,
                params=base.params if override.params is None else {**base.params, **override.params},
            )
            chosen[override.name] = spec
        built: list[tuple[ScorerSpec, Scorer]] = []
        for name, spec in chosen.items():
            built.append((spec, self._build(spec, path=f"{golden.source}: scorers.{name}")))
        return built

    def check(self, cases: Sequence[GoldenCase]) -> None:
        """Build every per-case variant before anything runs, so a bad override stops the run up front."""
        problems: list[str] = []
        for golden in cases:
            try:
                self.scorers_for(golden)
            except ConfigError as exc:
                problems.extend(_with_source(p, golden.source) for p in exc.problems)
        if problems:
            raise InputError(problems)

    def score(self, golden: GoldenCase, produced: Produced) -> CaseResult:
        pairs = self.scorers_for(golden)
        if produced.output is None:
            planned = tuple(spec.name for spec, _ in pairs)
            return CaseResult(
                golden, None, error=produced.error or "error", error_detail=produced.detail, planned=planned
            )
        case = replace(golden.case, output=produced.output)
        repeated = [s for spec, s in pairs if self.repeat > 1 and not _deterministic(spec)]
        once = [s for spec, s in pairs if not (self.repeat > 1 and not _deterministic(spec))]
        by_scorer: dict[int, list[Score]] = {}
        for scorer, score in zip(once, run_scorers(once, case), strict=True):
            by_scorer[id(scorer)] = [score]
        for _ in range(self.repeat if repeated else 0):
            for scorer, score in zip(repeated, run_scorers(repeated, case), strict=True):
                by_scorer.setdefault(id(scorer), []).append(score)
        results = tuple(_combine(by_scorer[id(s)]) for _, s in pairs)
        return CaseResult(golden, produced.output, results)

    def run(
        self,
        cases: Sequence[GoldenCase],
        produced: Sequence[Produced],
        *,
        on_done: Callable[[CaseResult], None] | None = None,
    ) -> list[CaseResult]:
        """Score every case (on --concurrency threads: judge calls wait on the network), in case order.

        `on_done` is told of every case as it is scored (the progress line)."""

        def score(golden: GoldenCase, output: Produced) -> CaseResult:
            result = self.score(golden, output)
            if on_done is not None:
                on_done(result)
            return result

        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="score") as pool:
            return list(pool.map(score, cases, produced))


def _deterministic(spec: ScorerSpec) -> bool:
    return not spec.function and spec.name in DETERMINISTIC


def _with_source(problem: str, source: str) -> str:
    return problem if problem.startswith(source) else f"{source}: {problem}"


def _combine(scores: Sequence[Score]) -> ScoreResult:
    """One ScoreResult from one or more repeats of the same scorer on the same case."""
    first = scores[0]
    if len(scores) == 1:
        return ScoreResult(first)
    errors = [s for s in scores if s.outcome is Outcome.ERROR]
    if errors:
        note = f"{len(errors)} of {len(scores)} repeats erred"
        detail = errors[0].explanation
        return ScoreResult(replace(errors[0], explanation=f"{note}: {detail}" if detail else note))
    values = tuple(s.value for s in scores if s.outcome is Outcome.SCORED and s.value is not None)
    if not values:
        return ScoreResult(first)
    mean = statistics.fmean(values)
    threshold = first.threshold
    passed = None if threshold is None else mean >= threshold
    score = replace(
        first,
        outcome=Outcome.SCORED,
        value=mean,
        passed=passed,
        explanation=_joined(f"mean of {len(values)} repeats", scores[-1].explanation),
        tokens=sum(s.tokens for s in scores),
    )
    return ScoreResult(score, values)


def _joined(note: str, explanation: str) -> str:
    return f"{note}; last: {explanation}" if explanation else note
