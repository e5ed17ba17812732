"""Registry name -> factory; build every configured scorer at start-up; run them on one case.

Each built-in decodes its spec's `params` into the params dataclass its scorer module defines
(`processor.decode`, the config's own decoder: types, ranges, unknown keys), applies the scorer's
default threshold when the spec has none, and returns a ready `Scorer`. Anything wrong raises
ConfigError with messages that lead with the key path, e.g.

    scorers.enabled[2].params.pattern: invalid regular expression '(': missing ), unterminated subpattern
    scorers.enabled[0].name: unknown scorer 'relevence' (did you mean 'relevance'?)
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import json
import math
import os
import pathlib
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import jsonschema.exceptions
import regex

from processor.decode import decode
from processor.errors import ConfigError
from processor.model import EvalCase, Outcome, Score
from processor.sanitize import valid_text
from processor.scorers import _text, context, contract, judge, language_match, relevance, semantic_relevance
from processor.scorers.chat import ChatClient, HttpxChatClient
from processor.scorers.config import ScorerSpec
from processor.scorers.custom import build_custom

P = TypeVar("P")


class Scorer(Protocol):
    """A pure function of one case, with the name and pass threshold it reports under."""

    name: str
    threshold: float | None

    def __call__(self, case: EvalCase) -> Score: ...


@dataclass(frozen=True)
class Builtin(Generic[P]):
    """A built-in scorer: its `params` class (decoded by processor.decode, the config's decoder) and
    how to make the scorer from a spec and its decoded params. `make` raises ConfigError for what
    only building shows (a pattern that does not compile, a schema file that cannot be read)."""

    params: type[P]
    make: Callable[[ScorerSpec, P, _Build], Scorer]

    def build(self, spec: ScorerSpec, path: str, judge_client: ChatClient | None) -> Scorer:
        problems: list[str] = []
        params = decode(self.params, spec.params, f"{path}.params", problems)
        if problems:
            raise ConfigError(problems)
        return self.make(spec, params, _Build(path, judge_client))


@dataclass(frozen=True)
class _Build:
    path: str  # the spec's dotted key, e.g. scorers.enabled[2]
    judge_client: ChatClient | None

    def problem(self, param: str, message: str) -> ConfigError:
        return ConfigError([f"{self.path}.params.{param}: {message}"])


def _threshold(spec: ScorerSpec, default: float) -> float:
    return default if spec.threshold is None else spec.threshold


class _WordOverlapScorer(Protocol):
    def __call__(
        self, name: str, *, threshold: float | None, stopwords: frozenset[str], max_text_chars: int
    ) -> Scorer: ...


def _word_overlap(
    scorer: _WordOverlapScorer, default_threshold: float
) -> Callable[[ScorerSpec, _text.TextParams, _Build], Scorer]:
    """The maker of a word-overlap scorer (relevance, context_relevance, groundedness)."""

    def make(spec: ScorerSpec, params: _text.TextParams, build: _Build) -> Scorer:
        return scorer(
            spec.name,
            threshold=_threshold(spec, default_threshold),
            stopwords=_text.default_stopwords(params.extra_stopwords, builtin=params.stopwords),
            max_text_chars=params.max_text_chars,
        )

    return make


def _semantic_relevance(
    spec: ScorerSpec, params: semantic_relevance.SemanticRelevanceParams, build: _Build
) -> Scorer:
    return semantic_relevance.SemanticRelevanceScorer(
        spec.name,
        threshold=_threshold(spec, semantic_relevance.DEFAULT_THRESHOLD),
        floor=params.floor,
        ceiling=params.ceiling,
        max_chars=params.max_chars,
    )


def _language_match(spec: ScorerSpec, params: language_match.LanguageMatchParams, build: _Build) -> Scorer:
    return language_match.LanguageMatchScorer(
        spec.name,
        threshold=_threshold(spec, language_match.DEFAULT_THRESHOLD),
        expect=params.expect,
        locale_label=params.locale_label,
        min_letters=params.min_letters,
        min_confidence=params.min_confidence,
        max_chars=params.max_chars,
        languages=params.languages,
    )


def _contains(spec: ScorerSpec, params: contract.ContainsParams, build: _Build) -> Scorer:
    threshold = _threshold(spec, contract.DEFAULT_THRESHOLD)
    return contract.ContainsScorer(spec.name, threshold=threshold, case_sensitive=params.case_sensitive)


def _exact(spec: ScorerSpec, params: contract.ExactParams, build: _Build) -> Scorer:
    threshold = _threshold(spec, contract.DEFAULT_THRESHOLD)
    return contract.ExactScorer(spec.name, threshold=threshold, strip=params.strip, casefold=params.casefold)


def _regex(spec: ScorerSpec, params: contract.RegexParams, build: _Build) -> Scorer:
    try:
        compiled = regex.compile(params.pattern, regex.IGNORECASE if params.ignore_case else 0)
    except regex.error as exc:
        raise build.problem("pattern", f"invalid regular expression {params.pattern!r}: {exc}") from None
    return contract.RegexScorer(
        spec.name,
        threshold=_threshold(spec, contract.DEFAULT_THRESHOLD),
        pattern=compiled,
        fullmatch=params.fullmatch,
        timeout_s=params.timeout_s,
    )


def _json_valid(spec: ScorerSpec, params: contract.JsonValidParams, build: _Build) -> Scorer:
    threshold = _threshold(spec, contract.DEFAULT_THRESHOLD)
    return contract.JsonValidScorer(spec.name, threshold=threshold, strip_fence=params.strip_code_fence)


def _load_schema(params: contract.JsonSchemaParams, build: _Build) -> dict[str, Any]:
    """The inline schema, or the one `schema_file` holds."""
    if params.schema is not None:
        return params.schema
    file = params.schema_file
    try:
        loaded = json.loads(pathlib.Path(file).read_text(encoding="utf-8"))
    except OSError as exc:
        raise build.problem("schema_file", f"cannot read {file!r}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise build.problem("schema_file", f"{file!r} is not valid JSON: {exc}") from None
    if not isinstance(loaded, dict):
        raise build.problem("schema_file", f"{file!r} must hold a JSON object, got {type(loaded).__name__}")
    return loaded


def _json_schema(spec: ScorerSpec, params: contract.JsonSchemaParams, build: _Build) -> Scorer:
    try:
        validator = contract.check_schema(_load_schema(params, build))
    except jsonschema.exceptions.SchemaError as exc:
        where = "schema_file" if params.schema_file else "schema"
        raise build.problem(where, f"not a valid JSON Schema: {exc.message}") from None
    return contract.JsonSchemaScorer(
        spec.name,
        threshold=_threshold(spec, contract.DEFAULT_THRESHOLD),
        validator=validator,
        strip_fence=params.strip_code_fence,
        max_text_chars=params.max_text_chars,
    )


def _judge(spec: ScorerSpec, params: judge.JudgeParams, build: _Build) -> Scorer:
    api_key = ""
    if params.api_key_env:
        api_key = os.environ.get(params.api_key_env, "")
        if not api_key:
            raise build.problem("api_key_env", f"environment variable {params.api_key_env} is not set")
    base_url = params.base_url
    in_clear = base_url.startswith("http://") and not _loopback_url(base_url)
    if api_key and in_clear and not params.allow_plain_http_api_key:
        raise build.problem(
            "base_url",
            f"{base_url!r} is plain http:// to a non-loopback host: the API key would travel in "
            "clear; use https://, or set allow_plain_http_api_key: true if the network is trusted",
        )
    return judge.JudgeScorer(
        spec.name,
        threshold=_threshold(spec, judge.DEFAULT_THRESHOLD),
        settings=params,
        client=build.judge_client if build.judge_client is not None else HttpxChatClient(),
        api_key=api_key,
    )


def _loopback_url(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


#: Registry name -> built-in. Custom scorers are not listed: a spec with `function` builds one.
BUILTIN: dict[str, Builtin[Any]] = {
    "relevance": Builtin(
        _text.TextParams, _word_overlap(relevance.RelevanceScorer, relevance.DEFAULT_THRESHOLD)
    ),
    "context_relevance": Builtin(
        _text.TextParams,
        _word_overlap(context.ContextRelevanceScorer, context.DEFAULT_CONTEXT_RELEVANCE_THRESHOLD),
    ),
    "groundedness": Builtin(
        _text.TextParams, _word_overlap(context.GroundednessScorer, context.DEFAULT_GROUNDEDNESS_THRESHOLD)
    ),
    "semantic_relevance": Builtin(semantic_relevance.SemanticRelevanceParams, _semantic_relevance),
    "language_match": Builtin(language_match.LanguageMatchParams, _language_match),
    "judge": Builtin(judge.JudgeParams, _judge),
    "contains": Builtin(contract.ContainsParams, _contains),
    "exact": Builtin(contract.ExactParams, _exact),
    "regex": Builtin(contract.RegexParams, _regex),
    "json_valid": Builtin(contract.JsonValidParams, _json_valid),
    "json_schema": Builtin(contract.JsonSchemaParams, _json_schema),
}


def build_scorer(
    spec: ScorerSpec, *, path: str = "scorers.enabled[0]", judge_client: ChatClient | None = None
) -> Scorer:
    """Build one scorer: the custom `function` when set, else the built-in `builtin` or `name`.

    The spec's `name` is always the scorer's (and every Score's) name; `builtin: regex` lets two
    differently named scorers share one built-in.

    Raises:
        ConfigError: unknown name, bad params, or a custom function that cannot be imported / called;
            every message leads with the key path under `path`.
    """
    if spec.function:
        return build_custom(
            spec.name, spec.function, threshold=spec.threshold, params=dict(spec.params), path=path
        )
    kind, key = (spec.builtin, "builtin") if spec.builtin else (spec.name, "name")
    builtin = BUILTIN.get(kind)
    if builtin is None:
        suggestion = difflib.get_close_matches(kind, BUILTIN, n=1)
        hint = f" (did you mean '{suggestion[0]}'?)" if suggestion else f"; built-ins: {', '.join(BUILTIN)}"
        custom = "" if spec.builtin else "; a custom scorer needs function: module:function"
        raise ConfigError([f"{path}.{key}: unknown scorer {kind!r}{hint}{custom}"])
    return builtin.build(spec, path, judge_client)


def build_scorers(
    specs: Sequence[ScorerSpec], *, path: str = "scorers.enabled", judge_client: ChatClient | None = None
) -> list[Scorer]:
    """Build every scorer; all problems across all specs are raised together as one ConfigError.

    The specs are trusted as decoded (`ScorerSpec.validate`, unique names: `ScorersConfig.validate`).
    """
    problems: list[str] = []
    scorers: list[Scorer] = []
    for i, spec in enumerate(specs):
        try:
            scorers.append(build_scorer(spec, path=f"{path}[{i}]", judge_client=judge_client))
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return scorers


class BatchScorer(Scorer, Protocol):
    """A scorer that also scores many cases in one pass (a model's forward pass amortised)."""

    def score_batch(self, cases: Sequence[EvalCase]) -> list[Score]: ...


def run_scorers(
    scorers: Sequence[Scorer], case: EvalCase, *, redacted: EvalCase | None = None
) -> list[Score]:
    """Every scorer on one case, in order. Never raises for a scorer's sake.

    A scorer whose `sends_text_out` attribute is true (the judge: its request leaves the process)
    gets `redacted` when given; every other scorer sees the raw case in-process.

    A case without content (metadata-only instrumentation) is skipped with `no_content` by every
    scorer rather than scored as empty text; a scorer that raises yields an ERROR with reason
    `exception`; one that returns something other than a Score, or a SCORED value that is not a
    number in [0, 1] (NaN, 1.5, "high"), yields `bad_return`.
    """
    if not case.has_content:
        return [Score.skipped(s.name, "no_content") for s in scorers]
    scores: list[Score] = []
    for scorer in scorers:
        shown = redacted if redacted is not None and getattr(scorer, "sends_text_out", False) else case
        try:
            score = scorer(shown)
        except Exception as exc:  # a scorer bug must cost one score, not the worker
            score = Score.errored(scorer.name, "exception", f"{type(exc).__name__}: {exc}")
        scores.append(checked(scorer.name, score))
    return scores


def checked(name: str, score: object) -> Score:
    """`score` as it may be recorded: not a Score, or one `score_problem` objects to, is `bad_return`;
    a lone surrogate in its own text is replaced (a scorer's text is an entry point too)."""
    if not isinstance(score, Score):
        return Score.errored(name, "bad_return", f"returned {type(score).__name__}, not Score")
    problem = score_problem(score)
    if problem:
        return Score.errored(name, "bad_return", problem)
    if valid_text(score.reason) != score.reason or valid_text(score.explanation) != score.explanation:
        return dataclasses.replace(
            score, reason=valid_text(score.reason), explanation=valid_text(score.explanation)
        )
    return score


def run_scorers_batch(
    scorers: Sequence[Scorer],
    cases: Sequence[EvalCase],
    *,
    redacted: Sequence[EvalCase] | None = None,
) -> list[list[Score]]:
    """`run_scorers` on each case, with one `score_batch` call per scorer that has one.

    Same results and the same never-raise contract as `run_scorers` case by case: if a batch call
    raises or returns the wrong number of Scores, that scorer falls back to one case at a time.
    `redacted[i]` is case i's copy for scorers whose `sends_text_out` is true, as in `run_scorers`.
    """
    if redacted is not None and len(redacted) != len(cases):
        raise ValueError(f"{len(redacted)} redacted copies for {len(cases)} cases")
    results: list[list[Score]] = [[] for _ in cases]
    with_content = [i for i, case in enumerate(cases) if case.has_content]
    for scorer in scorers:
        shown = redacted if redacted is not None and getattr(scorer, "sends_text_out", False) else cases
        batch_scores = _try_batch(scorer, [shown[i] for i in with_content])
        for i, case in enumerate(cases):
            if not case.has_content:
                results[i].append(Score.skipped(scorer.name, "no_content"))
        if batch_scores is not None:
            for i, score in zip(with_content, batch_scores, strict=True):
                results[i].append(checked(scorer.name, score))
            continue
        for i in with_content:
            copy = None if redacted is None else redacted[i]
            results[i].extend(run_scorers([scorer], cases[i], redacted=copy))
    return results


def _try_batch(scorer: Scorer, cases: Sequence[EvalCase]) -> list[Score] | None:
    score_batch = getattr(scorer, "score_batch", None)
    if score_batch is None or not cases:
        return None
    try:
        scores = score_batch(cases)
    except Exception:  # one bad case must not cost the batch: score case by case instead
        return None
    if not isinstance(scores, list) or len(scores) != len(cases):
        return None
    return scores if all(isinstance(s, Score) for s in scores) else None


def score_problem(score: Score) -> str:
    """Why a Score cannot be recorded as it is ('' when it can): text fields must be strings, and a
    SCORED value a number in [0, 1] with a boolean `passed` and a threshold in [0, 1].

    Never clamped: a NaN or a 1.5 is a scorer bug to report, not a 0 or a 1 to gate on.
    """
    if not isinstance(score.reason, str) or not isinstance(score.explanation, str):
        return "reason and explanation must be strings"
    if score.outcome is not Outcome.SCORED:
        return ""
    value = score.value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"score value is {type(value).__name__}, not a number"
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        return f"score value {value!r} is outside [0, 1]"
    if score.passed is not None and not isinstance(score.passed, bool):
        return f"passed is {type(score.passed).__name__}, not a boolean"
    threshold = score.threshold
    if threshold is not None and (
        isinstance(threshold, bool)
        or not isinstance(threshold, (int, float))
        or not 0.0 <= threshold <= 1.0  # NaN fails this too
    ):
        return f"threshold {threshold!r} is not a number in [0, 1]"
    return ""
