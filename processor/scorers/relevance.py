"""Heuristic relevance: how much of the question's content the answer takes up. Multilingual, no network.

    question  "What is the refund window for annual plans?"      -> refund window annual plans
    answer    "Annual plans can be refunded within 30 days ..."  -> annual plans refunded 30 days ...
    coverage  refund~refunded, annual, plans (window missing)    -> 0.74 of the question's weight

Two signals, both language-neutral (see `_text`):

- word coverage: the share of the question's content words (stopwords of several languages
  dropped, longer words weighing more) that the answer matches exactly, by shared stem or as part
  of a compound;
- character 4-gram containment: the share of the question words' 4-grams found in the answer's
  words, which catches partial compound and inflection overlap the word match misses.

`raw = 0.6 * coverage + 0.4 * ngrams`, and the score is `raw ** 0.8`: an answer taking up about 42%
of the question's weighted content reaches 0.5, the default threshold. It is a cheap online signal
for drift alerts, not a judgement: a correct answer that shares no words with the question (a bare
"5 to 8 days") scores low. Use the `judge` scorer where that matters.

The scorer reads at most `max_text_chars` (default 20,000) of the question and of the answer, so its
cost per case is bounded whatever the span carried.
"""

from __future__ import annotations

from collections.abc import Iterable

from processor.model import EvalCase, Score
from processor.scorers import _text

DEFAULT_THRESHOLD = 0.5

_COVERAGE_WEIGHT = 0.6
_CURVE = 0.8


def relevance_value(question: str, answer: str, *, stopwords: Iterable[str] | None = None) -> float:
    """The relevance of `answer` to `question` in [0, 1]; 0 for an empty answer."""
    stop = _text.default_stopwords() if stopwords is None else stopwords
    return terms_relevance(_text.content_terms(question, stopwords=stop), answer, stopwords=stop)


def terms_relevance(question_terms: _text.Terms, answer: str, *, stopwords: Iterable[str]) -> float:
    """`relevance_value` with the question's terms already extracted (reused across documents)."""
    answer_terms = _text.content_terms(answer, stopwords=stopwords)
    if answer_terms.empty or question_terms.empty:
        return 0.0
    cov = _text.coverage(question_terms.words, answer_terms.words)
    grams = _text.ngram_containment(question_terms.words, answer_terms.words)
    raw = _COVERAGE_WEIGHT * cov + (1 - _COVERAGE_WEIGHT) * grams
    return float(raw**_CURVE)


class RelevanceScorer:
    """`relevance`: heuristic relevance of `case.output` to `case.input`."""

    def __init__(
        self,
        name: str,
        *,
        threshold: float | None,
        stopwords: frozenset[str] | None,
        max_text_chars: int = _text.DEFAULT_MAX_TEXT_CHARS,
    ) -> None:
        self.name = name
        self.threshold = threshold
        self._stopwords = stopwords if stopwords is not None else frozenset()
        self._max_chars = max_text_chars

    def __call__(self, case: EvalCase) -> Score:
        question = _text.capped(case.input, self._max_chars)
        question_terms = _text.content_terms(question, stopwords=self._stopwords)
        if question_terms.empty:
            return Score.skipped(self.name, "no_question")
        answer = _text.capped(case.output, self._max_chars)
        value = terms_relevance(question_terms, answer, stopwords=self._stopwords)
        return Score.scored(self.name, value, threshold=self.threshold)
