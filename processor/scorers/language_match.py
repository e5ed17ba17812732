"""Language match: is the answer in the language the user wrote in (or the one its `locale` label says)?

Catches "the new locale floods in and gets answered in English". The language of a text comes from
`py3langid` (a naive Bayes model over byte n-grams, 140 languages, numpy only; its model ships in
the wheel, so nothing is downloaded), with probabilities normalised to [0, 1] over `languages`:
by default about 40 widely written ones, since close relatives a support bot never meets (Galician
next to Spanish, Nigerian Pidgin next to English) otherwise take enough probability to make plain
answers look unsure. The scorer skips rather than guesses:

- `too_short`: the answer has fewer than `min_letters` letters: "OK", "30 days" or a bare number
  say nothing about a language;
- `unsure`: the detector's probability for its best language is below `min_confidence`;
- `question_too_short`, `question_unsure`: the question cannot tell the expected language and
  there is no `locale` label to fall back on;
- `no_language`: no question and no `locale` label (or `expect: locale` and no label);
- `unsupported_language`: the `locale` label names a language outside `languages`.

The expected language is, with `expect: auto` (the default), the question's: a good answer follows
the user's language even when it differs from the UI locale. When the question is too short or
unsure, the `locale` label's language fills in (`de-DE` -> `de`, `pt_BR` -> `pt`). `expect:
question` or `expect: locale` use only the one. The score is 1 when the answer's language is the
expected one, 0 when not. Texts are cut to `max_chars` first.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from processor.decode import out_of_range
from processor.model import UNKNOWN, EvalCase, Score

DEFAULT_THRESHOLD = 0.5
DEFAULT_MIN_LETTERS = 20
DEFAULT_MIN_CONFIDENCE = 0.6
DEFAULT_MAX_CHARS = 1000
EXPECT_CHOICES = ("auto", "locale", "question")

#: The languages told apart by default (ISO 639-1): widely written ones, no rare close relatives.
DEFAULT_LANGUAGES: tuple[str, ...] = (
    "ar", "bg", "bn", "ca", "cs", "da", "de", "el", "en", "es", "et", "fa", "fi", "fr",
    "he", "hi", "hr", "hu", "id", "it", "ja", "ko", "lt", "lv", "ms", "nl", "no", "pl",
    "pt", "ro", "ru", "sk", "sl", "sr", "sv", "th", "tr", "uk", "ur", "vi", "zh",
)  # fmt: skip

#: Codes the detector and locales spell differently for one language.
_ALIASES = {"nb": "no", "iw": "he", "in": "id", "ji": "yi", "fil": "tl"}

_lock = threading.Lock()
_model: Any = None
_identifiers: dict[tuple[str, ...], Any] = {}


def _full_model() -> Any:
    """The bundled model over all its languages, loaded once per process (~0.5 s, ~100 MB)."""
    global _model
    if _model is None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        _model = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _model


def known_languages() -> list[str]:
    """Every language code the bundled model knows."""
    with _lock:
        return list(dict.fromkeys(_full_model().nb_classes))


def language_identifier(languages: Sequence[str] = DEFAULT_LANGUAGES) -> Any:
    """An identifier over `languages` (all when empty), one per set and process. Thread-safe to use.

    Every set shares the full model's tables; restricting to a set copies only its columns.
    """
    key = tuple(sorted(set(languages)))
    with _lock:
        identifier = _identifiers.get(key)
        if identifier is None:
            from py3langid.langid import LanguageIdentifier

            full = _full_model()
            identifier = LanguageIdentifier(
                full.nb_ptc,
                full.nb_pc,
                full.nb_classes,
                full.tk_nextmove,
                full.tk_output,
                norm_probs=True,
                tk_row=full.tk_row,
            )
            if key:
                identifier.set_languages(list(key))
            _identifiers[key] = identifier
        return identifier


def locale_language(locale: str) -> str:
    """`de-DE` -> `de`, `pt_BR` -> `pt`, `zh-Hans-CN` -> `zh`; '' for an empty or unknown label."""
    if not locale or locale == UNKNOWN:
        return ""
    base = locale.replace("_", "-").split("-", 1)[0].strip().lower()
    return _ALIASES.get(base, base) if base.isalpha() else ""


class LanguageMatchScorer:
    """`language_match`: 1 when `case.output` is in the expected language, 0 when not, else a skip."""

    def __init__(
        self,
        name: str,
        *,
        threshold: float | None,
        expect: str = "auto",
        locale_label: str = "locale",
        min_letters: int = DEFAULT_MIN_LETTERS,
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
        max_chars: int = DEFAULT_MAX_CHARS,
        languages: Sequence[str] = DEFAULT_LANGUAGES,
    ) -> None:
        self.name = name
        self.threshold = threshold
        self._expect = expect
        self._locale_label = locale_label
        self._min_letters = min_letters
        self._min_confidence = min_confidence
        self._max_chars = max_chars
        self._languages = frozenset(languages)
        self._identifier = language_identifier(languages)

    def detect(self, text: str) -> tuple[str, float, str]:
        """(language, probability, skip reason): the reason is '' when the language can be trusted."""
        text = text[: self._max_chars]
        if sum(1 for c in text if c.isalpha()) < self._min_letters:
            return "", 0.0, "too_short"
        language, probability = self._identifier.classify(text)
        language = _ALIASES.get(language, language)
        if probability < self._min_confidence:
            return language, probability, "unsure"
        return language, probability, ""

    def _expected(self, case: EvalCase) -> tuple[str, str, str]:
        """(language, where it came from, skip reason)."""
        question_reason = "no_language"
        if self._expect in ("auto", "question") and case.input.strip():
            language, probability, reason = self.detect(case.input)
            if not reason:
                return language, f"the question ({probability:.2f})", ""
            question_reason = f"question_{reason}"
        if self._expect in ("auto", "locale"):
            from_label = locale_language(case.label(self._locale_label))
            if from_label and self._languages and from_label not in self._languages:
                return "", "", "unsupported_language"
            if from_label:
                return from_label, f"the {self._locale_label} label", ""
        return "", "", question_reason if self._expect != "locale" else "no_language"

    def __call__(self, case: EvalCase) -> Score:
        answer, probability, reason = self.detect(case.output)
        if reason:
            return Score.skipped(self.name, reason, f"answer: {answer or '?'} ({probability:.2f})")
        expected, source, reason = self._expected(case)
        if reason:
            return Score.skipped(self.name, reason, f"expected language unknown ({reason})")
        value = 1.0 if answer == expected else 0.0
        explanation = f"answer is {answer} ({probability:.2f}), expected {expected} from {source}"
        return Score.scored(self.name, value, threshold=self.threshold, explanation=explanation)


@dataclass(frozen=True)
class LanguageMatchParams:
    """language_match's `params`, decoded by processor.decode."""

    expect: str = "auto"
    locale_label: str = "locale"
    min_letters: int = DEFAULT_MIN_LETTERS
    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    max_chars: int = DEFAULT_MAX_CHARS
    languages: list[str] = field(default_factory=lambda: list(DEFAULT_LANGUAGES))

    def validate(self, path: str) -> list[str]:
        problems: list[str] = []
        if self.expect not in EXPECT_CHOICES:
            choices = ", ".join(EXPECT_CHOICES)
            problems.append(f"{path}.expect: must be one of {choices}, got {self.expect!r}")
        problems += out_of_range(f"{path}.min_letters", self.min_letters, low=1)
        problems += out_of_range(f"{path}.min_confidence", self.min_confidence, low=0.0, high=1.0)
        problems += out_of_range(f"{path}.max_chars", self.max_chars, low=1)
        unknown = sorted(set(self.languages) - set(known_languages()))
        if unknown:
            problems.append(
                f"{path}.languages: unknown language codes {', '.join(unknown)} (ISO 639-1, e.g. de, pt)"
            )
        return problems
