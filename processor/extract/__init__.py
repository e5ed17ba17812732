"""Find LLM calls in OTLP and turn each into an EvalCase: the one extractor shared by receiver and worker.

Receiver: `select_traces` / `select_logs` decide on the trace id first (the sampler), then keep, of
the sampled traces, the LLM spans, retrieval spans, label-carrying spans (of traces with an LLM
call, by default: `slices.label_spans`) and GenAI events, grouped by trace id. Worker:
`TraceAssembly` gathers what a trace sent across exports and `cases()` builds one `EvalCase` per
LLM span. `extract` does both halves for one request, for tests and offline use.
"""

from __future__ import annotations

from processor.extract.assembly import TraceAssembly, extract
from processor.extract.classify import SpanRole, classify
from processor.extract.select import (
    LlmTraceMemory,
    LogSelection,
    TraceSelection,
    forwarded_keys,
    select_logs,
    select_traces,
)

__all__ = [
    "LlmTraceMemory",
    "LogSelection",
    "SpanRole",
    "TraceAssembly",
    "TraceSelection",
    "classify",
    "extract",
    "forwarded_keys",
    "select_logs",
    "select_traces",
]
