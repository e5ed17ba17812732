"""Helpers for building OTLP requests by hand, and loading the bundled fixture flavours."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span


def value(v: Any) -> AnyValue:
    if isinstance(v, AnyValue):
        return v
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, str):
        return AnyValue(string_value=v)
    if isinstance(v, bytes):
        return AnyValue(bytes_value=v)
    if isinstance(v, (list, tuple)):
        return AnyValue(array_value=ArrayValue(values=[value(x) for x in v]))
    if isinstance(v, dict):
        return AnyValue(kvlist_value=KeyValueList(values=kvs(v)))
    raise TypeError(v)


def kvs(attrs: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=value(v)) for k, v in attrs.items()]


def span(trace: int | bytes, span_id: int | bytes, parent: int | bytes | None = None, **attrs: Any) -> Span:
    tid = trace if isinstance(trace, bytes) else trace.to_bytes(16, "big")
    sid = span_id if isinstance(span_id, bytes) else span_id.to_bytes(8, "big")
    pid = b"" if parent is None else parent if isinstance(parent, bytes) else parent.to_bytes(8, "big")
    return Span(
        trace_id=tid,
        span_id=sid,
        parent_span_id=pid,
        name="s",
        start_time_unix_nano=int.from_bytes(sid, "big") if sid else 0,
        attributes=kvs({k.replace("__", "."): v for k, v in attrs.items()}),
    )


def traces_request(
    spans: Iterable[Span], resource: dict[str, Any] | None = None
) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend(kvs(resource if resource is not None else {"service.name": "svc"}))
    ss = rs.scope_spans.add()
    ss.scope.name = "test"
    ss.spans.extend(spans)
    return request


def logs_request(records: Iterable[LogRecord]) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.extend(kvs({"service.name": "svc"}))
    rl.scope_logs.add().log_records.extend(records)
    return request


def log(
    trace: int, span_id: int, event: str, body: Any = None, *, field: bool = True, **attrs: Any
) -> LogRecord:
    record = LogRecord(
        trace_id=trace.to_bytes(16, "big"),
        span_id=span_id.to_bytes(8, "big"),
        attributes=kvs({k.replace("__", "."): v for k, v in attrs.items()}),
    )
    if field:
        record.event_name = event
    else:
        record.attributes.append(KeyValue(key="event.name", value=value(event)))
    if body is not None:
        record.body.CopyFrom(value(body))
    return record
