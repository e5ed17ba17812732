"""Receiver side: which spans and log records of a request are worth forwarding, grouped by trace.

The sampler decides on the trace id first; attributes are read only for the traces it keeps
(most spans in real traffic are not LLM calls, and reading attributes is the expensive part).
Of a kept trace we forward its LLM spans, retrieval spans, and spans carrying a slice label key.
Which label spans go along is `slices.label_spans`: `all` forwards them even when this request holds
no LLM call of that trace (the LLM span may be in an earlier export, or come in a later one), which
at a high sampling rate means a record for every labelled trace, LLM call or not; `llm_traces` (the
default) forwards them only for traces with an LLM or retrieval span in the same request, or one
this receiver forwarded shortly before (`LlmTraceMemory`: a root span is exported after its children).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import compress, islice
from operator import attrgetter
from typing import Any, Generic

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from processor.extract.classify import MARKER_KEYS, SpanRole, inspect_attributes
from processor.extract.config import LABEL_SPANS_ALL, SlicesConfig
from processor.extract.genai import is_content_event
from processor.extract.otlp import (
    LAYOUT,
    SPAN_ID_LEN,
    TRACE_ID_LEN,
    Request,
    log_event_name,
    valid_span_id,
    valid_trace_id,
)
from processor.sampler import Sampler


@dataclass
class TraceSelection:
    """What `select_traces` kept: one request per trace id, resource and scope preserved.

    `llm_calls_found` counts LLM spans among the sampled traces only (others are never inspected).
    `traces_received` / `traces_sampled` count the distinct trace ids of this request, before and
    after sampling (a trace split over several exports is counted in each).
    `rejected` spans had an invalid trace or span id; `rejected_reason` says so without any content.
    """

    traces: dict[bytes, ExportTraceServiceRequest] = field(default_factory=dict)
    spans_received: int = 0
    traces_received: int = 0
    traces_sampled: int = 0
    llm_calls_found: int = 0
    spans_kept: int = 0
    label_spans_held_back: int = 0  # label-carrying spans of traces with no LLM call known (`llm_traces`)
    rejected: int = 0
    rejected_reason: str = ""


class LlmTraceMemory:
    """The ids of the last `capacity` traces in which this receiver found an LLM or retrieval span.

    With `slices.label_spans: llm_traces`, a label-carrying span whose trace has no LLM call in its
    own request still goes along when its trace is remembered here: an SDK exports a span when it
    ends, children before their parent, so a root span usually arrives with or after its LLM call.
    Bounded (oldest forgotten first); shared by the receiver's request threads.
    """

    def __init__(self, capacity: int = 65_536) -> None:
        self.capacity = capacity
        self._ids: dict[bytes, None] = {}  # insertion-ordered: the oldest first
        self._lock = threading.Lock()

    def __contains__(self, trace_id: bytes) -> bool:
        return trace_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def remember(self, trace_ids: Iterable[bytes]) -> None:
        with self._lock:
            ids = self._ids
            for trace_id in trace_ids:
                ids.pop(trace_id, None)  # re-seen: now the newest
                ids[trace_id] = None
            for oldest in list(islice(ids, max(0, len(ids) - self.capacity))):
                del ids[oldest]


@dataclass
class LogSelection:
    """What `select_logs` kept: GenAI events of sampled traces, one request per trace id."""

    logs: dict[bytes, ExportLogsServiceRequest] = field(default_factory=dict)
    records_received: int = 0
    records_kept: int = 0
    rejected: int = 0
    rejected_reason: str = ""


def select_traces(
    request: ExportTraceServiceRequest,
    sampler: Sampler,
    slices: SlicesConfig,
    raw: bytes | None = None,
    *,
    memory: LlmTraceMemory | None = None,
) -> TraceSelection:
    """Keep, per sampled trace, its LLM, retrieval and label-carrying spans (which label spans:
    `slices.label_spans`; `memory` remembers traces with an LLM call across requests, see module doc).

    `raw`, the request as serialised, lets a request that cannot hold an LLM call skip the attribute
    reads: with `llm_traces`, only a span of a trace with an LLM or retrieval span can go, and such a
    span carries one of the marker keys (`classify.MARKER_KEYS`), which protobuf stores as their
    UTF-8 bytes. Bytes without any of them leave only the label spans of remembered traces.

    The sampler decides which spans are kept (`processor.sampler.Sampler`: the hash per trace id,
    and a span's own override). Asking for overrides means one scan of the keys of every span; a
    sampler whose `overrides` is false is asked per trace id only (the receiver passes
    `sampler.for_request(body)`, which is such a sampler when the request's bytes cannot carry one).
    """
    result = TraceSelection()
    if sampler.overrides:
        candidates = _candidates_with_priority(request, sampler, result)
    else:
        candidates = _candidates(request, sampler, result)
    if result.rejected:
        result.rejected_reason = (
            f"{result.rejected} span(s) with an invalid trace id or span id "
            f"(must be {TRACE_ID_LEN} and {SPAN_ID_LEN} bytes, not all zero)"
        )
    if raw is not None and slices.label_spans != LABEL_SPANS_ALL and not _may_hold_llm_call(raw):
        candidates = [c for c in candidates if memory is not None and c[2].trace_id in memory]
    _group_kept(request, candidates, slices, memory, result)
    return result


def forwarded_keys(slices: SlicesConfig) -> frozenset[str]:
    """The attribute keys of which a span of a kept trace carries at least one when it is forwarded:
    the LLM and retrieval markers and the slice label keys. (The receiver's prefilter tests span bytes
    for them, so spans without any are never decoded.)"""
    return slices.attribute_keys | MARKER_KEYS


_MARKER_BYTES = tuple(key.encode() for key in sorted(MARKER_KEYS))


def _may_hold_llm_call(raw: bytes) -> bool:
    """False when no span of these serialised bytes can be an LLM call or a retrieval."""
    return any(key in raw for key in _MARKER_BYTES)


_TRACE_ID = attrgetter("trace_id")
_SPAN_ID = attrgetter("span_id")
_KEY = attrgetter("key")
_ZERO_SPAN_ID = bytes(SPAN_ID_LEN)

Candidate = tuple[int, int, Span]  # (resource index, scope index, span) of a span of a kept trace


def _candidates(
    request: ExportTraceServiceRequest, sampler: Sampler, result: TraceSelection
) -> list[Candidate]:
    """The spans of kept traces, in request order, without looking at any attribute.

    Per span only its two ids are read (by C-level maps); the sampler and the trace id check run
    once per distinct trace id, and the span ids of a scope are checked together; spans of a scope
    are touched one by one only when that scope holds an invalid id, or for the kept traces.
    """
    decisions: dict[bytes, bool | None] = {}  # None: invalid trace id
    keep = sampler.keep
    candidates: list[Candidate] = []
    for rs_index, resource_spans in enumerate(request.resource_spans):
        for ss_index, scope_spans in enumerate(resource_spans.scope_spans):
            spans = scope_spans.spans
            trace_ids = list(map(_TRACE_ID, spans))
            if not trace_ids:
                continue
            span_ids = list(map(_SPAN_ID, spans))
            result.spans_received += len(trace_ids)
            distinct = list(dict.fromkeys(trace_ids))
            for trace_id in distinct:
                if trace_id not in decisions:
                    decisions[trace_id] = keep(trace_id) if valid_trace_id(trace_id) else None
            lengths = list(map(len, span_ids))
            if (
                None in map(decisions.__getitem__, distinct)
                or min(lengths) != SPAN_ID_LEN
                or max(lengths) != SPAN_ID_LEN
                or _ZERO_SPAN_ID in span_ids
            ):
                valid = [
                    decisions[trace_id] is not None and valid_span_id(span_id)
                    for trace_id, span_id in zip(trace_ids, span_ids, strict=True)
                ]
                result.rejected += valid.count(False)
                kept = [decisions[t] is True and ok for t, ok in zip(trace_ids, valid, strict=True)]
                positions = compress(range(len(trace_ids)), kept)
            else:
                kept_ids = {trace_id for trace_id in distinct if decisions[trace_id]}
                if not kept_ids:
                    continue
                positions = compress(range(len(trace_ids)), map(kept_ids.__contains__, trace_ids))
            candidates.extend((rs_index, ss_index, spans[i]) for i in positions)
    _count_traces(decisions, result)
    return candidates


def _candidates_with_priority(
    request: ExportTraceServiceRequest, sampler: Sampler, result: TraceSelection
) -> list[Candidate]:
    """`_candidates` when spans may carry an override: the sampler reads every span's keys."""
    override = sampler.override
    decisions: dict[bytes, bool] = {}
    spans_seen: list[Candidate] = []
    for rs_index, resource_spans in enumerate(request.resource_spans):
        for ss_index, scope_spans in enumerate(resource_spans.scope_spans):
            for span in scope_spans.spans:
                result.spans_received += 1
                trace_id = span.trace_id
                if not valid_trace_id(trace_id) or not valid_span_id(span.span_id):
                    result.rejected += 1
                    continue
                if trace_id not in decisions:
                    decisions[trace_id] = sampler.keep(trace_id)
                verdict = override(span)
                if verdict is False:
                    continue  # the Collector drops exactly this span
                if verdict:
                    decisions[trace_id] = True
                spans_seen.append((rs_index, ss_index, span))
    _count_traces(decisions, result)
    return [candidate for candidate in spans_seen if decisions[candidate[2].trace_id]]


def _count_traces(decisions: dict[bytes, bool] | dict[bytes, bool | None], result: TraceSelection) -> None:
    """Distinct valid trace ids of the request, and how many of them the sampler kept."""
    result.traces_received = sum(decision is not None for decision in decisions.values())
    result.traces_sampled = sum(decision is True for decision in decisions.values())


def _group_kept(
    request: ExportTraceServiceRequest,
    candidates: list[Candidate],
    slices: SlicesConfig,
    memory: LlmTraceMemory | None,
    result: TraceSelection,
) -> None:
    """Of the kept traces' spans, the LLM, retrieval and label ones, one request per trace id."""
    label_keys = slices.attribute_keys
    wanted_keys = forwarded_keys(slices)
    chosen: list[tuple[Candidate, bool]] = []  # (span, carries labels only), in request order
    with_llm: set[bytes] = set()  # traces with an LLM or retrieval span in this request
    for candidate in candidates:
        attributes = candidate[2].attributes
        # most spans carry none of these keys: a C-level test of the keys alone settles them
        if wanted_keys.isdisjoint(map(_KEY, attributes)):
            continue
        role, labelled = inspect_attributes(attributes, label_keys)
        if role is SpanRole.OTHER:
            if labelled:
                chosen.append((candidate, True))
            continue
        if role is SpanRole.LLM:
            result.llm_calls_found += 1
        with_llm.add(candidate[2].trace_id)
        chosen.append((candidate, False))
    every_label_span = slices.label_spans == LABEL_SPANS_ALL
    per_trace = _PerTrace(request)
    for (rs_index, ss_index, span), labels_only in chosen:
        trace_id = span.trace_id
        known = trace_id in with_llm or (memory is not None and trace_id in memory)
        if labels_only and not every_label_span and not known:
            result.label_spans_held_back += 1
            continue
        per_trace.add(trace_id, rs_index, ss_index, span)
        result.spans_kept += 1
    if memory is not None and with_llm and not every_label_span:
        memory.remember(with_llm)
    result.traces = per_trace.requests


class _PerTrace(Generic[Request]):
    """The kept items of one export request regrouped into one request per trace id, each item under
    a copy of its resource and scope (schema URLs too); traces and logs alike (`otlp.LAYOUT`)."""

    def __init__(self, source: Request) -> None:
        self.requests: dict[bytes, Request] = {}
        self._source: Request = source
        self._layout = LAYOUT[type(source)]
        # resource and scope messages of the output, reached by field name (LAYOUT): untyped
        self._resources: dict[tuple[bytes, int], Any] = {}
        self._scopes: dict[tuple[bytes, int, int], Any] = {}

    def add(self, trace_id: bytes, resource_index: int, scope_index: int, item: Span | LogRecord) -> None:
        layout = self._layout
        scope = self._scopes.get((trace_id, resource_index, scope_index))
        if scope is None:
            source_resource = getattr(self._source, layout.resources)[resource_index]
            resource = self._resources.get((trace_id, resource_index))
            if resource is None:
                out = self.requests.get(trace_id)
                if out is None:
                    out = self.requests[trace_id] = type(self._source)()
                resource = getattr(out, layout.resources).add(schema_url=source_resource.schema_url)
                resource.resource.CopyFrom(source_resource.resource)
                self._resources[(trace_id, resource_index)] = resource
            source_scope = getattr(source_resource, layout.scopes)[scope_index]
            scope = getattr(resource, layout.scopes).add(schema_url=source_scope.schema_url)
            scope.scope.CopyFrom(source_scope.scope)
            self._scopes[(trace_id, resource_index, scope_index)] = scope
        getattr(scope, layout.items).append(item)


def select_logs(request: ExportLogsServiceRequest, sampler: Sampler) -> LogSelection:
    """Keep GenAI events (`gen_ai.*` event name) of sampled traces, with valid trace and span ids.

    Records without a trace id are ordinary logs: not ours, not rejected. Records whose ids have the
    wrong length are rejected. (No priority override here: log records carry no span attributes.)
    """
    result = LogSelection()
    decisions: dict[bytes, bool] = {}
    per_trace = _PerTrace(request)
    for rl_index, resource_logs in enumerate(request.resource_logs):
        for sl_index, scope_logs in enumerate(resource_logs.scope_logs):
            for record in scope_logs.log_records:
                result.records_received += 1
                trace_id, span_id = record.trace_id, record.span_id
                if len(trace_id) not in (0, TRACE_ID_LEN) or len(span_id) not in (0, SPAN_ID_LEN):
                    result.rejected += 1
                    continue
                if not valid_trace_id(trace_id) or not valid_span_id(span_id):
                    continue  # not joined to a span: nothing to evaluate it with
                keep = decisions.get(trace_id)
                if keep is None:
                    keep = decisions[trace_id] = sampler.keep(trace_id)
                if not keep or not is_content_event(log_event_name(record)):
                    continue
                per_trace.add(trace_id, rl_index, sl_index, record)
                result.records_kept += 1
    result.logs = per_trace.requests
    if result.rejected:
        result.rejected_reason = (
            f"{result.rejected} log record(s) with a malformed trace id or span id "
            f"(must be {TRACE_ID_LEN} and {SPAN_ID_LEN} bytes)"
        )
    return result


__all__ = [
    "LlmTraceMemory",
    "LogSelection",
    "TraceSelection",
    "forwarded_keys",
    "select_logs",
    "select_traces",
]
