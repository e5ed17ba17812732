"""ScorersConfig: the `scorers` section: which scorers run, their parameters and pass thresholds.

scorers:
  enabled:
    - name: relevance            # a built-in scorer
      threshold: 0.6             # passed = score >= threshold
    - name: judge
      params: {base_url: "http://localhost:8000/v1", model: gpt-4o-mini, api_key_env: OPENAI_API_KEY}
    - name: brand_voice          # a custom scorer: same signature as the built-ins
      function: mypkg.scorers:brand_voice
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

from processor.decode import out_of_range, required
from processor.scorers import _text, judge, language_match, semantic_relevance


@dataclass(frozen=True)
class ScorerSpec:
    name: str = ""
    threshold: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    function: str = ""  # module:function for a custom scorer
    builtin: str = ""  # the built-in to run when `name` is your own label (two `regex` checks, say)

    def validate(self, path: str) -> list[str]:
        problems: list[str] = []
        if not self.name:
            problems.append(f"{path}.name: every scorer needs a name")
        if self.threshold is not None and (math.isnan(self.threshold) or not 0.0 <= self.threshold <= 1.0):
            problems.append(f"{path}.threshold: must be between 0 and 1, got {self.threshold}")
        if self.function and ":" not in self.function:
            problems.append(f"{path}.function: must be module:function, got {self.function!r}")
        if self.function and self.builtin:
            problems.append(f"{path}: set either builtin or function, not both")
        return problems


#: What runs when the configuration has no `scorers` section: the one list the workers, the offline
#: runner and the alert-rule generator all read. Each spec takes its scorer's default threshold.
#: `groundedness` sees a wrong figure or policy version; `language_match` an answer in the wrong
#: language; both skip cases they cannot judge (no context, too short). `semantic_relevance` scores
#: relevance better but costs ~2 ms of CPU per case, too much to be on by default (see README).
DEFAULT_ENABLED: tuple[ScorerSpec, ...] = (
    ScorerSpec(name="relevance"),
    ScorerSpec(name="context_relevance"),
    ScorerSpec(name="groundedness"),
    ScorerSpec(name="language_match"),
)


def _default_enabled() -> list[ScorerSpec]:
    return copy.deepcopy(list(DEFAULT_ENABLED))  # a config's specs are its own, params dicts included


@dataclass(frozen=True)
class ScorersConfig:
    enabled: list[ScorerSpec] = field(default_factory=_default_enabled)

    def validate(self, path: str) -> list[str]:
        names = [s.name for s in self.enabled]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            return [f"{path}.enabled: scorer names must be unique, repeated: {', '.join(duplicates)}"]
        return []


# --- each built-in scorer's `params`, decoded by processor.decode like every config section ---------------
# Rules that need the scorer's own code (a regex that compiles, a schema file, an environment
# variable, the detector's languages) are checked where the scorer is built (registry.py).


@dataclass(frozen=True)
class TextParams:
    """relevance, context_relevance, groundedness: the word-overlap scorers."""

    stopwords: bool = True  # false turns the built-in stopword lists off
    extra_stopwords: list[str] = field(default_factory=list)  # words of your own to ignore
    max_text_chars: int = _text.DEFAULT_MAX_TEXT_CHARS  # how much of each text is read (bounds the cost)

    def validate(self, path: str) -> list[str]:
        return out_of_range(f"{path}.max_text_chars", self.max_text_chars, low=100)


@dataclass(frozen=True)
class SemanticRelevanceParams:
    floor: float = semantic_relevance.DEFAULT_FLOOR
    ceiling: float = semantic_relevance.DEFAULT_CEILING
    max_chars: int = semantic_relevance.DEFAULT_MAX_CHARS

    def validate(self, path: str) -> list[str]:
        problems = [
            *out_of_range(f"{path}.floor", self.floor, low=-1.0, high=1.0),
            *out_of_range(f"{path}.ceiling", self.ceiling, low=-1.0, high=1.0),
        ]
        if not problems and self.ceiling <= self.floor:
            problems.append(
                f"{path}.ceiling: must be greater than floor ({self.floor:g}), got {self.ceiling:g}"
            )
        return problems + out_of_range(f"{path}.max_chars", self.max_chars, low=1)


@dataclass(frozen=True)
class LanguageMatchParams:
    expect: str = "auto"
    locale_label: str = "locale"
    min_letters: int = language_match.DEFAULT_MIN_LETTERS
    min_confidence: float = language_match.DEFAULT_MIN_CONFIDENCE
    max_chars: int = language_match.DEFAULT_MAX_CHARS
    languages: list[str] = field(default_factory=lambda: list(language_match.DEFAULT_LANGUAGES))

    def validate(self, path: str) -> list[str]:
        problems: list[str] = []
        if self.expect not in language_match.EXPECT_CHOICES:
            choices = ", ".join(language_match.EXPECT_CHOICES)
            problems.append(f"{path}.expect: must be one of {choices}, got {self.expect!r}")
        problems += out_of_range(f"{path}.min_letters", self.min_letters, low=1)
        problems += out_of_range(f"{path}.min_confidence", self.min_confidence, low=0.0, high=1.0)
        return problems + out_of_range(f"{path}.max_chars", self.max_chars, low=1)


@dataclass(frozen=True)
class ContainsParams:
    case_sensitive: bool = False


@dataclass(frozen=True)
class ExactParams:
    strip: bool = True
    casefold: bool = False


@dataclass(frozen=True)
class RegexParams:
    pattern: str = ""
    ignore_case: bool = False
    fullmatch: bool = False

    def validate(self, path: str) -> list[str]:
        return required(f"{path}.pattern", self.pattern)


@dataclass(frozen=True)
class JsonValidParams:
    strip_code_fence: bool = False


@dataclass(frozen=True)
class JsonSchemaParams:
    schema: dict[str, Any] | None = None  # a JSON Schema object inline, or
    schema_file: str = ""  # a path to one
    strip_code_fence: bool = False

    def validate(self, path: str) -> list[str]:
        if (self.schema is None) == (not self.schema_file):
            return [f"{path}.schema: set exactly one of schema (a mapping) or schema_file (a path)"]
        return []


@dataclass(frozen=True)
class JudgeParams:
    base_url: str = ""  # an OpenAI-compatible endpoint, e.g. http://localhost:8000/v1
    model: str = ""
    api_key_env: str = ""  # the environment variable holding the API key
    allow_plain_http_api_key: bool = False
    rubric: str = judge.DEFAULT_RUBRIC
    scale: float = 10.0
    timeout_s: float = 30.0
    max_retries: int = 3
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    max_concurrency: int = 4
    budget_tokens_per_hour: int = 0  # 0: no budget
    max_tokens: int = 200  # 0: leave the reply length to the endpoint
    temperature: float = 0.0
    max_field_chars: int = 8000

    def validate(self, path: str) -> list[str]:
        problems = [*required(f"{path}.base_url", self.base_url), *required(f"{path}.model", self.model)]
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            problems.append(f"{path}.base_url: must start with http:// or https://, got {self.base_url!r}")
        problems += [f"{path}.rubric: {problem}" for problem in judge.check_rubric(self.rubric)]
        for name, low, high, low_open in (
            ("scale", 0.0, None, True),
            ("timeout_s", 0.0, None, True),
            ("max_retries", 0, 10, False),
            ("backoff_initial_s", 0.0, None, False),
            ("backoff_max_s", 0.0, None, False),
            ("max_concurrency", 1, None, False),
            ("budget_tokens_per_hour", 0, None, False),
            ("max_tokens", 0, None, False),
            ("temperature", 0.0, 2.0, False),
            ("max_field_chars", 100, None, False),
        ):
            problems += out_of_range(
                f"{path}.{name}", getattr(self, name), low=low, high=high, low_open=low_open
            )
        return problems
