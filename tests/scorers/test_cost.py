"""Bounded cost per case: the heuristic scorers on the largest case a Kafka record admits (1 MiB).

CPU time (time.process_time, the least of three runs against noise from other processes) must stay
under ~100 ms for all heuristic scorers together, whatever the text: each scorer reads at most
`max_text_chars` of each text and matches words in linear time.
"""

from __future__ import annotations

import json
import random
import time

from processor.model import EvalCase
from processor.scorers import build_scorers, run_scorers
from processor.scorers._text import _SoftIndex, coverage, word_match
from processor.scorers.config import ScorerSpec

KAFKA_RECORD_LIMIT = 1 << 20
HEURISTIC = (
    "relevance",
    "context_relevance",
    "groundedness",
    "language_match",
    "contains",
    "exact",
    "json_valid",
)


def _distinct_words(rng: random.Random, n_chars: int) -> str:
    """Distinct words in three scripts (ASCII, accented Latin, CJK): the worst case for word matching."""
    latin = "abcdefghijklmnopqrstuvwxyzéüßø"
    cjk = [chr(c) for c in range(0x4E00, 0x4E00 + 2000)]
    out: list[str] = []
    size = 0
    while size < n_chars:
        kind = rng.random()
        if kind < 0.8:
            word = "".join(rng.choice(latin) for _ in range(rng.randint(4, 12)))
        elif kind < 0.9:
            word = "".join(rng.choice(cjk) for _ in range(rng.randint(2, 8)))
        else:
            word = f"v{rng.randint(0, 10**6)}"
        out.append(word)
        size += len(word.encode()) + 1
    return " ".join(out)


def _largest_case(seed: int) -> EvalCase:
    """About a third of the 1 MiB record each for question, answer and context (ten documents)."""
    rng = random.Random(seed)
    third = KAFKA_RECORD_LIMIT // 3 - 1000  # the record also carries ids, labels and framing
    documents = tuple(_distinct_words(rng, third // 10) for _ in range(10))
    return EvalCase(
        input=_distinct_words(rng, third),
        output=_distinct_words(rng, third),
        expected=_distinct_words(rng, 1000),
        context=documents,
    )


def test_the_largest_admissible_case_costs_under_100ms_of_scorer_cpu() -> None:
    scorers = build_scorers([ScorerSpec(name=name) for name in HEURISTIC])
    costs = []
    for seed in range(3):  # a new case each run: the tokeniser's per-case cache must not help
        case = _largest_case(seed)
        size = sum(len(t.encode()) for t in (case.input, case.output, *case.context))
        assert 0.95 * KAFKA_RECORD_LIMIT < size <= KAFKA_RECORD_LIMIT
        started = time.process_time()
        scores = run_scorers(scorers, case)
        costs.append(time.process_time() - started)
    assert all(s.outcome.value == "scored" for s in scores), scores
    assert min(costs) < 0.100, f"scorer CPU per case: {[round(c * 1000) for c in costs]} ms"


def test_coverage_is_word_match_without_the_pairwise_scan() -> None:
    """The indexed coverage gives exactly what comparing every needle with every hay word gives."""
    rng = random.Random(3)

    def word() -> str:
        return "".join(rng.choice("abcde1") for _ in range(rng.randint(1, 9)))

    for _ in range(2000):
        hay = [word() for _ in range(rng.randint(0, 30))]
        index = _SoftIndex(hay)
        for needle in (word() for _ in range(10)):
            assert index.best(needle) == max((word_match(needle, h) for h in hay), default=0.0), (needle, hay)
    assert coverage(["refund", "window"], ["refunded", "windows"]) == 0.9


def test_coverage_cost_grows_linearly() -> None:
    """4,000 distinct words per side took 52 s with the pairwise scan; 8x the words must cost ~8x."""
    rng = random.Random(5)

    def side(n: int) -> list[str]:
        return _distinct_words(rng, n * 9).split()[:n]

    def cost(n: int) -> float:
        needles, hay = side(n), side(n)
        started = time.process_time()
        coverage(needles, hay)
        return time.process_time() - started

    small = min(cost(4_000) for _ in range(3))
    large = min(cost(32_000) for _ in range(3))
    assert large < 0.5
    assert large < 20 * max(small, 0.001)


def test_a_pathological_user_regex_costs_its_timeout_not_minutes() -> None:
    """`(a|aa)+$` backtracks exponentially on 40 a's and a b (hours with `re`); the `regex` module's
    matching timeout makes it an ERROR `timeout` after `timeout_s` of CPU; a sane pattern on the
    largest answer still scores."""
    params = {"pattern": "(a|aa)+$", "timeout_s": 0.05}
    (scorer,) = build_scorers([ScorerSpec(name="regex", params=params)])
    started = time.process_time()
    score = scorer(EvalCase(input="q", output="a" * 40 + "b"))
    assert time.process_time() - started < 1.0
    assert (score.outcome.value, score.reason) == ("error", "timeout")
    (sane,) = build_scorers([ScorerSpec(name="regex", params={"pattern": r"\bv\d+\b"})])
    assert sane(_largest_case(0)).value == 1.0


def test_json_schema_reads_at_most_max_text_chars_of_the_answer() -> None:
    """`uniqueItems` over objects is quadratic in jsonschema (an array of 2,500 objects, 31 KB: ~4 s):
    a longer answer than `max_text_chars` (20,000) is skipped `too_long`, never validated."""
    schema = {"type": "array", "uniqueItems": True}
    (scorer,) = build_scorers([ScorerSpec(name="json_schema", params={"schema": schema})])
    long_answer = json.dumps([{"a": i} for i in range(2_500)])
    started = time.process_time()
    score = scorer(EvalCase(input="q", output=long_answer))
    assert time.process_time() - started < 0.1
    assert (score.outcome.value, score.reason) == ("skipped", "too_long")
    assert scorer(EvalCase(input="q", output=json.dumps([{"a": i} for i in range(100)]))).value == 1.0
