"""Record format on the wire: key = trace id hex, value = OTLP protobuf holding one trace.

Compatible with the Collector kafka exporter (`encoding: otlp_proto`, `partition_traces_by_id: true`):
the key is the 32-character lowercase hex trace id and the value is a serialized
`ExportTraceServiceRequest` (wire-identical to `TracesData`) or `ExportLogsServiceRequest`
(wire-identical to `LogsData`) that carries that one trace's data, resource and scope preserved.
A Collector kafka receiver can read our topics, and we can read a Collector's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from processor.errors import InvalidRequest
from processor.extract.otlp import LAYOUT, Request
from processor.transport import Consumed, Record, Signal, trace_key, wire

DEAD_LETTER_REASON = "evalstream.dlq.reason"
DEAD_LETTER_SOURCE = "evalstream.dlq.source"  # "<topic>/<partition>/<offset>" of the original record
DEAD_LETTER_VALUE_DROPPED = "evalstream.dlq.value_dropped"  # set when the value did not fit the DLQ record


#: The OTLP message each signal's records carry (RESULTS and DEAD_LETTER carry others).
REQUEST_TYPE: dict[Signal, type[ExportTraceServiceRequest] | type[ExportLogsServiceRequest]] = {
    Signal.TRACES: ExportTraceServiceRequest,
    Signal.LOGS: ExportLogsServiceRequest,
}
SIGNAL_OF = {kind: signal for signal, kind in REQUEST_TYPE.items()}


def encode(requests: Mapping[bytes, Request]) -> list[Record]:
    """One record per trace, in the mapping's order: key = trace id hex, value = that trace's spans
    (a TRACES record) or log records (a LOGS record) as OTLP."""
    return [
        Record(SIGNAL_OF[type(request)], trace_key(tid), request.SerializeToString())
        for tid, request in requests.items()
    ]


def decode(value: bytes, kind: type[Request]) -> Request:
    """Parse a record value holding a `kind` request; raise InvalidRequest naming the problem."""
    request = kind()
    try:
        request.ParseFromString(value)
    except (DecodeError, ValueError) as exc:
        raise InvalidRequest(f"not a valid {kind.__name__} ({len(value)} bytes): {exc}") from None
    return request


# protobuf (upb) refuses a message nested deeper than 100 levels, whatever the caller asks for.
_TOO_DEEP = "MaxDepth"


def decode_salvaging(value: bytes, kind: type[Request]) -> tuple[Request, int, str]:
    """Parse an export request; when it fails only because some items (spans, log records) nest
    attributes deeper than protobuf's limit, keep every other item: (request, items dropped, reason).

    The Collector (Go, no depth limit) accepts such requests whole; we cannot parse them, so only the
    too-deep items are lost (reported as partial success), never the batch. Other decode errors
    raise InvalidRequest as `decode` does.
    """
    try:
        return decode(value, kind), 0, ""
    except InvalidRequest as exc:
        if _TOO_DEEP not in str(exc):
            raise
        error = exc
    try:
        salvaged, dropped = _salvage(value, kind)
    except (DecodeError, ValueError, IndexError) as exc:
        raise InvalidRequest(f"{error}; {exc}") from None
    noun = LAYOUT[kind].noun
    return salvaged, dropped, f"{dropped} {noun} nest attributes deeper than protobuf's limit of 100 levels"


def _salvage(value: bytes, kind: type[Request]) -> tuple[Request, int]:
    # On the wire, request.1 = resources, resource.2 = scopes, scope.2 = items, for both kinds.
    layout = LAYOUT[kind]
    resources, scopes_field, items_field = layout.resources, layout.scopes, layout.items
    out, dropped = kind(), 0
    for number, _, resource_payload in _fields_of(value):
        if number != 1:
            continue
        resource_part = getattr(out, resources).add()
        scopes = [payload for n, _, payload in _fields_of(resource_payload) if n == 2]
        if not _merge(resource_part, b"".join(w for n, w, _ in _fields_of(resource_payload) if n != 2)):
            dropped += sum(1 for scope in scopes for n, _, _ in _fields_of(scope) if n == 2)
            continue
        for scope_payload in scopes:
            scope_part = getattr(resource_part, scopes_field).add()
            items = [payload for n, _, payload in _fields_of(scope_payload) if n == 2]
            if not _merge(scope_part, b"".join(w for n, w, _ in _fields_of(scope_payload) if n != 2)):
                dropped += len(items)
                continue
            for item in items:
                # Parsed where it will live (request > resource > scope > item), so the worker can too.
                if _merge(kind(), _nest(item)):
                    getattr(scope_part, items_field).add().MergeFromString(item)
                else:
                    dropped += 1
    return out, dropped


def _merge(message: Message, data: bytes) -> bool:
    try:
        message.MergeFromString(data)
    except DecodeError as exc:
        if _TOO_DEEP in str(exc):
            return False
        raise
    return True


def _nest(item: bytes) -> bytes:
    """An item as the only one of a request: request.1 > resource.2 > scope.2 > item."""
    return wire.length_delimited(1, wire.length_delimited(2, wire.length_delimited(2, item)))


def _fields_of(data: bytes) -> Iterator[tuple[int, bytes, bytes]]:
    """(field number, the field's wire bytes, its payload) per top-level field."""
    for number, _, whole, payload in wire.fields(data):
        yield number, whole, payload


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
