"""One score as the results-topic message (`evalstream.v1.EvalResult`), the input of golden-set harvesting."""

from __future__ import annotations

import time
from typing import Any

from processor._proto import eval_result_pb2
from processor.model import EvalCase, Outcome, Score
from processor.transport import Record, Signal

_OUTCOMES = {
    Outcome.SCORED: eval_result_pb2.EvalResult.OUTCOME_SCORED,
    Outcome.SKIPPED: eval_result_pb2.EvalResult.OUTCOME_SKIPPED,
    Outcome.ERROR: eval_result_pb2.EvalResult.OUTCOME_ERROR,
}

#: A result carries the case's text (for harvesting), so one near the input record limit would not fit
#: a record itself, and a record the producer refuses would be retried for ever. Longer texts are cut.
MAX_RESULT_BYTES = 512 * 1024

_CUT = "…"


def _fields(case: EvalCase, score: Score) -> dict[str, Any]:
    return {
        "trace_id": case.trace_id,
        "span_id": case.span_id,
        "response_id": case.response_id,
        "scorer": score.name,
        "outcome": _OUTCOMES[score.outcome],
        "score": score.value if score.value is not None else 0.0,
        "passed": bool(score.passed),
        "threshold": score.threshold if score.threshold is not None else 0.0,
        "reason": score.reason,
        "explanation": score.explanation,
        "labels": dict(case.labels),
        "question": case.input,
        "answer": case.output,
        "context": list(case.context),
        "model": case.model,
        "provider": case.provider,
        "source": case.source,
    }


def eval_result(case: EvalCase, score: Score, *, now_ns: int | None = None) -> eval_result_pb2.EvalResult:
    return eval_result_pb2.EvalResult(
        **_fields(case, score), scored_time_unix_nano=time.time_ns() if now_ns is None else now_ns
    )


def _halve_longest(fields: dict[str, Any]) -> bool:
    """Cut the longest free text (question, answer, explanation, a document, a label value) in half."""
    places: list[tuple[int, Any, Any]] = [
        (len(fields[k]), fields, k) for k in ("question", "answer", "explanation", "reason")
    ]
    places += [(len(doc), fields["context"], i) for i, doc in enumerate(fields["context"])]
    places += [(len(v), fields["labels"], k) for k, v in fields["labels"].items()]
    length, owner, key = max(places, key=lambda place: place[0])
    if length <= 2 * len(_CUT):
        return False
    owner[key] = owner[key][: length // 2] + _CUT
    return True


def result_record(case: EvalCase, score: Score, *, max_bytes: int = MAX_RESULT_BYTES) -> Record:
    """Keyed by trace id like the input topics, so one trace's results stay on one partition.

    The value stays within `max_bytes`: while it does not, the longest text is cut in half (`…`).
    """
    fields = _fields(case, score)
    now_ns = time.time_ns()
    value = eval_result_pb2.EvalResult(**fields, scored_time_unix_nano=now_ns).SerializeToString()
    while len(value) > max_bytes and _halve_longest(fields):
        value = eval_result_pb2.EvalResult(**fields, scored_time_unix_nano=now_ns).SerializeToString()
    return Record(Signal.RESULTS, case.trace_id.encode("ascii"), value)
