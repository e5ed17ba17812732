"""Registry name -> factory; build every configured scorer at start-up; run them on one case.

Each factory decodes its spec's `params` into the scorer's params dataclass (`scorers/config.py`,
by `processor.decode`, the config's own decoder: types, ranges, unknown keys), applies
the scorer's default threshold when the spec has none, and returns a ready `Scorer`. Anything
wrong raises ConfigError with messages that lead with the key path, e.g.

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
import re
import urllib.parse
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

import jsonschema.exceptions

from processor.decode import decode
from processor.errors import ConfigError
from processor.model import EvalCase, Outcome, Score
from processor.sanitize import valid_text
from processor.scorers import _text, context, contract, judge, language_match, relevance, semantic_relevance
from processor.scorers.chat import ChatClient, HttpxChatClient, chat_completions_url
from processor.scorers.config import (
    ContainsParams,
    ExactParams,
    JsonSchemaParams,
    JsonValidParams,
    JudgeParams,
    LanguageMatchParams,
    RegexParams,
    ScorerSpec,
    SemanticRelevanceParams,
    TextParams,
)
from processor.scorers.custom import build_custom

P = TypeVar("P")


class Scorer(Protocol):
    """A pure function of one case, with the name and pass threshold it reports under."""

    name: str
    threshold: float | None

    def __call__(self, case: EvalCase) -> Score: ...


class ScorerFactory(Protocol):
    def __call__(self, spec: ScorerSpec, path: str, judge_client: ChatClient | None) -> Scorer: ...


def _threshold(spec: ScorerSpec, default: float) -> float:
    return default if spec.threshold is None else spec.threshold


def _params(cls: type[P], spec: ScorerSpec, path: str, problems: list[str]) -> P:
    """The spec's `params` decoded into the scorer's params class (problems under `path.params`)."""
    return decode(cls, spec.params, f"{path}.params", problems)


def _raise_if(problems: list[str]) -> None:
    if problems:
        raise ConfigError(problems)


def _stopwords(params: TextParams) -> frozenset[str]:
    return _text.default_stopwords(params.extra_stopwords, builtin=params.stopwords)


def _relevance(spec: ScorerSpec, path: str, judge_client: ChatClient | None) -> Scorer:
    problems: list[str] = []
    params = _params(TextParams, spec, path, problems)
    _raise_if(problems)
    return relevance.RelevanceScorer(
        spec.name,
        threshold=_threshold(spec, relevance.DEFAULT_THRESHOLD),
        stopwords=_stopwords(params),
        max_text_chars=params.max_text_chars,
    )


def _context_relevance(spec: ScorerSpec, path: str, judge_client: ChatClient | None) -> Scorer:
    problems: list[str] = []
    params = _params(TextParams, spec, path, problems)
    _raise_if(problems)
    threshold = _threshold(spec, context.DEFAULT_CONTEXT_RELEVANCE_THRESHOLD)
    return context.ContextRelevanceScorer(
        spec.name, threshold=threshold, stopwords=_stopwords(params), max_text_chars=params.max_text_chars
    )


def _groundedness(spec: ScorerSpec, path: str, judge_client: ChatClient | None) -> Scorer:
    problems: list[str] = []
    params = _params(TextParams, spec, path, problems)
    _raise_if(problems)
    threshold = _threshold(spec, context.DEFAULT_GROUNDEDNESS_THRESHOLD)
    return context.GroundednessScorer(
        spec.name, threshold=threshold, stopwords=_stopwords(params), max_text_chars=params.max_text_chars
    )


def _semantic_relevance(spec: ScorerSpec, path: str, judge_client: ChatClient | None) -> Scorer:
    problems: list[str] = []
    params = _params(SemanticRelevanceParams, spec, path, problems)
    _raise_if(problems)
    return semantic_relevance.SemanticRelevanceScorer(
        spec.name,
        threshold=_threshold(spec, semantic_relevance.DEFAULT_THRESHOLD),
        floor=params.floor,
        ceiling=params.ceiling,
        max_chars=params.max_chars,
    )


def _language_match(spec: ScorerSpec, path: str, judge_client: ChatClient | None) -> Scorer:
    problems: list[str] = []
    params = _params(LanguageMatchParams, spec, path, problems)
    unknown = sorted(set(params.languages) - set(language_match.known_languages()))
    if unknown:
        problems.append(
            f"{path}.params.languages: unknown language codes {', '.join(unknown)} (ISO 639-1, e.g. de, pt)"
        )
    _raise_if(problems)
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


def _contains(spec: ScorerSpec, path: str, judge_client: ChatClient | None) -> Scorer:
    problems: list[str] = []
    params = _params(ContainsParams, spec, path, problems)
    _raise_if(problems)
    return contract.ContainsScorer(
        spec.name,
        threshold=_threshold(spec, contract.DEFAULT_THRESHOLD),
        case_sensitive=params.case_sensitive,
    )


def _exact(spec: ScorerSpec, path: str, judge_client: ChatClient | None) -> Scorer:
    problems: list[str] = []
    params = _params(ExactParams, spec, path, problems)
    _raise_if(problems)
    return contract.ExactScorer(
        spec.name,
        threshold=_threshold(spec, contract.DEFAULT_THRESHOLD),
        strip=params.strip,
        casefold=params.casefold,
    )


def _regex(spec: ScorerSpec, path: str, judge_client: ChatClient | None) -> Scorer:
    problems: list[str] = []
    params = _params(RegexParams, spec, path, problems)
    compiled: re.Pattern[str] | None = None
    if params.pattern:
        try:
            compiled = re.compile(params.pattern, re.IGNORECASE if params.ignore_case else 0)
        except re.error as exc:
            problems.append(f"{path}.params.pattern: invalid regular expression {params.pattern!r}: {exc}")
    _raise_if(problems)
    assert compiled is not None
    return contract.RegexScorer(
        spec.name,
        threshold=_threshold(spec, contract.DEFAULT_THRESHOLD),
        pattern=compiled,
        fullmatch=params.fullmatch,
    )


def _json_valid(spec: ScorerSpec, path: str, judge_client: ChatClient | None) -> Scorer:
    problems: list[str] = []
    params = _params(JsonValidParams, spec, path, problems)
    _raise_if(problems)
    return contract.JsonValidScorer(
        spec.name, threshold=_threshold(spec, contract.DEFAULT_THRESHOLD), strip_fence=params.strip_code_fence
    )


def _load_schema(params: JsonSchemaParams, path: str, problems: list[str]) -> dict[str, Any] | None:
    """The inline schema, or the one `schema_file` holds (a problem under `path.schema_file` if it cannot)."""
    if params.schema is not None or not params.schema_file:
        return params.schema
    file, key = params.schema_file, f"{path}.params.schema_file"
    try:
        loaded = json.loads(pathlib.Path(file).read_text(encoding="utf-8"))
    except OSError as exc:
        problems.append(f"{key}: cannot read {file!r}: {exc.strerror or exc}")
        return None
    except ValueError as exc:
        problems.append(f"{key}: {file!r} is not valid JSON: {exc}")
        return None
    if not isinstance(loaded, dict):
        problems.append(f"{key}: {file!r} must hold a JSON object, got {type(loaded).__name__}")
        return None
    return loaded


def _json_schema(spec: ScorerSpec, path: str, judge_client: ChatClient | None) -> Scorer:
    problems: list[str] = []
    params = _params(JsonSchemaParams, spec, path, problems)
    schema = _load_schema(params, path, problems) if not problems else None
    validator = None
    if schema is not None:
        try:
            validator = contract.check_schema(schema)
        except jsonschema.exceptions.SchemaError as exc:
            where = "schema_file" if params.schema_file else "schema"
            problems.append(f"{path}.params.{where}: not a valid JSON Schema: {exc.message}")
    _raise_if(problems)
    assert validator is not None
    return contract.JsonSchemaScorer(
        spec.name,
        threshold=_threshold(spec, contract.DEFAULT_THRESHOLD),
        validator=validator,
        strip_fence=params.strip_code_fence,
    )


def _judge(spec: ScorerSpec, path: str, judge_client: ChatClient | None) -> Scorer:
    problems: list[str] = []
    params = _params(JudgeParams, spec, path, problems)
    api_key = ""
    if params.api_key_env:
        api_key = os.environ.get(params.api_key_env, "")
        if not api_key:
            problems.append(
                f"{path}.params.api_key_env: environment variable {params.api_key_env} is not set"
            )
    base_url = params.base_url
    if (
        api_key
        and base_url.startswith("http://")
        and not params.allow_plain_http_api_key
        and not _loopback_url(base_url)
    ):
        problems.append(
            f"{path}.params.base_url: {base_url!r} is plain http:// to a non-loopback host: the API key "
            "would travel in clear; use https://, or set allow_plain_http_api_key: true if the network "
            "is trusted"
        )
    _raise_if(problems)
    settings = judge.JudgeSettings(
        url=chat_completions_url(base_url),
        model=params.model,
        rubric=params.rubric,
        scale=params.scale,
        timeout_s=params.timeout_s,
        max_retries=params.max_retries,
        backoff_initial_s=params.backoff_initial_s,
        backoff_max_s=params.backoff_max_s,
        max_concurrency=params.max_concurrency,
        budget_tokens_per_hour=params.budget_tokens_per_hour,
        max_tokens=params.max_tokens,
        temperature=params.temperature,
        max_field_chars=params.max_field_chars,
    )
    return judge.JudgeScorer(
        spec.name,
        threshold=_threshold(spec, judge.DEFAULT_THRESHOLD),
        settings=settings,
        client=judge_client if judge_client is not None else HttpxChatClient(),
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


#: Registry name -> factory. Custom scorers are not listed: a spec with `function` builds one.
BUILTIN: dict[str, ScorerFactory] = {
    "relevance": _relevance,
    "context_relevance": _context_relevance,
    "groundedness": _groundedness,
    "semantic_relevance": _semantic_relevance,
    "language_match": _language_match,
    "judge": _judge,
    "contains": _contains,
    "exact": _exact,
    "regex": _regex,
    "json_valid": _json_valid,
    "json_schema": _json_schema,
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
    factory = BUILTIN.get(kind)
    if factory is None:
        suggestion = difflib.get_close_matches(kind, BUILTIN, n=1)
        hint = f" (did you mean '{suggestion[0]}'?)" if suggestion else f"; built-ins: {', '.join(BUILTIN)}"
        custom = "" if spec.builtin else "; a custom scorer needs function: module:function"
        raise ConfigError([f"{path}.{key}: unknown scorer {kind!r}{hint}{custom}"])
    return factory(spec, path, judge_client)


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


def run_scorers_batch(scorers: Sequence[Scorer], cases: Sequence[EvalCase]) -> list[list[Score]]:
    """`run_scorers` on each case, with one `score_batch` call per scorer that has one.

    Same results and the same never-raise contract as `run_scorers` case by case: if a batch call
    raises or returns the wrong number of Scores, that scorer falls back to one case at a time.
    """
    results: list[list[Score]] = [[] for _ in cases]
    with_content = [i for i, case in enumerate(cases) if case.has_content]
    for scorer in scorers:
        batch_scores = _try_batch(scorer, [cases[i] for i in with_content])
        for i, case in enumerate(cases):
            if not case.has_content:
                results[i].append(Score.skipped(scorer.name, "no_content"))
        if batch_scores is not None:
            for i, score in zip(with_content, batch_scores, strict=True):
                results[i].append(checked(scorer.name, score))
            continue
        for i in with_content:
            results[i].extend(run_scorers([scorer], cases[i]))
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
