"""Benchmark: receiver-side selection (decode + sample + find LLM spans), in spans per CPU-second.

Reproduce:  .venv/bin/python bench/receiver_select.py [--requests 400]

Prints ratios measured in this one run: our selection vs bare protobuf decoding (the floor any
Python receiver pays), and vs the Collector's own load-test figure (10k spans/s within 20% of one
core, i.e. 50k spans per CPU-second). Traffic: 100-span requests of 20 traces x 5 spans, one trace
in ten with a GenAI chat span carrying content; sampling at the default 5%.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from processor.extract import select_traces
from processor.extract.config import SlicesConfig
from processor.sampler.config import SamplingConfig
from processor.sampler.trace_id import TraceIdSampler

COLLECTOR_SPANS_PER_CPU_SECOND = 10_000 / 0.20


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def make_request(rng: random.Random) -> bytes:
    spans = []
    for t in range(20):
        trace_id = rng.randbytes(16)
        root = rng.randbytes(8)
        spans.append(
            Span(
                trace_id=trace_id,
                span_id=root,
                name="GET /api",
                attributes=[_kv("http.method", "GET"), _kv("http.route", "/api"), _kv("app.locale", "en-US")],
            )
        )
        for i in range(4):
            attributes = [_kv("db.system", "postgresql"), _kv("db.statement", "SELECT 1")]
            if t % 10 == 0 and i == 0:
                attributes = [
                    _kv("gen_ai.operation.name", "chat"),
                    _kv("gen_ai.provider.name", "openai"),
                    _kv("gen_ai.request.model", "gpt-4o-mini"),
                    _kv(
                        "gen_ai.input.messages",
                        json.dumps(
                            [
                                {
                                    "role": "user",
                                    "parts": [{"type": "text", "content": "What is the refund window?"}],
                                }
                            ]
                        ),
                    ),
                    _kv(
                        "gen_ai.output.messages",
                        json.dumps(
                            [{"role": "assistant", "parts": [{"type": "text", "content": "30 days."}]}]
                        ),
                    ),
                ]
            spans.append(
                Span(
                    trace_id=trace_id,
                    span_id=rng.randbytes(8),
                    parent_span_id=root,
                    name="child",
                    attributes=attributes,
                )
            )
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource={"attributes": [_kv("service.name", "bench")]}, scope_spans=[ScopeSpans(spans=spans)]
            )
        ]
    )
    return request.SerializeToString()


def cpu_seconds(fn, payloads: list[bytes]) -> float:
    start = time.process_time()
    for payload in payloads:
        fn(payload)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    rng = random.Random(7)
    payloads = [make_request(rng) for _ in range(args.requests)]
    spans = 100 * len(payloads)
    slices = SlicesConfig()
    with_priority = TraceIdSampler(SamplingConfig(rate=0.05))
    without_priority = TraceIdSampler(SamplingConfig(rate=0.05, priority_attribute=""))

    decode = cpu_seconds(ExportTraceServiceRequest.FromString, payloads)
    select_on = cpu_seconds(
        lambda p: select_traces(ExportTraceServiceRequest.FromString(p), with_priority, slices), payloads
    )
    select_off = cpu_seconds(
        lambda p: select_traces(ExportTraceServiceRequest.FromString(p), without_priority, slices), payloads
    )
    rows = [
        ("decode only", decode),
        ("decode+select, priority override on", select_on),
        ("decode+select, priority override off", select_off),
    ]
    print(f"{len(payloads)} requests x 100 spans, sampling 5%, pid {os.getpid()}")
    for name, seconds in rows:
        rate = spans / seconds
        vs_collector = rate / COLLECTOR_SPANS_PER_CPU_SECOND
        print(
            f"  {name:40s} {rate:12,.0f} spans/CPU-s   x{vs_collector:6.1f} the Collector's"
            f" load-test figure   x{decode / seconds:5.2f} of decode-only"
        )


if __name__ == "__main__":
    main()
