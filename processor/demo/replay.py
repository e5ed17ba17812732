"""Replay the bundled OTLP captures (`fixtures/`) through the real OpenTelemetry Python SDK exporters.

The captures are what the SDK exported from real instrumentation (see `fixtures/README.md`);
rebuilding SDK span and log objects from them and exporting with `OTLPSpanExporter` /
`OTLPLogExporter` sends the receiver what a live SDK sends (gzip, retries), not hand-made requests.
The demo sender and the test suite both use this module (it needs the `demo` extra: the SDK).
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import time
from collections.abc import Iterable, Sequence
from typing import Any

from google.protobuf import json_format
from grpc import Compression
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)

#: The bundled captures: package data, so an installed wheel has them too.
FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"

#: The seven instrumentation flavours in FIXTURES (see its README).
FLAVOURS = (
    "otel-genai-latest-span",
    "otel-genai-latest-event",
    "otel-genai-legacy-events",
    "otel-genai-no-content",
    "openinference",
    "openllmetry",
    "openllmetry-legacy",
)


def load_flavour(
    fixtures: pathlib.Path, flavour: str
) -> tuple[ExportTraceServiceRequest, ExportLogsServiceRequest | None]:
    """The flavour's traces request and, where its content travels in the logs signal, its logs request."""
    traces = ExportTraceServiceRequest.FromString((fixtures / f"{flavour}.traces.pb").read_bytes())
    logs_path = fixtures / f"{flavour}.logs.pb"
    logs = ExportLogsServiceRequest.FromString(logs_path.read_bytes()) if logs_path.exists() else None
    return traces, logs


def any_value(value: common_pb2.AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, which)


def attributes(kvs: Iterable[common_pb2.KeyValue]) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs}


def _context(trace_id: bytes, span_id: bytes) -> SpanContext:
    return SpanContext(
        int.from_bytes(trace_id, "big"),
        int.from_bytes(span_id, "big"),
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )


def with_fresh_ids(
    traces: ExportTraceServiceRequest, logs: ExportLogsServiceRequest | None, *, now_ns: int | None = None
) -> tuple[ExportTraceServiceRequest, ExportLogsServiceRequest | None]:
    """Copies with a new random trace id per trace (the same in spans and log records) and every
    timestamp shifted so the last span ends now: a second send is new traffic, not a redelivery."""
    traces = ExportTraceServiceRequest.FromString(traces.SerializeToString())
    logs = ExportLogsServiceRequest.FromString(logs.SerializeToString()) if logs is not None else None
    spans = [s for rs in traces.resource_spans for ss in rs.scope_spans for s in ss.spans]
    records = [
        r for rl in (logs.resource_logs if logs else ()) for sl in rl.scope_logs for r in sl.log_records
    ]
    latest = max((s.end_time_unix_nano for s in spans), default=0)
    shift = (time.time_ns() if now_ns is None else now_ns) - latest if latest else 0
    new_ids: dict[bytes, bytes] = {}

    def fresh(trace_id: bytes) -> bytes:
        if not trace_id:
            return trace_id
        return new_ids.setdefault(trace_id, os.urandom(16))

    for span in spans:
        span.trace_id = fresh(span.trace_id)
        span.start_time_unix_nano += shift
        span.end_time_unix_nano += shift
        for event in span.events:
            event.time_unix_nano += shift
    for record in records:
        record.trace_id = fresh(record.trace_id)
        if record.time_unix_nano:
            record.time_unix_nano += shift
        if record.observed_time_unix_nano:
            record.observed_time_unix_nano += shift
    return traces, logs


def spans_from(request: ExportTraceServiceRequest) -> list[ReadableSpan]:
    spans = []
    for resource_spans in request.resource_spans:
        resource = Resource(attributes(resource_spans.resource.attributes))
        for scope_spans in resource_spans.scope_spans:
            scope = InstrumentationScope(scope_spans.scope.name, scope_spans.scope.version or None)
            for span in scope_spans.spans:
                status = Status(StatusCode(span.status.code), span.status.message or None)
                spans.append(
                    ReadableSpan(
                        name=span.name,
                        context=_context(span.trace_id, span.span_id),
                        parent=_context(span.trace_id, span.parent_span_id) if span.parent_span_id else None,
                        resource=resource,
                        attributes=attributes(span.attributes),
                        events=[
                            Event(e.name, attributes(e.attributes), e.time_unix_nano) for e in span.events
                        ],
                        kind=SpanKind(max(span.kind - 1, 0)),
                        status=status,
                        start_time=span.start_time_unix_nano,
                        end_time=span.end_time_unix_nano,
                        instrumentation_scope=scope,
                    )
                )
    return spans


def log_records_from(request: ExportLogsServiceRequest) -> list[ReadableLogRecord]:
    records = []
    for resource_logs in request.resource_logs:
        resource = Resource(attributes(resource_logs.resource.attributes))
        for scope_logs in resource_logs.scope_logs:
            scope = InstrumentationScope(scope_logs.scope.name, scope_logs.scope.version or None)
            for log in scope_logs.log_records:
                # The span context travels as a Context (the trace_id= keywords are deprecated).
                span = NonRecordingSpan(
                    SpanContext(
                        int.from_bytes(log.trace_id, "big"),
                        int.from_bytes(log.span_id, "big"),
                        is_remote=False,
                        trace_flags=TraceFlags(log.flags & 0xFF),
                    )
                )
                record = LogRecord(
                    timestamp=log.time_unix_nano or None,
                    observed_timestamp=log.observed_time_unix_nano or None,
                    context=set_span_in_context(span, Context()),
                    severity_text=log.severity_text or None,
                    severity_number=SeverityNumber(log.severity_number) if log.severity_number else None,
                    body=any_value(log.body) if log.HasField("body") else None,
                    attributes=attributes(log.attributes),
                    event_name=log.event_name or None,
                )
                records.append(ReadableLogRecord(record, resource, scope))
    return records


def replay(
    endpoint: str,
    traces: Sequence[ExportTraceServiceRequest] = (),
    logs: Sequence[ExportLogsServiceRequest] = (),
    *,
    timeout_s: float = 30.0,
) -> tuple[bool, bool]:
    """Export with the SDK's OTLP gRPC exporters (gzip, insecure); returns (traces ok, logs ok)."""
    traces_ok = logs_ok = True
    if traces:
        exporter = OTLPSpanExporter(
            endpoint=endpoint, insecure=True, compression=Compression.Gzip, timeout=timeout_s
        )
        traces_ok = all(exporter.export(spans_from(r)).name == "SUCCESS" for r in traces)
        exporter.shutdown()
    if logs:
        log_exporter = OTLPLogExporter(
            endpoint=endpoint, insecure=True, compression=Compression.Gzip, timeout=timeout_s
        )
        logs_ok = all(log_exporter.export(log_records_from(r)).name == "SUCCESS" for r in logs)
        log_exporter.shutdown()
    return traces_ok, logs_ok


def trace_ids(request: ExportTraceServiceRequest) -> list[bytes]:
    """The distinct trace ids of a traces request, in first-seen order."""
    seen: dict[bytes, None] = {}
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                seen.setdefault(span.trace_id)
    return list(seen)


def replay_http(
    base_url: str,
    traces: Sequence[ExportTraceServiceRequest] = (),
    logs: Sequence[ExportLogsServiceRequest] = (),
    *,
    certificate_file: str | None = None,
    headers: dict[str, str] | None = None,
    timeout_s: float = 30.0,
) -> tuple[bool, bool]:
    """Export with the SDK's OTLP/HTTP protobuf exporters (gzip) to `base_url`/v1/traces and /v1/logs."""
    from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter

    options: dict[str, Any] = {
        "compression": HttpCompression.Gzip,
        "timeout": timeout_s,
        "headers": headers,
        "certificate_file": certificate_file,
    }
    traces_ok = logs_ok = True
    if traces:
        exporter = HttpSpanExporter(endpoint=f"{base_url}/v1/traces", **options)
        traces_ok = all(exporter.export(spans_from(r)).name == "SUCCESS" for r in traces)
        exporter.shutdown()  # type: ignore[no-untyped-call]
    if logs:
        log_exporter = HttpLogExporter(endpoint=f"{base_url}/v1/logs", **options)
        logs_ok = all(log_exporter.export(log_records_from(r)).name == "SUCCESS" for r in logs)
        log_exporter.shutdown()  # type: ignore[no-untyped-call]
    return traces_ok, logs_ok


_ID_KEYS = ("traceId", "spanId", "parentSpanId")


def _ids_to_hex(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _ids_to_hex(value)
    elif isinstance(node, list):
        for item in node:
            _ids_to_hex(item)


def otlp_json(request: ExportTraceServiceRequest | ExportLogsServiceRequest) -> bytes:
    """The request in the OTLP JSON encoding: lowerCamelCase, enums as numbers, hex trace and span ids."""
    data = json_format.MessageToDict(request, use_integers_for_enums=True)
    _ids_to_hex(data)
    return json.dumps(data).encode()
