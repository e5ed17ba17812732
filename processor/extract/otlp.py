"""OTLP protobuf to plain Python: AnyValue/KeyValue to values, ids to hex, and span/log records.

Everything here tolerates garbage: an unexpected kind becomes None, a bad id is reported, never raised.
The records are what the worker assembles per trace; the receiver works on the protobuf directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as LogRecordProto
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from processor.sanitize import json_value

TRACE_ID_LEN = 16
SPAN_ID_LEN = 8
_MAX_DEPTH = 32  # nesting guard for AnyValue trees

#: The longest string value read from a span or log record (`worker.max_attribute_chars`).
MAX_VALUE_CHARS = 1_048_576

#: The two export requests, which share one shape: request > resource > scope > items.
Request = TypeVar("Request", ExportTraceServiceRequest, ExportLogsServiceRequest)


@dataclass(frozen=True)
class Layout:
    """Where an export request keeps its items: `request.<resources>[i].<scopes>[j].<items>`."""

    resources: str
    scopes: str
    items: str
    noun: str  # what an item is called in messages


LAYOUT: dict[type[ExportTraceServiceRequest] | type[ExportLogsServiceRequest], Layout] = {
    ExportTraceServiceRequest: Layout("resource_spans", "scope_spans", "spans", "spans"),
    ExportLogsServiceRequest: Layout("resource_logs", "scope_logs", "log_records", "log records"),
}


def count_items(request: ExportTraceServiceRequest | ExportLogsServiceRequest) -> int:
    """The spans, or log records, of an export request."""
    layout = LAYOUT[type(request)]
    return sum(
        len(getattr(scope, layout.items))
        for resource in getattr(request, layout.resources)
        for scope in getattr(resource, layout.scopes)
    )



@dataclass(slots=True)
class ValueLimit:
    """Where string values are cut, and how many were, for one assembly.

    A cut value is no longer valid JSON, so a content attribute over the limit yields no content (the
    case is skipped `no_content`) instead of costing its size in JSON parsing, redaction and memory.
    """

    max_chars: int = MAX_VALUE_CHARS
    cut: int = 0

    def text(self, value: str) -> str:
        if len(value) <= self.max_chars:
            return value
        self.cut += 1
        return value[: self.max_chars]


def any_value(value: AnyValue, _depth: int = 0, limit: ValueLimit | None = None) -> Any:
    """An AnyValue as str, bool, int, float, bytes, list, dict or None (unset / too deep);
    strings longer than `limit.max_chars` cut there."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "string_value":
        return value.string_value if limit is None else limit.text(value.string_value)
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "bytes_value":
        return value.bytes_value
    if _depth >= _MAX_DEPTH:
        return None
    if kind == "array_value":
        return [any_value(v, _depth + 1, limit) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value, _depth + 1, limit) for kv in value.kvlist_value.values}
    return None


def attributes(kvs: Iterable[KeyValue], limit: ValueLimit | None = None) -> dict[str, Any]:
    """KeyValue list as a dict; a repeated key keeps its first value (as the Collector's pcommon.Map.Get)."""
    out: dict[str, Any] = {}
    for kv in kvs:
        if kv.key not in out:
            out[kv.key] = any_value(kv.value, 0, limit)
    return out


def valid_trace_id(trace_id: bytes) -> bool:
    return len(trace_id) == TRACE_ID_LEN and trace_id != bytes(TRACE_ID_LEN)


def valid_span_id(span_id: bytes) -> bool:
    return len(span_id) == SPAN_ID_LEN and span_id != bytes(SPAN_ID_LEN)


def hex_id(raw: bytes) -> str:
    return raw.hex()


def text(value: Any) -> str:
    """A scalar attribute value as a string ("" for None, containers and bytes)."""
    if value is None or isinstance(value, (list, dict, bytes)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def integer(value: Any) -> int | None:
    """An integer from an int, an integral float or a numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                return None
            return int(number) if number.is_integer() else None
    return None


def json_or_value(value: Any) -> Any:
    """A JSON string decoded (lone surrogates replaced), anything else as is; bad JSON gives None."""
    if isinstance(value, (str, bytes)):
        try:
            raw = value if isinstance(value, str) else value.decode("utf-8")
            return json_value(json.loads(raw), raw)
        except (ValueError, RecursionError):
            return None
    return value


def indexed(attrs: Mapping[str, Any], prefix: str) -> list[dict[str, Any]]:
    """Flattened lists such as `llm.input_messages.0.message.role`, rebuilt in index order.

    `indexed(attrs, "llm.input_messages.")` gives `[{"message.role": ..., "message.content": ...}, ...]`.
    Keys whose index is not a number are ignored.
    """
    by_index: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        if not key.startswith(prefix):
            continue
        index_text, dot, rest = key[len(prefix) :].partition(".")
        if not dot or not index_text.isdigit():
            continue
        by_index.setdefault(int(index_text), {})[rest] = value
    return [by_index[i] for i in sorted(by_index)]


@dataclass(slots=True)
class SpanRecord:
    """One span, flattened for assembly in the worker."""

    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes
    name: str
    start_time_unix_nano: int
    attributes: dict[str, Any]
    resource: Mapping[str, Any]
    scope_name: str = ""
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    status_error: bool = False
    status_message: str = ""

    @classmethod
    def from_proto(
        cls, span: Span, resource: Mapping[str, Any], scope_name: str = "", limit: ValueLimit | None = None
    ) -> SpanRecord:
        return cls(
            trace_id=bytes(span.trace_id),
            span_id=bytes(span.span_id),
            parent_span_id=bytes(span.parent_span_id),
            name=span.name,
            start_time_unix_nano=span.start_time_unix_nano,
            attributes=attributes(span.attributes, limit),
            resource=resource,
            scope_name=scope_name,
            events=[(e.name, attributes(e.attributes, limit)) for e in span.events],
            status_error=span.status.code == Status.STATUS_CODE_ERROR,
            status_message=span.status.message,
        )


@dataclass(slots=True)
class LogRecordData:
    """One log record (a GenAI event), flattened; joined to its span by trace id + span id."""

    trace_id: bytes
    span_id: bytes
    event_name: str
    time_unix_nano: int
    attributes: dict[str, Any]
    body: Any
    sequence: int = 0  # arrival order, the tie-break when timestamps are equal or missing

    @classmethod
    def from_proto(
        cls, record: LogRecordProto, sequence: int = 0, limit: ValueLimit | None = None
    ) -> LogRecordData:
        attrs = attributes(record.attributes, limit)
        return cls(
            trace_id=bytes(record.trace_id),
            span_id=bytes(record.span_id),
            event_name=log_event_name(record, attrs),
            time_unix_nano=record.time_unix_nano or record.observed_time_unix_nano,
            attributes=attrs,
            body=any_value(record.body, 0, limit),
            sequence=sequence,
        )


def log_event_name(record: LogRecordProto, attrs: Mapping[str, Any] | None = None) -> str:
    """The record's event name: the `event_name` field, else the older `event.name` attribute."""
    if record.event_name:
        return record.event_name
    if attrs is not None:
        name = attrs.get("event.name")
        return name if isinstance(name, str) else ""
    for kv in record.attributes:
        if kv.key == "event.name":
            return str(kv.value.string_value)
    return ""


def first_text(places: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> str:
    """The first non-empty text value, trying every key at each place before the next place."""
    for attrs in places:
        for key in keys:
            value = text(attrs.get(key))
            if value:
                return value
    return ""
