"""Slice labels for one LLM span: the span itself, its ancestors, other labelled spans, then the resource.

Where to look, nearest first:

1. the LLM span;
2. its ancestors, parent first, as far as the chain of forwarded spans reaches;
3. only when that chain is broken (a parent id that is not in the trace, because an unlabelled
   intermediate span was never forwarded, or has not arrived yet): the trace's other spans carrying
   one of the label's keys, root-most first (spans without a parent, then by start time), skipping
   other LLM calls so one call never borrows another's labels;
4. the resource (service.name, a tenant set once per process).

At each place the label's keys are tried in their configured order; the first non-empty value wins.
A label found nowhere is left out (`EvalCase.label` then says `unknown`); `model` falls back to the
call's own response model, else its request model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from processor.extract.config import SlicesConfig
from processor.extract.otlp import SpanRecord, first_text

_MAX_CHAIN = 256  # a guard against parent cycles in hostile input


def _ancestors(span: SpanRecord, spans: Mapping[bytes, SpanRecord]) -> tuple[list[SpanRecord], bool]:
    """(ancestors nearest first, whether the chain ends in a parent id that is not in `spans`)."""
    chain: list[SpanRecord] = []
    seen = {span.span_id}
    parent = span.parent_span_id
    while parent and any(parent):
        if parent in seen or len(chain) >= _MAX_CHAIN:
            return chain, False
        record = spans.get(parent)
        if record is None:
            return chain, True
        chain.append(record)
        seen.add(parent)
        parent = record.parent_span_id
    return chain, False


def lookup_labels(
    span: SpanRecord,
    spans: Mapping[bytes, SpanRecord],
    slices: SlicesConfig,
    *,
    is_llm: Callable[[SpanRecord], bool],
    model: str = "",
) -> dict[str, str]:
    """The configured slice labels of `span` within its trace (`spans`: span id -> record)."""
    ancestors, broken = _ancestors(span, spans)
    places: list[Mapping[str, Any]] = [span.attributes, *(a.attributes for a in ancestors)]
    fallback: list[SpanRecord] = []
    if broken:
        on_chain = {span.span_id, *(a.span_id for a in ancestors)}
        fallback = [s for s in spans.values() if s.span_id not in on_chain and not is_llm(s)]
        fallback.sort(
            key=lambda s: (bool(s.parent_span_id and any(s.parent_span_id)), s.start_time_unix_nano)
        )
    labels: dict[str, str] = {}
    for name, keys in slices.labels.items():
        value = first_text(places, keys)
        if not value and fallback:
            value = first_text([s.attributes for s in fallback], keys)
        if not value:
            value = first_text([span.resource], keys)
        if not value and name == "model":
            value = model
        if value:
            labels[name] = value
    return labels
