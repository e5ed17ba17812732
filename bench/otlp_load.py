"""The issue-14 load, pre-serialised: OTLP trace requests of 25 traces x 20 spans, unique trace ids.

One request is built once with placeholder trace ids and cut at their positions; request `i` is
then the pieces joined around 25 ids derived from (seed, i), so a sender does no protobuf work and
the traffic is the same bytes for every peer it drives. Each trace: an HTTP server root span with a
locale and a tenant, 18 DB / HTTP client children and one GenAI chat span with content (with
`llm_every=N`, only every N-th trace of a request calls the LLM, with 0 none; the others have a
19th DB child).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

TRACES_PER_REQUEST = 25
SPANS_PER_TRACE = 20
SPANS_PER_REQUEST = TRACES_PER_REQUEST * SPANS_PER_TRACE

_BASE_NS = 1_764_000_000_000_000_000


def _kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _span(
    trace_id: bytes, span_id: bytes, parent: bytes, name: str, kind: int, start: int, **attrs: str | int
) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        kind=kind,  # type: ignore[arg-type]
        start_time_unix_nano=start,
        end_time_unix_nano=start + 3_000_000,
        attributes=[_kv(k.replace("__", "."), v) for k, v in attrs.items()],
        status=Status(code=Status.STATUS_CODE_UNSET),
    )


def _trace_spans(trace_id: bytes, rng: random.Random, t: int, llm_call: bool = True) -> list[Span]:
    root = rng.randbytes(8)
    start = _BASE_NS + t * 1_000_000_000
    spans = [
        _span(
            trace_id,
            root,
            b"",
            "POST /api/ask",
            Span.SPAN_KIND_SERVER,
            start,
            http__request__method="POST",
            url__path="/api/ask",
            http__route="/api/ask",
            http__response__status_code=200,
            server__address="shop.example",
            user_agent__original="Mozilla/5.0",
            app__locale=("en-US", "de-DE", "fr-FR")[t % 3],
            app__tenant=f"tenant-{t % 7}",
        )
    ]
    for c in range(SPANS_PER_TRACE - 2 if llm_call else SPANS_PER_TRACE - 1):
        if c % 2 == 0:
            spans.append(
                _span(
                    trace_id,
                    rng.randbytes(8),
                    root,
                    "SELECT orders",
                    Span.SPAN_KIND_CLIENT,
                    start + c * 1000,
                    db__system__name="postgresql",
                    db__namespace="shop",
                    db__operation__name="SELECT",
                    db__query__text=f"SELECT id, status FROM orders WHERE customer_id = $1 LIMIT {c + 10}",
                    server__address="db.internal",
                    server__port=5432,
                )
            )
        else:
            spans.append(
                _span(
                    trace_id,
                    rng.randbytes(8),
                    root,
                    "GET",
                    Span.SPAN_KIND_CLIENT,
                    start + c * 1000,
                    http__request__method="GET",
                    url__full=f"http://inventory.internal/items/{c}",
                    server__address="inventory.internal",
                    server__port=8080,
                    http__response__status_code=200,
                )
            )
    if not llm_call:
        return spans
    question = f"Where is my order {t}? It was supposed to arrive on Monday and the tracking page is empty."
    answer = f"Order {t} left the warehouse yesterday; the carrier updates tracking within 24 hours."
    spans.append(
        _span(
            trace_id,
            rng.randbytes(8),
            root,
            "chat gpt-4o-mini",
            Span.SPAN_KIND_CLIENT,
            start + 50_000,
            gen_ai__operation__name="chat",
            gen_ai__provider__name="openai",
            gen_ai__request__model="gpt-4o-mini",
            gen_ai__response__model="gpt-4o-mini-2024-07-18",
            gen_ai__usage__input_tokens=412,
            gen_ai__usage__output_tokens=57,
            gen_ai__input__messages=json.dumps(
                [
                    {
                        "role": "system",
                        "parts": [{"type": "text", "content": "You are the shop's support assistant."}],
                    },
                    {"role": "user", "parts": [{"type": "text", "content": question}]},
                ]
            ),
            gen_ai__output__messages=json.dumps(
                [
                    {
                        "role": "assistant",
                        "parts": [{"type": "text", "content": answer}],
                        "finish_reason": "stop",
                    }
                ]
            ),
        )
    )
    return spans


class RequestLoad:
    """Request bodies of the issue-14 load: `body(i)` is request i, the same bytes on every call."""

    def __init__(self, seed: int = 14, llm_every: int = 1) -> None:
        rng = random.Random(seed)
        self.seed = seed
        self.llm_every = llm_every
        placeholders = [b"\xa5PLACEHOLDER%03d\x5a" % t for t in range(TRACES_PER_REQUEST)]
        spans = [
            s
            for t, tid in enumerate(placeholders)
            for s in _trace_spans(tid, rng, t, llm_call=llm_every > 0 and t % llm_every == 0)
        ]
        request = ExportTraceServiceRequest(
            resource_spans=[
                ResourceSpans(
                    resource=Resource(
                        attributes=[
                            _kv("service.name", "shop-assistant"),
                            _kv("service.version", "2.3.1"),
                            _kv("deployment.environment.name", "prod"),
                            _kv("host.name", "web-7f9c"),
                            _kv("telemetry.sdk.name", "opentelemetry"),
                            _kv("telemetry.sdk.language", "python"),
                            _kv("telemetry.sdk.version", "1.39.0"),
                        ]
                    ),
                    scope_spans=[
                        ScopeSpans(
                            scope=InstrumentationScope(name="bench.otlp_load", version="1"), spans=spans
                        )
                    ],
                )
            ]
        )
        template = request.SerializeToString()
        # cut the template around every placeholder occurrence, remembering which trace each gap is
        self._pieces: list[bytes] = []
        self._slots: list[int] = []
        by_value = {p: t for t, p in enumerate(placeholders)}
        position = 0
        while True:
            hits = [(template.find(p, position), p) for p in placeholders]
            hits = [(at, p) for at, p in hits if at >= 0]
            if not hits:
                break
            at, placeholder = min(hits)
            self._pieces.append(template[position:at])
            self._slots.append(by_value[placeholder])
            position = at + len(placeholder)
        self._pieces.append(template[position:])
        if len(self._slots) != SPANS_PER_REQUEST:
            raise AssertionError(
                f"template has {len(self._slots)} trace id slots, expected {SPANS_PER_REQUEST}"
            )
        self.request_bytes = len(template)

    def trace_ids(self, index: int) -> list[bytes]:
        """The 25 trace ids of request `index`: unique across requests, stable across runs."""
        return [
            hashlib.blake2b(b"%d/%d/%d" % (self.seed, index, t), digest_size=16).digest()
            for t in range(TRACES_PER_REQUEST)
        ]

    def body(self, index: int) -> bytes:
        ids = self.trace_ids(index)
        out = [self._pieces[0]]
        for slot, piece in zip(self._slots, self._pieces[1:], strict=True):
            out.append(ids[slot])
            out.append(piece)
        return b"".join(out)

    def bodies(self, count: int, start: int = 0) -> Iterator[bytes]:
        for index in range(start, start + count):
            yield self.body(index)
