"""Receiver side, before decoding: leave out, from the request's bytes, the spans that cannot be forwarded.

Decoding a whole export request builds a message for every span, attribute and value, although the
sampler drops ~95 % of the traces on their trace id alone, and the selection forwards of a kept trace
only the spans carrying one of a few attribute keys (`select.forwarded_keys`: LLM and retrieval
markers, slice labels). `prefilter_traces` reads only each span's framing and leading ids (a skeleton
parse in upb: spans stay opaque bytes), asks the sampler once per distinct trace id, tests each span
of a kept trace for those keys' bytes (`SpanKeyTest`), and rebuilds the request from the spans that
pass; the receiver decodes and selects that, unchanged.

It is a fast path that gives exactly what the full path gives, or steps aside (None), when:
- the sampler keeps every trace (rate 1) and there is no key test: nothing to leave out;
- the sampler may override per span (`Sampler.overrides`): that needs every span's attributes;
- a span does not start with its trace id and span id as protobuf writes them (field 1 of 16
  bytes, then field 2 of 8 bytes; every SDK and the Collector serialise fields in number order);
- a trace id is all zero (the full path rejects and counts such spans);
- the skeleton does not parse (the full decode then names the problem).
What it does not do: look at a left-out span beyond its framing, ids and key bytes. A sampled-out
span with an all-zero span id is dropped with its trace, where the full path counted it rejected
(partial success); a left-out span whose attributes are malformed (bad UTF-8, broken nesting) is
dropped, where the full decode refused the whole request with INVALID_ARGUMENT. Spans that go on
(kept traces' spans with a forwarded key, or with an all-zero span id) are decoded and checked in full.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import compress
from operator import itemgetter
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from processor.extract.otlp import SPAN_ID_LEN, TRACE_ID_LEN
from processor.sampler import Sampler
from processor.transport import wire

# A span's first bytes, as protobuf writes them: tag of field 1 (trace_id) and its length 16, the id,
# then the tag of field 2 (span_id) and its length 8.
_TRACE_ID_TAG = bytes([1 << 3 | 2, TRACE_ID_LEN])
_SPAN_ID_TAG = bytes([2 << 3 | 2, SPAN_ID_LEN])
_HEAD_LEN = len(_TRACE_ID_TAG) + TRACE_ID_LEN + len(_SPAN_ID_TAG)
_HEAD = itemgetter(slice(0, _HEAD_LEN))
_TRACE_ID_OF_HEAD = itemgetter(slice(len(_TRACE_ID_TAG), len(_TRACE_ID_TAG) + TRACE_ID_LEN))
_SPAN_ID = itemgetter(slice(_HEAD_LEN, _HEAD_LEN + SPAN_ID_LEN))  # of a span that starts with the head
_ZERO_TRACE_ID = bytes(TRACE_ID_LEN)
_ZERO_SPAN_ID = bytes(SPAN_ID_LEN)
_KEY_TAG = bytes([1 << 3 | 2])  # KeyValue.key: field 1, length-delimited


class SpanKeyTest:
    """Could a serialised span carry one of `keys` as an attribute key: a test of its bytes for each
    key as protobuf writes a KeyValue's key (tag, length, UTF-8). It may say yes wrongly (those bytes
    inside a value), never no wrongly; one compiled search per span, ~0.3 us for 300 bytes."""

    def __init__(self, keys: Iterable[str]) -> None:
        needles = {wire.length_delimited(1, key.encode()) for key in keys if key}
        if not needles:
            raise ValueError("SpanKeyTest needs at least one non-empty key")
        # every needle is the tag b"\n" then the length: grouped by the length's first byte, the
        # search tries one group's keys where it finds a tag, not every key (a third faster)
        by_length: dict[bytes, list[bytes]] = {}
        for needle in sorted(needles, reverse=True):
            by_length.setdefault(needle[1:2], []).append(re.escape(needle[2:]))
        groups = [
            re.escape(length) + b"(?:" + b"|".join(rest) + b")" for length, rest in sorted(by_length.items())
        ]
        self.search = re.compile(_KEY_TAG + b"(?:" + b"|".join(groups) + b")").search

    def __call__(self, span: bytes) -> bool:
        return self.search(span) is not None


def _skeleton() -> Any:
    """ExportTraceServiceRequest with the same field numbers, but resources, scopes and spans kept as
    opaque bytes (proto2, so an empty resource or scope keeps its presence)."""
    file = descriptor_pb2.FileDescriptorProto(
        name="evalstream/prefilter_skeleton.proto", package="evalstream.prefilter", syntax="proto2"
    )
    field = descriptor_pb2.FieldDescriptorProto
    layout: dict[str, list[tuple[str, int, str | None]]] = {
        "Request": [("resource_spans", 1, ".evalstream.prefilter.ResourceSpans")],
        "ResourceSpans": [
            ("resource", 1, None),
            ("scope_spans", 2, ".evalstream.prefilter.ScopeSpans"),
            ("schema_url", 3, None),
        ],
        "ScopeSpans": [("scope", 1, None), ("spans", 2, None), ("schema_url", 3, None)],
    }
    repeated = {"resource_spans", "scope_spans", "spans"}
    for name, fields in layout.items():
        message = file.message_type.add(name=name)
        for field_name, number, type_name in fields:
            added = message.field.add(
                name=field_name,
                number=number,
                label=field.LABEL_REPEATED if field_name in repeated else field.LABEL_OPTIONAL,
                type=field.TYPE_MESSAGE if type_name else field.TYPE_BYTES,
            )
            if type_name:
                added.type_name = type_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("evalstream.prefilter.Request"))


_Skeleton: Any = _skeleton()


@dataclass(frozen=True, slots=True)
class Prefiltered:
    """A request without the spans that cannot be forwarded: `body` (the input itself when nothing was
    left out), how many spans were left out (never decoded), how many distinct trace ids the sampler
    dropped, and how many it kept but left no span of."""

    body: bytes
    spans_dropped: int
    traces_dropped: int
    traces_unread: int = 0  # kept trace ids of which no span was left in (none passed the key test)


def prefilter_traces(
    body: bytes, sampler: Sampler, span_keys: SpanKeyTest | None = None
) -> Prefiltered | None:
    """The serialised ExportTraceServiceRequest `body` holding only the spans of the traces `sampler`
    keeps, and of those only the ones `span_keys` passes (all when None), resources and scopes as they
    were; None when this cannot be decided from the bytes alone (see the module doc), so the caller
    decodes `body` in full."""
    if sampler.overrides or (sampler.keeps_every_trace and span_keys is None):
        return None
    try:
        skeleton = _Skeleton.FromString(body)
    except DecodeError:
        return None
    keep = sampler.keep
    decisions: dict[bytes, bool] = {}
    read: set[bytes] = set()  # kept trace ids with a span left in
    out = _Skeleton()
    spans_dropped = 0
    for resource_spans in skeleton.resource_spans:
        out_resource = None
        for scope_spans in resource_spans.scope_spans:
            spans = scope_spans.spans
            heads = list(map(_HEAD, spans))
            kept_heads: set[bytes] = set()
            distinct = set(heads)  # one per trace id when every span has the layout
            for head in distinct:
                trace_id = head[2 : 2 + TRACE_ID_LEN]
                if not head.startswith(_TRACE_ID_TAG) or not head.endswith(_SPAN_ID_TAG):
                    return None  # short, or ids not first: only the full decode knows
                decision = decisions.get(trace_id)
                if decision is None:
                    if trace_id == _ZERO_TRACE_ID:
                        return None
                    decision = decisions[trace_id] = keep(trace_id)
                if decision:
                    kept_heads.add(head)
            if len(kept_heads) == len(distinct):
                kept = list(spans)
            else:
                # index the few kept spans: iterating `spans` again would copy every span's bytes
                at = compress(range(len(heads)), map(kept_heads.__contains__, heads)) if kept_heads else ()
                kept = [spans[i] for i in at]
            if span_keys is not None and kept:
                if _ZERO_SPAN_ID in map(_SPAN_ID, kept):  # rare: the full decode rejects and counts it
                    kept = [s for s in kept if _SPAN_ID(s) == _ZERO_SPAN_ID or span_keys.search(s)]
                else:
                    kept = list(filter(span_keys.search, kept))  # search: no Python frame per span
                read.update(map(_TRACE_ID_OF_HEAD, kept))
            spans_dropped += len(heads) - len(kept)
            if not kept:
                continue
            if out_resource is None:
                out_resource = out.resource_spans.add()
                if resource_spans.HasField("resource"):
                    out_resource.resource = resource_spans.resource
                if resource_spans.HasField("schema_url"):
                    out_resource.schema_url = resource_spans.schema_url
            out_scope = out_resource.scope_spans.add(spans=kept)
            if scope_spans.HasField("scope"):
                out_scope.scope = scope_spans.scope
            if scope_spans.HasField("schema_url"):
                out_scope.schema_url = scope_spans.schema_url
    if not spans_dropped:
        return Prefiltered(body, 0, 0)
    dropped_traces = sum(not decision for decision in decisions.values())
    unread = 0 if span_keys is None else len(decisions) - dropped_traces - len(read)
    return Prefiltered(out.SerializeToString(), spans_dropped, dropped_traces, unread)


__all__ = ["Prefiltered", "SpanKeyTest", "prefilter_traces"]
