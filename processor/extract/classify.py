"""Is this span an LLM call, a retrieval, or neither: markers of all three conventions, one pass."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from processor.extract import genai, openinference, openllmetry
from processor.extract.otlp import any_value


class SpanRole(enum.Enum):
    LLM = "llm"
    RETRIEVAL = "retrieval"
    OTHER = "other"


MARKER_KEYS = frozenset(
    {genai.OPERATION, genai.PROVIDER, genai.SYSTEM, openinference.SPAN_KIND, openllmetry.REQUEST_TYPE}
)


def role_of(attrs: Mapping[str, Any]) -> SpanRole:
    """The role from a span's attributes (already decoded)."""
    operation = attrs.get(genai.OPERATION)
    kind = attrs.get(openinference.SPAN_KIND)
    if kind == openinference.LLM:
        return SpanRole.LLM
    if kind == openinference.RETRIEVER or operation == genai.RETRIEVAL_OPERATION:
        return SpanRole.RETRIEVAL
    provider = attrs.get(genai.PROVIDER) or attrs.get(genai.SYSTEM)
    if genai.is_llm(operation, provider):
        return SpanRole.LLM
    if openllmetry.is_llm(attrs.get(openllmetry.REQUEST_TYPE), attrs.get(genai.SYSTEM), operation):
        return SpanRole.LLM
    return SpanRole.OTHER


def inspect_attributes(kvs: Iterable[KeyValue], label_keys: frozenset[str]) -> tuple[SpanRole, bool]:
    """(role, carries a slice label key) in one pass, decoding only the marker attributes."""
    markers: dict[str, Any] = {}
    labelled = False
    for kv in kvs:
        key = kv.key
        if key in MARKER_KEYS and key not in markers:
            markers[key] = any_value(kv.value)
        if not labelled and key in label_keys:
            labelled = True
    return (role_of(markers) if markers else SpanRole.OTHER), labelled


def classify(span: Span) -> SpanRole:
    """LLM when any convention marks the span as an inference call; RETRIEVAL for retrievers."""
    return inspect_attributes(span.attributes, frozenset())[0]
