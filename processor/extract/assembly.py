"""Worker side: everything a trace has sent so far, turned into one EvalCase per LLM span.

Spans and GenAI log records arrive in any order and in any number of exports (a child span ends,
and is exported, before its parent). `TraceAssembly` keeps them by trace id and span id (a
re-delivered span or record replaces or joins its twin, never doubles it); `cases()` can be called
once the worker's wait window for the trace has passed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from processor.extract import genai, openinference, openllmetry
from processor.extract.classify import SpanRole, role_of
from processor.extract.config import SlicesConfig
from processor.extract.content import Content
from processor.extract.otlp import (
    MAX_VALUE_CHARS,
    LogRecordData,
    SpanRecord,
    ValueLimit,
    attributes,
    first_text,
    integer,
    text,
    valid_span_id,
    valid_trace_id,
)
from processor.extract.slices import lookup_labels
from processor.model import EvalCase

_INPUT_TOKEN_KEYS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
    "llm.usage.prompt_tokens",
)
_OUTPUT_TOKEN_KEYS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
    "llm.usage.completion_tokens",
)
_PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")


class TraceAssembly:
    """Spans and GenAI log records of one trace (or several), in whatever order they came."""

    def __init__(self, *, max_value_chars: int = MAX_VALUE_CHARS) -> None:
        #: string values are cut at `max_value_chars`; `value_limit.cut` counts how many were
        self.value_limit = ValueLimit(max_value_chars)
        self._spans: dict[bytes, dict[bytes, SpanRecord]] = {}
        self._roles: dict[tuple[bytes, bytes], SpanRole] = {}
        self._logs: dict[bytes, dict[bytes, dict[tuple[Any, ...], LogRecordData]]] = {}
        self._sequence = 0

    @property
    def trace_ids(self) -> list[bytes]:
        return list(self._spans.keys() | self._logs.keys())

    @property
    def span_count(self) -> int:
        return sum(len(spans) for spans in self._spans.values())

    def add_traces(self, request: ExportTraceServiceRequest) -> None:
        """Take in every span with valid ids; a span id seen before is replaced."""
        for resource_spans in request.resource_spans:
            resource = attributes(resource_spans.resource.attributes, self.value_limit)
            for scope_spans in resource_spans.scope_spans:
                scope_name = scope_spans.scope.name
                for span in scope_spans.spans:
                    if not valid_trace_id(span.trace_id) or not valid_span_id(span.span_id):
                        continue
                    record = SpanRecord.from_proto(span, resource, scope_name, self.value_limit)
                    self._spans.setdefault(record.trace_id, {})[record.span_id] = record
                    self._roles[(record.trace_id, record.span_id)] = role_of(record.attributes)

    def add_logs(self, request: ExportLogsServiceRequest) -> None:
        """Take in GenAI event records joined to a span; a re-delivered record is not added twice."""
        for resource_logs in request.resource_logs:
            for scope_logs in resource_logs.scope_logs:
                for proto in scope_logs.log_records:
                    if not valid_trace_id(proto.trace_id) or not valid_span_id(proto.span_id):
                        continue
                    self._sequence += 1
                    record = LogRecordData.from_proto(proto, self._sequence, self.value_limit)
                    if not genai.is_content_event(record.event_name):
                        continue
                    key = (
                        record.event_name,
                        record.time_unix_nano,
                        repr(record.body),
                        repr(record.attributes),
                    )
                    per_span = self._logs.setdefault(record.trace_id, {}).setdefault(record.span_id, {})
                    per_span.setdefault(key, record)

    def cases(self, slices: SlicesConfig) -> list[EvalCase]:
        """One EvalCase per LLM span seen, in trace then start-time order."""
        out: list[EvalCase] = []
        for trace_id, spans in self._spans.items():
            llm = sorted(
                (s for s in spans.values() if self._roles[(trace_id, s.span_id)] is SpanRole.LLM),
                key=lambda s: s.start_time_unix_nano,
            )
            if not llm:
                continue
            context = self._context(trace_id, spans)
            logs = self._logs.get(trace_id, {})
            for span in llm:
                records = list(logs.get(span.span_id, {}).values())
                out.append(self._case(span, spans, records, context, slices))
        return out

    def _is_llm(self, span: SpanRecord) -> bool:
        return self._roles.get((span.trace_id, span.span_id)) is SpanRole.LLM

    def _context(self, trace_id: bytes, spans: Mapping[bytes, SpanRecord]) -> tuple[str, ...]:
        retrievals = sorted(
            (s for s in spans.values() if self._roles[(trace_id, s.span_id)] is SpanRole.RETRIEVAL),
            key=lambda s: s.start_time_unix_nano,
        )
        docs: dict[str, None] = {}
        for span in retrievals:
            try:
                found = openinference.documents(span.attributes) or genai.retrieval_documents(span.attributes)
            except Exception:  # garbage in one retrieval span must not cost the case
                found = []
            for doc in found:
                docs.setdefault(doc, None)
        return tuple(docs)

    def _case(
        self,
        span: SpanRecord,
        spans: Mapping[bytes, SpanRecord],
        records: Sequence[LogRecordData],
        context: tuple[str, ...],
        slices: SlicesConfig,
    ) -> EvalCase:
        attrs = span.attributes
        details = next((r for r in records if r.event_name == genai.OPERATION_DETAILS_EVENT), None)
        meta: list[Mapping[str, Any]] = [attrs] if details is None else [attrs, details.attributes]
        content = _content(span, records)

        response_model = first_text(meta, ("gen_ai.response.model", "llm.model_name"))
        request_model = first_text(meta, ("gen_ai.request.model",)) or _safe(
            openinference.request_model, attrs
        )
        model = response_model or request_model
        trace_hex, span_hex = span.trace_id.hex(), span.span_id.hex()
        has_content = content is not None and not content.empty
        return EvalCase(
            input=content.question if content is not None else "",
            output=content.answer if content is not None else "",
            context=context,
            messages=tuple(m.to_message() for m in content.inputs) if content is not None else (),
            system_instructions=content.system if content is not None else "",
            labels=lookup_labels(span, spans, slices, is_llm=self._is_llm, model=model),
            id=f"{trace_hex}-{span_hex}",
            trace_id=trace_hex,
            span_id=span_hex,
            source=content.source if has_content and content is not None else _convention(attrs),
            model=model,
            request_model=request_model,
            provider=first_text(meta, _PROVIDER_KEYS).lower(),
            response_id=first_text(meta, ("gen_ai.response.id",)) or _safe(openinference.response_id, attrs),
            input_tokens=_first_int(meta, _INPUT_TOKEN_KEYS),
            output_tokens=_first_int(meta, _OUTPUT_TOKEN_KEYS),
            error=_error(span),
            has_content=has_content,
        )


def _content(span: SpanRecord, records: Sequence[LogRecordData]) -> Content | None:
    """The first convention that yields anything, newest first; a parser that chokes is skipped."""
    attrs = span.attributes
    readers: tuple[Callable[[], Content], ...] = (
        lambda: genai.content_from_attributes(attrs),
        lambda: genai.content_from_operation_details(records),
        lambda: genai.content_from_legacy_events(records),
        lambda: genai.content_from_span_events(span.events),
        lambda: openinference.content_from_attributes(attrs),
        lambda: openllmetry.content_from_attributes(attrs),
    )
    for read in readers:
        try:
            content = read()
        except Exception:  # garbage must degrade to "no content from this convention", never crash
            continue
        if not content.empty:
            return content
    return None


def _convention(attrs: Mapping[str, Any]) -> str:
    """Which convention marked the span, for a case without content."""
    if attrs.get(openinference.SPAN_KIND) is not None:
        return openinference.SOURCE
    if attrs.get(openllmetry.REQUEST_TYPE) is not None:
        return openllmetry.SOURCE
    return genai.SOURCE_SPAN


def _safe(func: Any, attrs: Mapping[str, Any]) -> str:
    try:
        value = func(attrs)
    except Exception:
        return ""
    return value if isinstance(value, str) else ""


def _first_int(places: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> int | None:
    for attrs in places:
        for key in keys:
            value = integer(attrs.get(key))
            if value is not None:
                return value
    return None


def _error(span: SpanRecord) -> str:
    error_type = text(span.attributes.get("error.type"))
    if span.status_error:
        return span.status_message or error_type or "error"
    return error_type


def extract(
    traces: ExportTraceServiceRequest,
    logs: ExportLogsServiceRequest | None = None,
    slices: SlicesConfig | None = None,
) -> list[EvalCase]:
    """Every LLM call in one traces request (plus its logs request): assemble, then build the cases."""
    assembly = TraceAssembly()
    assembly.add_traces(traces)
    if logs is not None:
        assembly.add_logs(logs)
    return assembly.cases(slices if slices is not None else SlicesConfig())
