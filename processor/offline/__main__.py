"""python -m processor.offline: score golden JSONL files in CI and gate the merge on the result."""

from __future__ import annotations

import argparse
import io
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace

from processor.errors import ConfigError
from processor.model import DEFAULT_SLICE_LABELS
from processor.offline import golden as golden_files
from processor.offline import report
from processor.offline.golden import InputError
from processor.offline.outputs import ChatEndpoint, OutputSource, RecordedOutputs, TargetFunction
from processor.offline.progress import Progress
from processor.offline.runner import DEFAULT_SPECS, Gate, Runner, summarize
from processor.scorers.config import ScorerSpec

PROG = "python -m processor.offline"

EPILOG = """\
outputs (exactly one):
  --outputs FILE           recorded outputs, JSONL {"id" or "input", "output"}
  --target module:function your function, called with the input string (or the EvalCase)
  --endpoint URL --model M an OpenAI-compatible chat-completions endpoint

exit codes:
  0  the gate passed
  1  the gate failed: regressions (more than --max-fail failing cases, or a pass rate
     below --min-pass-rate)
  2  bad input or usage: invalid JSON, missing `input`, unknown scorer, an output missing
     for a case, an empty golden set, nothing scored; the message names FILE:LINE
  3  the gate could not be decided: scorers or the target erred on more than --max-errors
     cases (a judge outage is not a regression)
"""


def _threshold(text: str) -> float:
    value = float(text)
    if math.isnan(value) or not 0 <= value <= 1:
        raise ValueError(text)
    return value


def parse_scorer_flag(text: str) -> ScorerSpec:
    """`NAME[:THRESHOLD]` for a built-in, `NAME=module:function[:THRESHOLD]` for a custom scorer."""
    name, eq, ref = text.partition("=")
    function = ""
    raw_threshold = ""
    if eq:
        parts = ref.split(":")
        if len(parts) not in (2, 3) or not all(parts[:2]):
            raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=module:function[:THRESHOLD]")
        function = ":".join(parts[:2])
        raw_threshold = parts[2] if len(parts) == 3 else ""
    else:
        name, _, raw_threshold = text.partition(":")
    if not name:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME[:THRESHOLD]")
    threshold: float | None = None
    if raw_threshold:
        try:
            threshold = _threshold(raw_threshold)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r}: threshold must be a number between 0 and 1, got {raw_threshold!r}"
            ) from None
    return ScorerSpec(name=name, threshold=threshold, function=function)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _rate(text: str) -> float:
    try:
        return _threshold(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Score golden JSONL cases with evalstream's scorers and gate on the result. By default "
        "each case with `expected` is checked with `contains` (expected found in the output, ignoring case).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "golden", nargs="+", metavar="GOLDEN", help="golden JSONL files or globs (** recurses)"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--outputs", metavar="FILE", help='recorded outputs JSONL: {"id" or "input", "output"}'
    )
    source.add_argument("--target", metavar="MODULE:FUNCTION", help="function returning the output string")
    source.add_argument(
        "--endpoint", metavar="URL", help="OpenAI-compatible base URL, e.g. http://host:8000/v1"
    )
    parser.add_argument("--model", help="model name sent to --endpoint (required with it)")
    parser.add_argument("--system", default="", metavar="PROMPT", help="system prompt sent to --endpoint")
    parser.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        metavar="VAR",
        help="environment variable holding the --endpoint API key (optional; default %(default)s)",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        metavar="N",
        default=4,
        help="target/endpoint calls and scorings in flight (default %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=60.0,
        metavar="SECONDS",
        help="per target/endpoint call (default %(default)s)",
    )
    parser.add_argument(
        "--scorer",
        action="append",
        type=parse_scorer_flag,
        default=[],
        metavar="NAME[:THRESHOLD]",
        help="add a scorer (repeatable), e.g. relevance:0.6; a custom one as "
        "NAME=module:function[:THRESHOLD]; overrides a scorer of the same name from --config",
    )
    parser.add_argument(
        "--config", metavar="FILE", help="evalstream YAML: its scorers.enabled and slices.labels"
    )
    parser.add_argument(
        "--max-fail",
        type=_non_negative_int,
        default=None,
        metavar="N",
        help="failing cases allowed (default 0, or no limit when only --min-pass-rate is given)",
    )
    parser.add_argument(
        "--min-pass-rate",
        type=_rate,
        default=None,
        metavar="R",
        help="lowest pass rate (passed / scored, 0-1) that passes the gate",
    )
    parser.add_argument(
        "--max-errors",
        type=_non_negative_int,
        default=0,
        metavar="N",
        help="erring cases tolerated (left out of the pass rate) before exit 3 (default 0)",
    )
    parser.add_argument(
        "--repeat",
        type=_positive_int,
        default=1,
        metavar="N",
        help="score N times with non-deterministic scorers (judge, custom); gate on the mean",
    )
    parser.add_argument("--junit", metavar="FILE", help="write JUnit XML: one testcase per case and scorer")
    parser.add_argument(
        "--report", metavar="FILE", help="write a JSON report of every case, output and score"
    )
    parser.add_argument("--prom-file", metavar="FILE", help="write a Prometheus textfile with the pass rate")
    return parser


def scorer_specs(
    flags: Sequence[ScorerSpec], configured: Sequence[ScorerSpec] | None, *, config_path: str = ""
) -> list[tuple[ScorerSpec, str]]:
    """`contains` (the seed's check), then the config's scorers, then --scorer flags; a later name wins.

    Each spec comes with the key path its errors are reported under.
    """
    specs: dict[str, tuple[ScorerSpec, str]] = {
        s.name: (s, f"default scorer {s.name}") for s in DEFAULT_SPECS
    }
    for i, spec in enumerate(configured or ()):
        specs[spec.name] = (spec, f"{config_path}: scorers.enabled[{i}]")
    for flag in flags:
        found = specs.get(flag.name)
        if found is not None and not flag.function:
            base, path = found
            threshold = base.threshold if flag.threshold is None else flag.threshold
            specs[flag.name] = (replace(base, threshold=threshold), path)
        else:
            specs[flag.name] = (flag, f"--scorer {flag.name}")
    return list(specs.values())


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # text from a case or a scorer may not be encodable here
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="replace")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.endpoint and not args.model:
        parser.error("--endpoint needs --model")
    try:
        return run(args)
    except (InputError, ConfigError) as exc:
        for problem in exc.problems:
            print(f"{PROG}: {problem}", file=sys.stderr)
        return 2
    except Exception as exc:  # CI reads exit 1 as a regression: no bug of ours may look like one
        print(
            f"{PROG}: internal error, the gate could not be decided: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return 3


def run(args: argparse.Namespace) -> int:
    configured: list[ScorerSpec] | None = None
    slice_labels = list(DEFAULT_SLICE_LABELS)
    if args.config:
        from processor.config import load

        config = load(args.config)
        configured = list(config.scorers.enabled)
        slice_labels += [name for name in config.slices.names if name not in slice_labels]
    pairs = scorer_specs(args.scorer, configured, config_path=args.config or "")
    specs = [spec for spec, _ in pairs]
    runner = Runner(
        specs,
        paths=[path for _, path in pairs],
        repeat=args.repeat,
        concurrency=args.concurrency,
    )
    cases = golden_files.load(args.golden, slice_labels=slice_labels)
    runner.check(cases)

    # A status line on a terminal only (stderr, so the report on stdout stays clean); none in CI logs.
    calls = Progress("outputs", len(cases), sys.stderr)
    source: OutputSource
    if args.outputs:
        source = RecordedOutputs(args.outputs)
    elif args.target:
        source = TargetFunction(
            args.target,
            concurrency=args.concurrency,
            timeout_s=args.timeout,
            on_done=lambda p: calls.advance(erred=p.output is None),
        )
    else:
        source = ChatEndpoint(
            args.endpoint,
            model=args.model,
            system=args.system,
            api_key_env=args.api_key_env,
            concurrency=args.concurrency,
            timeout_s=args.timeout,
            on_done=lambda p: calls.advance(erred=p.output is None),
        )
    produced = source.produce(cases)
    calls.close()
    scoring = Progress("scoring", len(cases), sys.stderr)
    results = runner.run(
        cases,
        produced,
        on_done=lambda r: scoring.advance(failed=r.status == "fail", erred=r.status == "error"),
    )
    scoring.close()

    summary = summarize(results, slice_labels)
    max_fail = args.max_fail if args.max_fail is not None else (None if args.min_pass_rate is not None else 0)
    verdict = Gate(max_fail=max_fail, min_pass_rate=args.min_pass_rate, max_errors=args.max_errors).decide(
        summary.overall
    )
    report.write_console(results, summary, verdict, sys.stdout)
    writes: tuple[tuple[str, str | None, Callable[[str], None]], ...] = (
        ("--junit", args.junit, lambda path: report.write_junit(path, results)),
        ("--report", args.report, lambda path: report.write_json(path, results, summary, verdict)),
        ("--prom-file", args.prom_file, lambda path: report.write_prom(path, summary)),
    )
    unwritten = []
    for flag, path, write in writes:
        if path:
            try:
                write(path)
            except OSError as exc:
                unwritten.append(f"{flag} {path}: cannot write: {exc.strerror or exc}")
    if unwritten:  # the verdict is printed above; the files CI asked for are missing: a usage error
        raise InputError(unwritten)
    if verdict[0] == 2:
        print(f"{PROG}: {verdict[1]}", file=sys.stderr)
    return verdict[0]


if __name__ == "__main__":
    sys.exit(main())
