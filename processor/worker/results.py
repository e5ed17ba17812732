"""One score as the results-topic message (`evalstream.v1.EvalResult`), the input of golden-set harvesting."""

from __future__ import annotations

import time

from processor._proto import eval_result_pb2
from processor.model import EvalCase, Outcome, Score
from processor.transport import Record, Signal

_OUTCOMES = {
    Outcome.SCORED: eval_result_pb2.EvalResult.OUTCOME_SCORED,
    Outcome.SKIPPED: eval_result_pb2.EvalResult.OUTCOME_SKIPPED,
    Outcome.ERROR: eval_result_pb2.EvalResult.OUTCOME_ERROR,
}


def eval_result(case: EvalCase, score: Score, *, now_ns: int | None = None) -> eval_result_pb2.EvalResult:
    return eval_result_pb2.EvalResult(
        trace_id=case.trace_id,
        span_id=case.span_id,
        response_id=case.response_id,
        scorer=score.name,
        outcome=_OUTCOMES[score.outcome],
        score=score.value if score.value is not None else 0.0,
        passed=bool(score.passed),
        threshold=score.threshold if score.threshold is not None else 0.0,
        reason=score.reason,
        explanation=score.explanation,
        labels=dict(case.labels),
        question=case.input,
        answer=case.output,
        context=list(case.context),
        model=case.model,
        provider=case.provider,
        scored_time_unix_nano=time.time_ns() if now_ns is None else now_ns,
        source=case.source,
    )


def result_record(case: EvalCase, score: Score) -> Record:
    """Keyed by trace id like the input topics, so one trace's results stay on one partition."""
    return Record(Signal.RESULTS, case.trace_id.encode("ascii"), eval_result(case, score).SerializeToString())
