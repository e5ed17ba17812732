"""Contract scorers: deterministic pass/fail checks on the answer's text. Each scores 1.0 or 0.0.

    contains     expected appears in the answer (case-insensitive by default), as in the CI gate
    exact        the answer equals expected (optionally stripped / casefolded)
    regex        the answer matches a pattern compiled at build time (the `regex` module, with a timeout)
    json_valid   the answer is one JSON document
    json_schema  the answer is JSON valid against a schema read and checked at build time

`contains` and `exact` skip with `no_expected` when the case has no expected answer. Explanations
never quote the answer: a schema failure names the JSON path and the failing keyword only.

Bounded cost: a user's pattern can backtrack exponentially (`(a|aa)+$`) on a short answer, so capping
the text would not bound `regex`; the `regex` module's matching timeout does (an ERROR `timeout`).
`json_schema` reads answers of at most `max_text_chars` (longer: skipped `too_long`), since
validation can be quadratic in the document (`uniqueItems` over objects); the schema's own `pattern`
keywords are the schema author's responsibility.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
import jsonschema.exceptions
import jsonschema.protocols
import regex

from processor.decode import out_of_range, required
from processor.model import EvalCase, Score

DEFAULT_THRESHOLD = 1.0
DEFAULT_REGEX_TIMEOUT_S = 0.1
DEFAULT_SCHEMA_MAX_TEXT_CHARS = 20_000

_FENCE = re.compile(r"\A\s*```[\w-]*[ \t]*\n(.*?)\n?```\s*\Z", re.DOTALL)


def strip_code_fence(text: str) -> str:
    """The body of a Markdown code fence wrapping the whole text (```json ... ```), else the text."""
    match = _FENCE.match(text)
    return match.group(1) if match else text


def _verdict(name: str, ok: bool, threshold: float | None, explanation: str = "") -> Score:
    return Score.scored(name, 1.0 if ok else 0.0, threshold=threshold, explanation=explanation)


class ContainsScorer:
    """`contains`: `expected` is a substring of the answer."""

    def __init__(self, name: str, *, threshold: float | None, case_sensitive: bool) -> None:
        self.name = name
        self.threshold = threshold
        self._case_sensitive = case_sensitive

    def _norm(self, text: str) -> str:
        text = unicodedata.normalize("NFKC", text)
        return text if self._case_sensitive else text.casefold()

    def __call__(self, case: EvalCase) -> Score:
        if case.expected is None or not case.expected.strip():
            return Score.skipped(self.name, "no_expected")
        ok = self._norm(case.expected.strip()) in self._norm(case.output)
        return _verdict(self.name, ok, self.threshold, "" if ok else "expected text not found in the answer")


class ExactScorer:
    """`exact`: the answer equals `expected`."""

    def __init__(self, name: str, *, threshold: float | None, strip: bool, casefold: bool) -> None:
        self.name = name
        self.threshold = threshold
        self._strip = strip
        self._casefold = casefold

    def _norm(self, text: str) -> str:
        if self._strip:
            text = text.strip()
        return text.casefold() if self._casefold else text

    def __call__(self, case: EvalCase) -> Score:
        if case.expected is None:
            return Score.skipped(self.name, "no_expected")
        ok = self._norm(case.output) == self._norm(case.expected)
        return _verdict(self.name, ok, self.threshold, "" if ok else "answer differs from expected")


class RegexScorer:
    """`regex`: the answer matches `pattern` (search anywhere, or the whole answer with `fullmatch`)."""

    def __init__(
        self,
        name: str,
        *,
        threshold: float | None,
        pattern: regex.Pattern[str],
        fullmatch: bool,
        timeout_s: float = DEFAULT_REGEX_TIMEOUT_S,
    ) -> None:
        self.name = name
        self.threshold = threshold
        self._pattern = pattern
        self._fullmatch = fullmatch
        self._timeout_s = timeout_s

    def __call__(self, case: EvalCase) -> Score:
        text = case.output
        match = self._pattern.fullmatch if self._fullmatch else self._pattern.search
        try:
            found = match(text, timeout=self._timeout_s)
        except TimeoutError:
            why = f"the pattern ran over {self._timeout_s:g}s on a {len(text)}-character answer"
            return Score.errored(self.name, "timeout", why)
        return _verdict(
            self.name, found is not None, self.threshold, "" if found else "pattern did not match"
        )


def _parse_json(text: str, *, strip_fence: bool) -> tuple[bool, Any, str]:
    if strip_fence:
        text = strip_code_fence(text)
    try:
        return True, json.loads(text), ""
    except (ValueError, RecursionError) as exc:
        # The position is useful; the message's quoted text is not ours to repeat.
        pos = getattr(exc, "pos", None)
        return False, None, "not valid JSON" + (f" (at character {pos})" if pos is not None else "")


class JsonValidScorer:
    """`json_valid`: the answer is a single JSON document."""

    def __init__(self, name: str, *, threshold: float | None, strip_fence: bool) -> None:
        self.name = name
        self.threshold = threshold
        self._strip_fence = strip_fence

    def __call__(self, case: EvalCase) -> Score:
        ok, _, why = _parse_json(case.output, strip_fence=self._strip_fence)
        return _verdict(self.name, ok, self.threshold, why)


def check_schema(schema: Mapping[str, Any]) -> jsonschema.protocols.Validator:
    """A validator for `schema` (its `$schema` draft, else the latest); raises SchemaError if invalid."""
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _json_path(error: jsonschema.exceptions.ValidationError) -> str:
    path = "$"
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


class JsonSchemaScorer:
    """`json_schema`: the answer is JSON and valid against the configured schema."""

    def __init__(
        self,
        name: str,
        *,
        threshold: float | None,
        validator: jsonschema.protocols.Validator,
        strip_fence: bool,
        max_text_chars: int = DEFAULT_SCHEMA_MAX_TEXT_CHARS,
    ) -> None:
        self.name = name
        self.threshold = threshold
        self._validator = validator
        self._strip_fence = strip_fence
        self._max_chars = max_text_chars

    def __call__(self, case: EvalCase) -> Score:
        if len(case.output) > self._max_chars:  # a cut JSON document is no document: not judged
            return Score.skipped(
                self.name, "too_long", f"answer of {len(case.output)} characters, over max_text_chars"
            )
        ok, document, why = _parse_json(case.output, strip_fence=self._strip_fence)
        if not ok:
            return _verdict(self.name, False, self.threshold, why)
        error = jsonschema.exceptions.best_match(self._validator.iter_errors(document))
        if error is None:
            return _verdict(self.name, True, self.threshold)
        return _verdict(self.name, False, self.threshold, f"{_json_path(error)}: fails '{error.validator}'")


# --- each scorer's `params`, decoded by processor.decode (registry.py builds the scorers from them) ---


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
    timeout_s: float = DEFAULT_REGEX_TIMEOUT_S  # a pathological pattern errs `timeout` instead of hanging

    def validate(self, path: str) -> list[str]:
        return [
            *required(f"{path}.pattern", self.pattern),
            *out_of_range(f"{path}.timeout_s", self.timeout_s, low=0.0, low_open=True),
        ]


@dataclass(frozen=True)
class JsonValidParams:
    strip_code_fence: bool = False


@dataclass(frozen=True)
class JsonSchemaParams:
    schema: dict[str, Any] | None = None  # a JSON Schema object inline, or
    schema_file: str = ""  # a path to one
    strip_code_fence: bool = False
    max_text_chars: int = DEFAULT_SCHEMA_MAX_TEXT_CHARS  # longer answers are skipped `too_long`

    def validate(self, path: str) -> list[str]:
        problems = out_of_range(f"{path}.max_text_chars", self.max_text_chars, low=100)
        if (self.schema is None) == (not self.schema_file):
            problems.append(f"{path}.schema: set exactly one of schema (a mapping) or schema_file (a path)")
        return problems
