"""Low-scoring production results -> golden-set candidates: deduplicated, redacted, ready for a person.

Reads the workers' EvalResult records, from the results topic (every partition from the beginning to
the end offsets taken at start, then it stops) or from a JSONL export of it (one
`json_format.MessageToDict(result, preserving_proto_field_name=True)` per line), and writes one
candidate line per scored LLM call with a SCORED result below `--below`:

    {"input": "...", "output": "...", "context": ["..."],
     "metadata": {"locale": "de-DE", "model": "gpt-4o-mini", ...},
     "provenance": {"trace_id": "...", "span_id": "...", "scorer": "relevance", "score": 0.21,
                    "time": "2026-03-02T10:15:00.000Z"}}

There is no `expected`: a person reads the output and writes it in; until then `contains` skips the
case. Several low results for the same call (trace id, span id) make one candidate, provenance naming
the lowest (and listing all under `scores`). The worst-scoring candidates come first.

Near-duplicates are dropped, against each other and against the inputs already in `--golden` files:
inputs are normalised (Unicode NFKC, casefold, punctuation and symbols to spaces, whitespace
collapsed) and two inputs are the same case when their token sets have a Jaccard similarity of at
least `--similarity` (0.9 by default), or normalise to the same text. Redaction
(`processor.redact`, on by default) runs first, on input, output and context, so nothing unredacted
is compared, kept or written; with `--config` its `redaction` section (kinds and your own patterns)
applies unless `--redact` or `--no-redact` is given.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from google.protobuf import json_format

from processor._proto.eval_result_pb2 import EvalResult
from processor.config import load
from processor.errors import ConfigError, TransportUnavailable
from processor.files import write_atomic
from processor.model import UNKNOWN
from processor.offline.golden import InputError, expand_paths, read_jsonl
from processor.redact import KINDS, Redactor, parse_kinds
from processor.transport.config import KafkaConfig
from processor.transport.topic_reader import TopicNotFound, read_topic

PROG = "python -m processor.offline.harvest"

EPILOG = """\
input (exactly one):
  --results FILE               a JSONL export of the results topic (MessageToDict per line)
  --bootstrap-servers HOST:PORT  read --topic from the beginning to its current end

exit codes:
  0  candidates written (possibly none)
  2  bad input or usage (the message names FILE:LINE and what is wrong)
  3  the broker could not be reached, or the end of the topic was not reached within --timeout
"""


class Unavailable(Exception):
    """The broker is unreachable or too slow: exit 3."""


# --- reading -------------------------------------------------------------------------------------------


def read_results_file(path: str) -> list[EvalResult]:
    """Every EvalResult of a JSONL export; raise InputError naming FILE:LINE for each bad line."""
    problems: list[str] = []
    [file] = expand_paths([path])
    results: list[EvalResult] = []
    for number, row in read_jsonl(file, problems):
        try:
            results.append(json_format.ParseDict(row, EvalResult(), ignore_unknown_fields=True))
        except json_format.ParseError as exc:
            problems.append(f"{file}:{number}: not an EvalResult: {exc}")
    if problems:
        raise InputError(problems)
    return results


def read_results_topic(config: KafkaConfig, topic: str, *, timeout_s: float) -> tuple[list[EvalResult], int]:
    """(results, undecodable records) from the whole topic; the workers' offsets never move."""
    try:
        values = read_topic(config, topic, timeout_s=timeout_s, client_id=f"{config.client_id}-harvest")
    except TopicNotFound as exc:
        raise InputError([f"--topic: {exc}"]) from None
    except TransportUnavailable as exc:
        raise Unavailable(str(exc)) from None
    results: list[EvalResult] = []
    bad = 0
    for value in values:
        try:
            results.append(EvalResult.FromString(value))
        except Exception:  # protobuf's DecodeError; a poison record must not stop the harvest
            bad += 1
    return results, bad


# --- candidates ----------------------------------------------------------------------------------------


@dataclass
class Candidate:
    input: str
    output: str
    context: list[str]
    labels: dict[str, str]
    provenance: dict[str, Any]
    score: float
    scores: dict[str, float] = field(default_factory=dict)

    def line(self) -> dict[str, Any]:
        data: dict[str, Any] = {"input": self.input, "output": self.output}
        if self.context:
            data["context"] = self.context
        data["metadata"] = self.labels
        provenance = dict(self.provenance)
        if len(self.scores) > 1:
            provenance["scores"] = dict(sorted(self.scores.items()))
        data["provenance"] = provenance
        return data


def _time(unix_nano: int) -> str:
    if not unix_nano:
        return ""
    when = dt.datetime.fromtimestamp(unix_nano / 1e9, tz=dt.UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def select(results: Iterable[EvalResult], *, below: float, scorers: Sequence[str] = ()) -> list[Candidate]:
    """One candidate per LLM call with a SCORED result below `below`, worst first."""
    calls: dict[tuple[str, ...], Candidate] = {}
    for result in results:
        if result.outcome != EvalResult.OUTCOME_SCORED or not result.score < below:
            continue
        if scorers and result.scorer not in scorers:
            continue
        if not result.question.strip():
            continue  # metadata-only instrumentation: nothing a person could turn into a case
        key = (result.trace_id, result.span_id) if result.trace_id else ("", result.question, result.answer)
        found = calls.get(key)
        if found is None:
            found = calls[key] = Candidate(
                input=result.question,
                output=result.answer,
                context=list(result.context),
                labels={k: v for k, v in sorted(result.labels.items()) if v and v != UNKNOWN},
                provenance={},
                score=float("inf"),
            )
        found.scores[result.scorer] = min(result.score, found.scores.get(result.scorer, float("inf")))
        if result.score < found.score:
            found.score = result.score
            found.provenance = {
                "trace_id": result.trace_id,
                "span_id": result.span_id,
                "scorer": result.scorer,
                "score": round(result.score, 4),
                "time": _time(result.scored_time_unix_nano),
            }
    return sorted(calls.values(), key=lambda c: (c.score, c.provenance["time"]))


def normalise(text: str) -> str:
    """NFKC, casefold, punctuation and symbols to spaces, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(" " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in text)
    return " ".join(text.split())


class NearDuplicates:
    """Remembers normalised inputs; `seen(text)` says whether a near-duplicate was added before."""

    def __init__(self, similarity: float = 0.9) -> None:
        self.similarity = similarity
        self._texts: set[str] = set()
        self._token_sets: list[frozenset[str]] = []

    def seen(self, text: str) -> bool:
        norm = normalise(text)
        if norm in self._texts:
            return True
        tokens = frozenset(norm.split())
        for other in self._token_sets:
            small, large = sorted((len(tokens), len(other)))
            if large == 0 or small / large < self.similarity:
                continue  # Jaccard <= |smaller| / |larger|: cannot reach the threshold
            if len(tokens & other) / len(tokens | other) >= self.similarity:
                return True
        return False

    def add(self, text: str) -> None:
        norm = normalise(text)
        self._texts.add(norm)
        self._token_sets.append(frozenset(norm.split()))


@dataclass
class HarvestStats:
    read: int = 0
    undecodable: int = 0
    low_calls: int = 0
    duplicate_of_golden: int = 0
    duplicate_of_candidate: int = 0
    written: int = 0
    redactions: dict[str, int] = field(default_factory=dict)


def harvest(
    results: Iterable[EvalResult],
    *,
    below: float = 0.5,
    scorers: Sequence[str] = (),
    golden_inputs: Iterable[str] = (),
    redactor: Redactor | None = None,
    similarity: float = 0.9,
    stats: HarvestStats | None = None,
) -> list[dict[str, Any]]:
    """The candidate lines: selected, redacted, then deduplicated against the golden set and each other."""
    stats = stats if stats is not None else HarvestStats()
    results = list(results)
    stats.read += len(results)
    golden = NearDuplicates(similarity)
    for text in golden_inputs:
        golden.add(redactor.redact(text) if redactor else text)
    kept = NearDuplicates(similarity)
    lines: list[dict[str, Any]] = []
    selected = select(results, below=below, scorers=scorers)
    stats.low_calls += len(selected)
    for candidate in selected:
        if redactor is not None:
            candidate.input = redactor.redact(candidate.input)
            candidate.output = redactor.redact(candidate.output)
            candidate.context = [redactor.redact(doc) for doc in candidate.context]
        if golden.seen(candidate.input):
            stats.duplicate_of_golden += 1
            continue
        if kept.seen(candidate.input):
            stats.duplicate_of_candidate += 1
            continue
        kept.add(candidate.input)
        lines.append(candidate.line())
    stats.written += len(lines)
    if redactor is not None:
        stats.redactions = dict(redactor.counts)
    return lines


def golden_inputs(patterns: Sequence[str]) -> list[str]:
    """The `input` of every line of the given golden files (lines without one are not cases: skipped)."""
    problems: list[str] = []
    inputs: list[str] = []
    for file in expand_paths(patterns):
        inputs.extend(
            row["input"] for _, row in read_jsonl(file, problems) if isinstance(row.get("input"), str)
        )
    if problems:
        raise InputError(problems)
    return inputs


# --- command line --------------------------------------------------------------------------------------


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, got {text}")
    return value


def _kinds(text: str) -> tuple[str, ...]:
    try:
        return parse_kinds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Write golden-set candidates (JSONL, no `expected`) for production calls that scored "
        "below --below, deduplicated and redacted.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--results", metavar="FILE", help="JSONL export of the results topic")
    source.add_argument("--bootstrap-servers", metavar="HOST:PORT[,...]", help="read the results topic")
    parser.add_argument("--topic", help="results topic (default: kafka.topics.results, evalstream_results)")
    parser.add_argument(
        "--config", metavar="FILE", help="evalstream YAML: its kafka section (servers, TLS/SASL)"
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="to reach the end of the topic (default %(default)s)",
    )
    parser.add_argument(
        "--below",
        type=_fraction,
        default=0.5,
        metavar="SCORE",
        help="harvest SCORED results below this score (default %(default)s)",
    )
    parser.add_argument(
        "--scorer",
        action="append",
        default=[],
        metavar="NAME",
        help="only results of this scorer (repeatable; default all)",
    )
    parser.add_argument(
        "--golden",
        action="append",
        default=[],
        metavar="GLOB",
        help="existing golden files: candidates near-duplicating their inputs are dropped",
    )
    parser.add_argument(
        "--similarity",
        type=_fraction,
        default=0.9,
        metavar="J",
        help="token-set Jaccard at or above which two inputs are duplicates (default %(default)s)",
    )
    parser.add_argument(
        "--redact",
        type=_kinds,
        default=None,
        metavar="KINDS",
        help="PII kinds to redact, comma-separated (default: the --config's redaction section, "
        f"else {','.join(KINDS)})",
    )
    parser.add_argument("--no-redact", action="store_true", help="write text unredacted")
    parser.add_argument(
        "-o", "--output", default="-", metavar="FILE", help="candidates JSONL (default stdout)"
    )
    return parser


def _redactor(args: argparse.Namespace) -> Redactor | None:
    """--no-redact, else --redact KINDS, else the --config's `redaction` section, else every kind."""
    if args.no_redact:
        return None
    if args.redact is not None:
        return Redactor(args.redact)
    if args.config:
        return load(args.config).redaction.redactor()
    return Redactor(KINDS)


def _kafka_config(config_path: str | None, bootstrap_servers: str | None) -> KafkaConfig:
    """The `kafka` section of --config (defaults without one), --bootstrap-servers taking precedence."""
    kafka = load(config_path).kafka if config_path else KafkaConfig()
    if bootstrap_servers:
        kafka = dataclasses.replace(kafka, bootstrap_servers=bootstrap_servers)
    return kafka


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run(args, out=out)
    except (InputError, ConfigError) as exc:
        for problem in exc.problems:
            print(f"{PROG}: {problem}", file=sys.stderr)
        return 2
    except Unavailable as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 3


def run(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    stats = HarvestStats()
    existing = golden_inputs(args.golden) if args.golden else []
    if args.results:
        if args.topic or args.config:
            raise InputError(["--topic and --config are for reading Kafka, not --results"])
        results = read_results_file(args.results)
    else:
        kafka = _kafka_config(args.config, args.bootstrap_servers)
        if not kafka.servers:
            raise InputError(
                ["give --results FILE, or --bootstrap-servers (or a --config with kafka servers)"]
            )
        results, stats.undecodable = read_results_topic(
            kafka, args.topic or kafka.topics.results, timeout_s=args.timeout
        )
    redactor = _redactor(args)
    lines = harvest(
        results,
        below=args.below,
        scorers=args.scorer,
        golden_inputs=existing,
        redactor=redactor,
        similarity=args.similarity,
        stats=stats,
    )
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    if args.output == "-":
        (out or sys.stdout).write(text)
    else:
        write_atomic(args.output, text)
    redacted = ", ".join(f"{n} {kind}" for kind, n in stats.redactions.items() if n) or "none"
    print(
        f"{PROG}: {stats.read + stats.undecodable} results read ({stats.undecodable} undecodable), "
        f"{stats.low_calls} calls below {args.below:g}; dropped {stats.duplicate_of_golden} "
        "near-duplicates of the golden set and "
        f"{stats.duplicate_of_candidate} of other candidates; {stats.written} candidates written; "
        f"redacted: {redacted}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
