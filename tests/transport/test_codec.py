"""Record format: key = hex trace id, value = OTLP protobuf as the Collector kafka exporter writes it."""

from __future__ import annotations

import os

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogsData
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from processor.errors import InvalidRequest
from processor.transport import Consumed, Signal, codec
from tests.receiver.helpers import logs_request, trace_request


def test_trace_records_are_keyed_by_lowercase_hex_and_round_trip() -> None:
    tid = bytes.fromhex("ABCDEF0123456789abcdef0123456789")
    request = trace_request([tid])
    (record,) = codec.encode({tid: request})
    assert record.signal is Signal.TRACES
    assert record.key == b"abcdef0123456789abcdef0123456789"
    assert codec.decode_key(record.key) == tid
    assert codec.decode(record.value, ExportTraceServiceRequest) == request


def test_log_records_round_trip() -> None:
    tid = os.urandom(16)
    request = logs_request([tid])
    (record,) = codec.encode({tid: request})
    assert record.signal is Signal.LOGS and record.key == tid.hex().encode()
    assert codec.decode(record.value, ExportLogsServiceRequest) == request


def test_values_are_wire_identical_to_the_collectors_traces_data_and_logs_data() -> None:
    tid = os.urandom(16)
    (traces,) = codec.encode({tid: trace_request([tid])})
    assert TracesData.FromString(traces.value).SerializeToString() == traces.value
    assert len(TracesData.FromString(traces.value).resource_spans[0].scope_spans[0].spans) == 2
    (logs,) = codec.encode({tid: logs_request([tid])})
    assert LogsData.FromString(logs.value).SerializeToString() == logs.value


def test_fixture_files_decode(otlp_fixtures) -> None:  # type: ignore[no-untyped-def]
    for path in sorted(otlp_fixtures.glob("*.traces.pb")):
        assert codec.decode(path.read_bytes(), ExportTraceServiceRequest).resource_spans, path.name
    for path in sorted(otlp_fixtures.glob("*.logs.pb")):
        assert codec.decode(path.read_bytes(), ExportLogsServiceRequest).resource_logs, path.name


@pytest.mark.parametrize("signal", [Signal.TRACES, Signal.LOGS])
def test_undecodable_values_raise_invalid_request_naming_the_type(signal: Signal) -> None:
    body = trace_request([os.urandom(16)]).SerializeToString()
    kind = codec.REQUEST_TYPE[signal]
    with pytest.raises(InvalidRequest, match=rf"not a valid {kind.__name__} \(\d+ bytes\)"):
        codec.decode(body[: len(body) - 7], kind)


@pytest.mark.parametrize("key", [None, b"", b"abc", b"zz" * 16, b"ab" * 17])
def test_bad_keys_raise_invalid_request(key: bytes | None) -> None:
    with pytest.raises(InvalidRequest, match="32-character hex trace id"):
        codec.decode_key(key)


def test_dead_letter_record_keeps_key_value_and_adds_reason_and_source() -> None:
    (record,) = codec.encode({b"\x01" * 16: trace_request([b"\x01" * 16])})
    consumed = Consumed(record, "evalstream_spans", 3, 42)
    dead = codec.dead_letter_record(consumed, "not a valid ExportTraceServiceRequest")
    assert dead.signal is Signal.DEAD_LETTER
    assert (dead.key, dead.value) == (record.key, record.value)
    headers = dict(dead.headers)
    assert headers[codec.DEAD_LETTER_REASON] == b"not a valid ExportTraceServiceRequest"
    assert headers[codec.DEAD_LETTER_SOURCE] == b"evalstream_spans/3/42"
