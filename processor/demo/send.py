"""python -m processor.demo send: the bundled captures to a running receiver, with fresh trace ids.

Seven real instrumentation captures (OTel GenAI in three generations, OpenInference, OpenLLMetry in
two), two traces each, exported through the OpenTelemetry SDK's own OTLP gRPC exporters, as an
instrumented application would. Each send gets new trace ids, so repeating it is new traffic.
The SDK comes with the `demo` extra; without it the command says how to install it.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Send the bundled OTLP captures (14 traces, 14 LLM calls, 12 with content) to an evalstream "
        "receiver through the OpenTelemetry SDK's OTLP gRPC exporters."
    )
    parser.add_argument(
        "--endpoint", default="localhost:4317", help="the receiver (default: localhost:4317, as make run)"
    )
    parser.add_argument(
        "--times", type=int, default=1, help="send the captures this many times, each with new trace ids"
    )
    parser.add_argument(
        "--flavour",
        action="append",
        help="only this capture (repeatable; default all seven: see processor/demo/fixtures/README.md)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per export (default 10)")


def run(args: argparse.Namespace) -> int:
    try:
        from processor.demo.replay import FIXTURES, FLAVOURS, load_flavour, replay, with_fresh_ids
    except ImportError as exc:
        print(
            f"python -m processor.demo send needs the OpenTelemetry SDK ({exc.name} is missing): "
            "pip install 'evalstream[demo]' (or: make demo)",
            file=sys.stderr,
        )
        return 2
    if args.times < 1:
        print(f"--times must be at least 1, got {args.times}", file=sys.stderr)
        return 2
    unknown = [f for f in args.flavour or () if f not in FLAVOURS]
    if unknown:
        print(f"--flavour: unknown {', '.join(unknown)}; one of {', '.join(FLAVOURS)}", file=sys.stderr)
        return 2
    flavours = args.flavour or list(FLAVOURS)
    traces_sent = 0
    for _ in range(args.times):
        for flavour in flavours:
            traces, logs = with_fresh_ids(*load_flavour(FIXTURES, flavour))
            traces_ok, logs_ok = replay(
                args.endpoint, [traces], [logs] if logs is not None else [], timeout_s=args.timeout
            )
            if not (traces_ok and logs_ok):
                print(
                    f"{flavour}: the receiver at {args.endpoint} did not accept the export (the exporter's "
                    "message above says why; no answer at all: is evalstream running? make run)",
                    file=sys.stderr,
                )
                return 1
            traces_sent += len(
                {s.trace_id for rs in traces.resource_spans for ss in rs.scope_spans for s in ss.spans}
            )
    print(
        f"sent {traces_sent} traces, one LLM call each ({len(flavours)} captures x {args.times}), "
        f"to {args.endpoint}.\n"
        "The receiver scores the share set by sampling.rate (every trace by default; --set "
        "sampling.rate=0.05 scores one in twenty).\n"
        "Scores reach /metrics once worker.assembly_window_s (5 s) has passed:\n"
        "  curl -s localhost:9464/metrics | grep '^app_eval_relevance_count'"
    )
    return 0
