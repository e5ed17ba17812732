from __future__ import annotations

from processor._proto import eval_result_pb2
from processor.model import EvalCase, Score
from processor.worker.results import MAX_RESULT_BYTES, result_record


def test_a_result_always_fits_its_limit_by_cutting_the_longest_texts() -> None:
    case = EvalCase(
        input="q" * 600_000,
        output="a" * 300_000,
        context=("c" * 200_000, "short doc"),
        labels={"tenant": "t" * 100_000, "locale": "de-DE"},
        trace_id="ab" * 16,
    )
    record = result_record(case, Score.scored("relevance", 0.5, explanation="e" * 50_000))
    assert len(record.value) <= MAX_RESULT_BYTES
    result = eval_result_pb2.EvalResult.FromString(record.value)
    assert result.question.startswith("qqq") and result.question.endswith("…")
    assert list(result.context)[1] == "short doc" and result.labels["locale"] == "de-DE"
    assert result.score == 0.5 and result.trace_id == "ab" * 16
    small = result_record(EvalCase(input="q", output="a"), Score.scored("relevance", 0.5), max_bytes=2_000)
    assert eval_result_pb2.EvalResult.FromString(small.value).question == "q"  # nothing cut when it fits
