"""Benchmark: worker-side extraction + heuristic scoring, in LLM calls per CPU-second.

Reproduce:  .venv/bin/python bench/worker_scoring.py [--cases 4000]

Prints the ratio of what one worker core sustains to the load it must take: the Collector's load-test
rate (10k spans/s) if every span were an LLM call, sampled at the default 5% = 500 calls/s. Each
call is a trace of two spans (labelled root + GenAI chat span with content), decoded from OTLP bytes
as the worker receives them, assembled, extracted and scored by `relevance` and `context_relevance`.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from processor.extract import TraceAssembly
from processor.extract.config import SlicesConfig
from processor.scorers import build_scorers, run_scorers
from processor.scorers.config import ScorerSpec
from processor.transport import codec

REQUIRED_CALLS_PER_SECOND = 10_000 * 0.05


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def make_trace(rng: random.Random, i: int) -> bytes:
    trace_id, root = rng.randbytes(16), rng.randbytes(8)
    question = f"How long is the refund window for annual plan {i}?"
    answer = f"Annual plan {i} can be refunded within 30 days of purchase."
    spans = [
        Span(
            trace_id=trace_id,
            span_id=root,
            name="handle_question",
            attributes=[_kv("app.locale", "en-US"), _kv("app.prompt.version", "v7")],
        ),
        Span(
            trace_id=trace_id,
            span_id=rng.randbytes(8),
            parent_span_id=root,
            name="chat",
            attributes=[
                _kv("gen_ai.operation.name", "chat"),
                _kv("gen_ai.provider.name", "openai"),
                _kv("gen_ai.request.model", "gpt-4o-mini"),
                _kv(
                    "gen_ai.input.messages",
                    json.dumps([{"role": "user", "parts": [{"type": "text", "content": question}]}]),
                ),
                _kv(
                    "gen_ai.output.messages",
                    json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]),
                ),
            ],
        ),
    ]
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource={"attributes": [_kv("service.name", "bench"), _kv("app.tenant", "acme")]},
                scope_spans=[ScopeSpans(spans=spans)],
            )
        ]
    )
    return request.SerializeToString()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=4000)
    args = parser.parse_args()
    rng = random.Random(11)
    values = [make_trace(rng, i) for i in range(args.cases)]
    slices = SlicesConfig()
    scorers = build_scorers([ScorerSpec(name="relevance"), ScorerSpec(name="context_relevance")])

    start = time.process_time()
    cases = []
    for value in values:
        assembly = TraceAssembly()
        assembly.add_traces(codec.decode_traces(value))
        cases.extend(assembly.cases(slices))
    extract_s = time.process_time() - start
    start = time.process_time()
    for case in cases:
        run_scorers(scorers, case)
    score_s = time.process_time() - start

    assert len(cases) == args.cases
    total = extract_s + score_s
    rate = len(cases) / total
    print(f"{len(cases)} LLM calls: extract {extract_s:.2f} CPU-s, score {score_s:.2f} CPU-s")
    print(
        f"  {rate:,.0f} calls/CPU-s   x{rate / REQUIRED_CALLS_PER_SECOND:.1f} the load one worker core takes "
        f"({REQUIRED_CALLS_PER_SECOND:.0f} calls/s: 10k spans/s all LLM calls, 5% sampled)"
    )
    print(f"  extraction share {extract_s / total:.0%}, scoring share {score_s / total:.0%}")


if __name__ == "__main__":
    main()
