"""check_entries: a request's entries counted on the wire before decoding, the walk bounded by the cap."""

from __future__ import annotations

import os
import time

import pytest
from google.protobuf.internal.encoder import _VarintBytes
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from processor.errors import InvalidRequest, TooLarge
from processor.receiver.limits import check_entries


def _request(spans: int, span: bytes = b"") -> bytes:
    scope = b"\x0a\x05\x0a\x03lib" + (b"\x12" + _VarintBytes(len(span)) + span) * spans
    resource = b"\x12" + _VarintBytes(len(scope)) + scope
    return b"\x0a" + _VarintBytes(len(resource)) + resource


def test_a_request_within_the_cap_passes_and_decodes() -> None:
    body = _request(1_900, b"\x0a\x10" + os.urandom(16) + b"\x12\x08" + os.urandom(8))
    check_entries(body, 2_000, "spans")
    assert len(ExportTraceServiceRequest.FromString(body).resource_spans[0].scope_spans[0].spans) == 1_900


def test_a_request_over_the_cap_is_refused_as_too_large_naming_the_key() -> None:
    with pytest.raises(TooLarge, match=r"more than 2000 spans.*receiver\.max_entries_per_request"):
        check_entries(_request(2_000), 2_000, "spans")  # 2,000 spans + scope field + scope + resource


def test_the_walk_costs_the_cap_not_the_request() -> None:
    """30 M empty spans (60 MB; decoding them would take ~5 GB) are refused after 100,000 steps."""
    body = _request(30_000_000)
    started = time.process_time()
    with pytest.raises(TooLarge):
        check_entries(body, 100_000, "spans")
    assert time.process_time() - started < 2.0  # ~0.04 s measured; the whole body would take minutes


@pytest.mark.parametrize("body", [b"\x0a\xff\xff\xff\x7f" + b"\x00" * 300, b"\x0f" * 300])
def test_broken_framing_is_an_invalid_request(body: bytes) -> None:
    with pytest.raises(InvalidRequest, match="not a valid export request"):
        check_entries(body, 100, "spans")
