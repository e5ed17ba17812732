"""Benchmark: how well each scorer separates good answers from bad, and what it costs per case.

Reproduce:  .venv/bin/python bench/scorers_auc.py [--repeat 8]

Data: bench/data/relevance_multilingual.jsonl, written for this benchmark: 8 support questions in
each of 7 languages (en de fr es it pt nl), each with 5 answers:

  on_topic        answers the question in its own words                     relevant, right language
  paraphrase      answers it without one content word of the question       relevant, right language
  off_topic x2    another question's answer / paraphrase, same language     not relevant
  wrong_language  the on-topic answer in English (German for English)       relevant, wrong language

Prints, per scorer, the ROC AUC of relevant (on_topic + paraphrase) vs off_topic, of paraphrase
alone vs off_topic, the accuracy of its default threshold, the mean score of each kind, and for
`language_match` the AUC / accuracy of right vs wrong language; then each scorer's cost in cases
per CPU-second (time.process_time) one case at a time (`run_scorers`, as the worker calls today) and
in batches of 64 (`run_scorers_batch`). `context_relevance` and `groundedness` need retrieved
context, which this set has not: see bench/worker_scoring.py for their cost.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import time
from collections.abc import Sequence

from processor.model import EvalCase, Outcome, Score
from processor.scorers import Scorer, build_scorer, run_scorers, run_scorers_batch
from processor.scorers.config import ScorerSpec

DATA = pathlib.Path(__file__).parent / "data" / "relevance_multilingual.jsonl"
RELEVANCE_SCORERS = ("relevance", "semantic_relevance")
KINDS = ("on_topic", "paraphrase", "off_topic", "wrong_language")
BATCH = 64


def roc_auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """P(a random positive scores above a random negative), ties counting half (Mann-Whitney U)."""
    if not positives or not negatives:
        return float("nan")
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def load() -> tuple[list[dict[str, object]], list[EvalCase]]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    cases = [
        EvalCase(input=str(r["question"]), output=str(r["answer"]), labels={"locale": str(r["locale"])})
        for r in rows
    ]
    return rows, cases


def values(scores: Sequence[Score], rows: Sequence[dict[str, object]], keep: object) -> list[float]:
    return [s.value for s, r in zip(scores, rows, strict=True) if s.value is not None and keep(r)]  # type: ignore[operator]


def quality(name: str, scores: list[Score], rows: list[dict[str, object]], threshold: float) -> None:
    if name == "language_match":
        right = values(scores, rows, lambda r: r["language_ok"])
        wrong = values(scores, rows, lambda r: not r["language_ok"])
        skipped = sum(1 for s in scores if s.outcome is Outcome.SKIPPED)
        correct = sum(1 for v in right if v >= threshold) + sum(1 for v in wrong if v < threshold)
        print(
            f"  {name:20s} AUC right vs wrong language {roc_auc(right, wrong):.3f}   "
            f"accuracy {correct / (len(right) + len(wrong)):.3f} of the {len(right) + len(wrong)} scored, "
            f"{skipped} skipped (too short / unsure)"
        )
        return
    relevant = values(scores, rows, lambda r: r["kind"] in ("on_topic", "paraphrase"))
    paraphrase = values(scores, rows, lambda r: r["kind"] == "paraphrase")
    off = values(scores, rows, lambda r: r["kind"] == "off_topic")
    correct = sum(1 for v in relevant if v >= threshold) + sum(1 for v in off if v < threshold)
    means = "  ".join(
        f"{kind} {statistics.fmean(values(scores, rows, lambda r, k=kind: r['kind'] == k)):.2f}"
        for kind in KINDS
    )
    print(
        f"  {name:20s} AUC relevant vs off-topic {roc_auc(relevant, off):.3f}   "
        f"paraphrase vs off-topic {roc_auc(paraphrase, off):.3f}   "
        f"accuracy at {threshold:g}: {correct / (len(relevant) + len(off)):.3f}"
    )
    print(f"  {'':20s} mean: {means}")


def throughput(scorer: Scorer, cases: list[EvalCase], repeat: int) -> tuple[float, float]:
    """(cases per CPU-second one at a time, in batches of BATCH)."""
    many = cases * repeat
    start = time.process_time()
    for case in many:
        run_scorers([scorer], case)
    single = len(many) / (time.process_time() - start)
    start = time.process_time()
    for i in range(0, len(many), BATCH):
        run_scorers_batch([scorer], many[i : i + BATCH])
    batched = len(many) / (time.process_time() - start)
    return single, batched


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=8, help="score the set this many times for the timing")
    args = parser.parse_args()
    rows, cases = load()
    languages = sorted({str(r["language"]) for r in rows})
    where = DATA.relative_to(DATA.parents[2])
    print(f"{len(rows)} cases, {len(languages)} languages ({' '.join(languages)}): {where}")

    names = [*RELEVANCE_SCORERS, "language_match"]
    scorers = [build_scorer(ScorerSpec(name=n)) for n in names]
    print("\nquality (default parameters and thresholds)")
    for scorer in scorers:
        scores = [run_scorers([scorer], case)[0] for case in cases]
        quality(scorer.name, scores, rows, scorer.threshold if scorer.threshold is not None else 0.5)

    print(f"\ncost, cases per CPU-second ({len(cases) * args.repeat} cases each)")
    print(f"  {'scorer':20s} {'one at a time':>14s} {'batches of ' + str(BATCH):>16s}")
    for scorer in scorers:
        single, batched = throughput(scorer, cases, args.repeat)
        print(f"  {scorer.name:20s} {single:14,.0f} {batched:16,.0f}")
    print(f"\nreproduce: .venv/bin/python {' '.join(sys.argv)}")


if __name__ == "__main__":
    main()
