"""Record format on the wire: key = trace id hex, value = OTLP protobuf holding one trace.

Compatible with the Collector kafka exporter (`encoding: otlp_proto`, `partition_traces_by_id: true`):
the key is the 32-character lowercase hex trace id and the value is a serialized
`ExportTraceServiceRequest` (wire-identical to `TracesData`) or `ExportLogsServiceRequest`
(wire-identical to `LogsData`) that carries that one trace's data, resource and scope preserved.
A Collector kafka receiver can read our topics, and we can read a Collector's.
"""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from processor.errors import InvalidRequest
from processor.transport import Consumed, Record, Signal, trace_key

DEAD_LETTER_REASON = "evalstream.dlq.reason"
DEAD_LETTER_SOURCE = "evalstream.dlq.source"  # "<topic>/<partition>/<offset>" of the original record
DEAD_LETTER_VALUE_DROPPED = "evalstream.dlq.value_dropped"  # set when the value did not fit the DLQ record


def encode_traces(traces: Mapping[bytes, ExportTraceServiceRequest]) -> list[Record]:
    """One TRACES record per trace: key = trace id hex, value = that trace's spans as OTLP."""
    return [
        Record(Signal.TRACES, trace_key(tid), request.SerializeToString()) for tid, request in traces.items()
    ]


def encode_logs(logs: Mapping[bytes, ExportLogsServiceRequest]) -> list[Record]:
    """One LOGS record per trace: key = trace id hex, value = that trace's log records as OTLP."""
    return [Record(Signal.LOGS, trace_key(tid), request.SerializeToString()) for tid, request in logs.items()]


def decode_traces(value: bytes) -> ExportTraceServiceRequest:
    """Parse a TRACES record value; raise InvalidRequest naming the problem."""
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(value)
    except (DecodeError, ValueError) as exc:
        raise InvalidRequest(f"not a valid ExportTraceServiceRequest ({len(value)} bytes): {exc}") from None
    return request


def decode_logs(value: bytes) -> ExportLogsServiceRequest:
    """Parse a LOGS record value; raise InvalidRequest naming the problem."""
    request = ExportLogsServiceRequest()
    try:
        request.ParseFromString(value)
    except (DecodeError, ValueError) as exc:
        raise InvalidRequest(f"not a valid ExportLogsServiceRequest ({len(value)} bytes): {exc}") from None
    return request


def decode_key(key: bytes | None) -> bytes:
    """The 16-byte trace id from a record key (32 hex characters); raise InvalidRequest otherwise."""
    if key is None or len(key) != 32:
        raise InvalidRequest(f"record key must be a 32-character hex trace id, got {key!r}")
    try:
        return bytes.fromhex(key.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest(f"record key must be a 32-character hex trace id, got {key!r}") from None


def dead_letter_record(consumed: Consumed, reason: str, *, keep_value: bool = True) -> Record:
    """The DEAD_LETTER copy of a record the worker cannot process: same key and value, reason in a header.

    Without `keep_value` (the copy would exceed the record size limit) the value is left empty and a
    `DEAD_LETTER_VALUE_DROPPED` header gives its size; the source header says where the original is.
    """
    source = f"{consumed.topic}/{consumed.partition}/{consumed.offset}"
    headers: tuple[tuple[str, bytes], ...] = (
        *consumed.record.headers,
        (DEAD_LETTER_REASON, reason.encode("utf-8", "replace")),
        (DEAD_LETTER_SOURCE, source.encode("utf-8")),
    )
    if keep_value:
        return Record(Signal.DEAD_LETTER, consumed.record.key, consumed.record.value, headers)
    headers += ((DEAD_LETTER_VALUE_DROPPED, str(len(consumed.record.value)).encode("ascii")),)
    return Record(Signal.DEAD_LETTER, consumed.record.key, b"", headers)
