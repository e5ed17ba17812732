"""Heuristics over the retrieved context (`case.context`): is it on the question, does it back the answer.

- `context_relevance`: the best document's relevance to the question, computed like `relevance`
  (word coverage + character 4-grams, see `relevance.py`). Low means retrieval fetched the wrong
  documents, whatever the model then did with them.
- `groundedness`: how much of the answer the documents support. The answer's content words are
  matched against all documents together (exact, shared stem, compound part); numbers and codes
  (`30`, `v3`, `AES-256`) must appear verbatim, and each one missing scales the score down, since
  a wrong figure or policy version is the costly kind of unsupported claim:

      value = word_coverage * (0.5 + 0.5 * numbers_found / numbers_in_answer)

Both skip with `no_context` when the case has no context, and work in any language `_text` can
tokenise. Neither sees meaning: a paraphrase in other words scores low; `judge` can do better.
Each reads at most `max_text_chars` (default 20,000) of the question, of the answer and of all the
documents together, so the cost per case is bounded whatever the span carried.
"""

from __future__ import annotations

from collections.abc import Iterable

from processor.model import EvalCase, Score
from processor.scorers import _text
from processor.scorers.relevance import terms_relevance

DEFAULT_CONTEXT_RELEVANCE_THRESHOLD = 0.5
DEFAULT_GROUNDEDNESS_THRESHOLD = 0.6


def _documents(case: EvalCase) -> list[str]:
    return [doc for doc in case.context if doc and doc.strip()]


def context_relevance_value(question: str, documents: Iterable[str], *, stopwords: Iterable[str]) -> float:
    """The relevance of the best-matching document to `question`."""
    terms = _text.content_terms(question, stopwords=stopwords)
    return max((terms_relevance(terms, doc, stopwords=stopwords) for doc in documents), default=0.0)


def groundedness_value(
    answer: str, documents: Iterable[str], *, stopwords: Iterable[str]
) -> tuple[float, str]:
    """(score, explanation): how much of `answer` the documents support; 0 for an empty answer."""
    answer_terms = _text.content_terms(answer, stopwords=stopwords)
    if answer_terms.empty:
        return 0.0, "empty answer"
    context_words: list[str] = []
    for doc in documents:
        context_words.extend(_text.words(doc))
    cov = _text.coverage(answer_terms.words, context_words)
    numbers = [w for w in answer_terms.words if any(c.isdigit() for c in w)]
    if not numbers:
        return cov, f"word coverage {cov:.2f}"
    present = set(context_words)
    found = sum(1 for n in numbers if n in present)
    value = cov * (0.5 + 0.5 * found / len(numbers))
    return value, f"word coverage {cov:.2f}; {found} of {len(numbers)} numbers found in the context"


class _ContextScorer:
    """What both context scorers share: their settings, and a case's retrieved documents, capped."""

    def __init__(
        self,
        name: str,
        *,
        threshold: float | None,
        stopwords: frozenset[str],
        max_text_chars: int = _text.DEFAULT_MAX_TEXT_CHARS,
    ) -> None:
        self.name = name
        self.threshold = threshold
        self._stopwords = stopwords
        self._max_chars = max_text_chars

    def _capped_documents(self, case: EvalCase) -> list[str]:
        return _text.capped_all(_documents(case), self._max_chars)


class ContextRelevanceScorer(_ContextScorer):
    """`context_relevance`: is the retrieved context about the question?"""

    def __call__(self, case: EvalCase) -> Score:
        documents = self._capped_documents(case)
        if not documents:
            return Score.skipped(self.name, "no_context")
        question = _text.capped(case.input, self._max_chars)
        if not _text.words(question):
            return Score.skipped(self.name, "no_question")
        value = context_relevance_value(question, documents, stopwords=self._stopwords)
        return Score.scored(self.name, value, threshold=self.threshold)


class GroundednessScorer(_ContextScorer):
    """`groundedness`: does the retrieved context support the answer?"""

    def __call__(self, case: EvalCase) -> Score:
        documents = self._capped_documents(case)
        if not documents:
            return Score.skipped(self.name, "no_context")
        answer = _text.capped(case.output, self._max_chars)
        value, explanation = groundedness_value(answer, documents, stopwords=self._stopwords)
        return Score.scored(self.name, value, threshold=self.threshold, explanation=explanation)
