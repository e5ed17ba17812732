"""The wire-format walker against messages protobuf itself serialised."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from processor.transport import wire


def _request() -> ExportTraceServiceRequest:
    spans = [Span(trace_id=bytes([i]) * 16, span_id=bytes([i]) * 8, name="x" * 300) for i in range(1, 4)]
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])])


def test_fields_rebuild_the_message_and_find_its_spans() -> None:
    body = _request().SerializeToString()
    (resource,) = list(wire.fields(body))
    assert resource[0] == 1 and resource[1] == wire.LENGTH_DELIMITED and resource[2] == body
    (scope,) = [p for n, _, _, p in wire.fields(resource[3]) if n == 2]
    spans = [Span.FromString(p) for n, _, _, p in wire.fields(scope) if n == 2]
    assert [s.span_id for s in spans] == [bytes([i]) * 8 for i in range(1, 4)]
    views = [p for _, _, _, p in wire.fields(memoryview(body))]
    assert isinstance(views[0], memoryview)  # no copies when walking a view


def test_length_delimited_is_what_protobuf_writes() -> None:
    span = Span(span_id=b"\x01" * 8).SerializeToString()
    nested = wire.length_delimited(1, wire.length_delimited(2, wire.length_delimited(2, span)))
    assert ExportTraceServiceRequest.FromString(nested).resource_spans[0].scope_spans[0].spans[0].span_id == (
        b"\x01" * 8
    )


@pytest.mark.parametrize("cut", [1, 5, 50])
def test_truncated_framing_raises(cut: int) -> None:
    body = _request().SerializeToString()
    with pytest.raises((ValueError, IndexError)):
        list(wire.fields(body[:-cut]))


def test_a_varint_longer_than_ten_bytes_raises() -> None:
    with pytest.raises(ValueError, match="longer than 10 bytes"):
        wire.varint(b"\xff" * 11, 0)
