"""Registry name -> factory; build every configured scorer at start-up; run them on one case.

Each factory reads its spec's `params` through `Params` (typed, unknown keys reported), applies
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
import urllib.parse
from collections.abc import Sequence
from typing import Any, Protocol

import jsonschema.exceptions
import regex

from processor.errors import ConfigError
from processor.model import EvalCase, Outcome, Score
from processor.sanitize import valid_text
from processor.scorers import _text, context, contract, judge, language_match, relevance, semantic_relevance
from processor.scorers._params import Params
from processor.scorers.chat import ChatClient, HttpxChatClient, chat_completions_url
from processor.scorers.config import ScorerSpec
from processor.scorers.custom import build_custom


class Scorer(Protocol):
    """A pure function of one case, with the name and pass threshold it reports under."""

    name: str
    threshold: float | None

    def __call__(self, case: EvalCase) -> Score: ...


class ScorerFactory(Protocol):
    def __call__(self, spec: ScorerSpec, path: str, judge_client: ChatClient | None) -> Scorer: ...


def _threshold(spec: ScorerSpec, default: float) -> float:
    return default if spec.threshold is None else spec.threshold


def _stopwords(params: Params) -> frozenset[str]:
    """`stopwords: false` turns the built-in lists off; `extra_stopwords` adds words of your own."""
    use_builtin = params.bool("stopwords", True)
    extra = params.str_list("extra_stopwords")
    return _text.default_stopwords(extra, builtin=use_builtin)


def _max_text_chars(params: Params) -> int:
    """`max_text_chars`: how much of each text a heuristic scorer reads (bounds its cost per case)."""
    return params.int("max_text_chars", _text.DEFAULT_MAX_TEXT_CHARS, low=100)


def _relevance(spec: ScorerSpec, path: str, judge_client: ChatClient | None) -> Scorer:
    params = Params(spec.params, path)
    stop = _stopwords(params)
    max_chars = _max_text_chars(params)
    params.done()
    return relevance.RelevanceScorer(
        spec.name,
        threshold=_threshold(spec, relevance.DEFAULT_THRESHOLD),
        stopwords=stop,
        max_text_chars=max_chars,
    )


def _context_relevance(spec: ScorerSpec, path: str, judge_client: ChatClient | None) -> Scorer:
    params = Params(spec.params, path)
    stop = _stopwords(params)
    max_chars = _max_text_chars(params)
    params.done()
    threshold = _threshold(spec, context.DEFAULT_CONTEXT_RELEVANCE_THRESHOLD)
    return context.ContextRelevanceScorer(
        spec.name, threshold=threshold, stopwords=stop, max_text_chars=max_chars
    )


def _groundedness(spec: ScorerSpec, path: str, judge_client: ChatClient | None) -> Scorer:
    params = Params(spec.params, path)
    stop = _stopwords(params)
    max_chars = _max_text_chars(params)
    params.done()
    threshold = _threshold(spec, context.DEFAULT_GROUNDEDNESS_THRESHOLD)
    return context.GroundednessScorer(
        spec.name, threshold=threshold, stopwords=stop, max_text_chars=max_chars
    )


def _semantic_relevance(spec: ScorerSpec, path: str, judge_client: ChatClient | None) -> Scorer:
    params = Params(spec.params, path)
    floor = params.float("floor", semantic_relevance.DEFAULT_FLOOR, low=-1.0, high=1.0)
    ceiling = params.float("ceiling", semantic_relevance.DEFAULT_CEILING, low=-1.0, high=1.0)
    if ceiling <= floor:
        params.problem("ceiling", f"must be greater than floor ({floor:g}), got {ceiling:g}")
    max_chars = params.int("max_chars", semantic_relevance.DEFAULT_MAX_CHARS, low=1)
    params.done()
    return semantic_relevance.SemanticRelevanceScorer(
        spec.name,
        threshold=_threshold(spec, semantic_relevance.DEFAULT_THRESHOLD),
        floor=floor,
        ceiling=ceiling,
        max_chars=max_chars,
    )


def _language_match(spec: ScorerSpec, path: str, judge_client: ChatClient | None) -> Scorer:
    params = Params(spec.params, path)
    expect = params.str("expect", "auto")
    if expect not in language_match.EXPECT_CHOICES:
        params.problem("expect", f"must be one of {', '.join(language_match.EXPECT_CHOICES)}, got {expect!r}")
    locale_label = params.str("locale_label", "locale")
    min_letters = params.int("min_letters", language_match.DEFAULT_MIN_LETTERS, low=1)
    min_confidence = params.float("min_confidence", language_match.DEFAULT_MIN_CONFIDENCE, low=0.0, high=1.0)
    max_chars = params.int("max_chars", language_match.DEFAULT_MAX_CHARS, low=1)
    languages = list(language_match.DEFAULT_LANGUAGES)
    if params.has("languages"):
        languages = params.str_list("languages")
    unknown = sorted(set(languages) - set(language_match.known_languages()))
    if unknown:
        params.problem("languages", f"unknown language codes {', '.join(unknown)} (ISO 639-1, e.g. de, pt)")
    params.done()
    return language_match.LanguageMatchScorer(
        spec.name,
        threshold=_threshold(spec, language_match.DEFAULT_THRESHOLD),
        expect=expect,
        locale_label=locale_label,
        min_letters=min_letters,
        min_confidence=min_confidence,
        max_chars=max_chars,
        languages=languages,
    )


def _contains(spec: ScorerSpec, path: str, judge_client: ChatClient | None) -> Scorer:
    params = Params(spec.params, path)
    case_sensitive = params.bool("case_sensitive", False)
    params.done()
    return contract.ContainsScorer(
        spec.name, threshold=_threshold(spec, contract.DEFAULT_THRESHOLD), case_sensitive=case_sensitive
    )


def _exact(spec: ScorerSpec, path: str, judge_client: ChatClient | None) -> Scorer:
    params = Params(spec.params, path)
    strip = params.bool("strip", True)
    casefold = params.bool("casefold", False)
    params.done()
    return contract.ExactScorer(
        spec.name, threshold=_threshold(spec, contract.DEFAULT_THRESHOLD), strip=strip, casefold=casefold
    )


def _regex(spec: ScorerSpec, path: str, judge_client: ChatClient | None) -> Scorer:
    params = Params(spec.params, path)
    pattern_text = params.str("pattern", required=True)
    ignore_case = params.bool("ignore_case", False)
    fullmatch = params.bool("fullmatch", False)
    timeout_s = params.float("timeout_s", contract.DEFAULT_REGEX_TIMEOUT_S, low=0.0, low_open=True)
    compiled: regex.Pattern[str] | None = None
    if pattern_text:
        try:
            compiled = regex.compile(pattern_text, regex.IGNORECASE if ignore_case else 0)
        except regex.error as exc:
            params.problem("pattern", f"invalid regular expression {pattern_text!r}: {exc}")
    params.done()
    assert compiled is not None
    return contract.RegexScorer(
        spec.name,
        threshold=_threshold(spec, contract.DEFAULT_THRESHOLD),
        pattern=compiled,
        fullmatch=fullmatch,
        timeout_s=timeout_s,
    )


def _json_valid(spec: ScorerSpec, path: str, judge_client: ChatClient | None) -> Scorer:
    params = Params(spec.params, path)
    strip_fence = params.bool("strip_code_fence", False)
    params.done()
    return contract.JsonValidScorer(
        spec.name, threshold=_threshold(spec, contract.DEFAULT_THRESHOLD), strip_fence=strip_fence
    )


def _load_schema(params: Params) -> dict[str, Any] | None:
    inline = params.raw("schema")
    file = params.str("schema_file")
    if (inline is None) == (not file):
        params.problem("schema", "set exactly one of schema (a mapping) or schema_file (a path)")
        return None
    if inline is not None:
        if not isinstance(inline, dict):
            params.problem("schema", f"expected a mapping (a JSON Schema object), got {inline!r}")
            return None
        return inline
    try:
        loaded = json.loads(pathlib.Path(file).read_text(encoding="utf-8"))
    except OSError as exc:
        params.problem("schema_file", f"cannot read {file!r}: {exc.strerror or exc}")
        return None
    except ValueError as exc:
        params.problem("schema_file", f"{file!r} is not valid JSON: {exc}")
        return None
    if not isinstance(loaded, dict):
        params.problem("schema_file", f"{file!r} must hold a JSON object, got {type(loaded).__name__}")
        return None
    return loaded


def _json_schema(spec: ScorerSpec, path: str, judge_client: ChatClient | None) -> Scorer:
    params = Params(spec.params, path)
    schema = _load_schema(params)
    strip_fence = params.bool("strip_code_fence", False)
    max_chars = params.int("max_text_chars", contract.DEFAULT_SCHEMA_MAX_TEXT_CHARS, low=100)
    validator = None
    if schema is not None:
        try:
            validator = contract.check_schema(schema)
        except jsonschema.exceptions.SchemaError as exc:
            where = "schema_file" if params.has("schema_file") else "schema"
            params.problem(where, f"not a valid JSON Schema: {exc.message}")
    params.done()
    assert validator is not None
    return contract.JsonSchemaScorer(
        spec.name,
        threshold=_threshold(spec, contract.DEFAULT_THRESHOLD),
        validator=validator,
        strip_fence=strip_fence,
        max_text_chars=max_chars,
    )


def _judge(spec: ScorerSpec, path: str, judge_client: ChatClient | None) -> Scorer:
    params = Params(spec.params, path)
    base_url = params.str("base_url", required=True)
    if base_url and not base_url.startswith(("http://", "https://")):
        params.problem("base_url", f"must start with http:// or https://, got {base_url!r}")
    model = params.str("model", required=True)
    key_env = params.str("api_key_env")
    api_key = ""
    if key_env:
        api_key = os.environ.get(key_env, "")
        if not api_key:
            params.problem("api_key_env", f"environment variable {key_env} is not set")
    allow_plain_http = params.bool("allow_plain_http_api_key", False)
    if api_key and base_url.startswith("http://") and not allow_plain_http and not _loopback_url(base_url):
        params.problem(
            "base_url",
            f"{base_url!r} is plain http:// to a non-loopback host: the API key would travel in clear; "
            "use https://, or set allow_plain_http_api_key: true if the network is trusted",
        )
    rubric = params.str("rubric", judge.DEFAULT_RUBRIC)
    for problem in judge.check_rubric(rubric):
        params.problem("rubric", problem)
    settings = judge.JudgeSettings(
        url=chat_completions_url(base_url),
        model=model,
        rubric=rubric,
        scale=params.float("scale", 10.0, low=0.0, low_open=True),
        timeout_s=params.float("timeout_s", 30.0, low=0.0, low_open=True),
        max_retries=params.int("max_retries", 3, low=0, high=10),
        backoff_initial_s=params.float("backoff_initial_s", 0.5, low=0.0),
        backoff_max_s=params.float("backoff_max_s", 30.0, low=0.0),
        max_concurrency=params.int("max_concurrency", 4, low=1),
        budget_tokens_per_hour=params.int("budget_tokens_per_hour", 0, low=0),
        max_tokens=params.int("max_tokens", 200, low=0),
        temperature=params.float("temperature", 0.0, low=0.0, high=2.0),
        max_field_chars=params.int("max_field_chars", 8000, low=100),
    )
    params.done()
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
    problems = spec.validate(path)
    if problems:
        raise ConfigError(problems)
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
    """Build every scorer; all problems across all specs are raised together as one ConfigError."""
    problems: list[str] = []
    scorers: list[Scorer] = []
    names = [s.name for s in specs]
    repeated = sorted({n for n in names if n and names.count(n) > 1})
    if repeated:
        problems.append(f"{path}: scorer names must be unique, repeated: {', '.join(repeated)}")
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
