"""bench/otlp_load.py: the issue-14 load is what it claims, and the same bytes on every call."""

from __future__ import annotations

from collections import Counter

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from otlp_load import SPANS_PER_REQUEST, TRACES_PER_REQUEST, RequestLoad

from processor.extract import SpanRole, classify


def test_a_request_is_25_traces_of_20_spans_with_one_llm_call_and_a_labelled_root_each() -> None:
    load = RequestLoad()
    body = load.body(3)
    request = ExportTraceServiceRequest.FromString(body)
    spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert len(spans) == SPANS_PER_REQUEST
    per_trace = Counter(s.trace_id for s in spans)
    assert list(per_trace) == load.trace_ids(3)
    assert set(per_trace.values()) == {SPANS_PER_REQUEST // TRACES_PER_REQUEST}
    assert sum(classify(s) is SpanRole.LLM for s in spans) == TRACES_PER_REQUEST
    roots = [s for s in spans if not s.parent_span_id]
    assert len(roots) == TRACES_PER_REQUEST
    assert all({"app.locale", "app.tenant"} <= {kv.key for kv in s.attributes} for s in roots)
    assert b"sampling.priority" not in body


def test_bodies_are_stable_and_trace_ids_unique_across_requests() -> None:
    load = RequestLoad()
    assert load.body(5) == RequestLoad().body(5)
    ids = [t for i in range(40) for t in load.trace_ids(i)]
    assert len(set(ids)) == len(ids)
    assert load.body(5) != load.body(6)


def test_llm_every_thins_the_llm_calls_and_keeps_every_trace_whole() -> None:
    for every, calls in ((10, 3), (0, 0)):
        load = RequestLoad(llm_every=every)
        spans = [
            s
            for rs in ExportTraceServiceRequest.FromString(load.body(2)).resource_spans
            for ss in rs.scope_spans
            for s in ss.spans
        ]
        llm_traces = [load.trace_ids(2).index(s.trace_id) for s in spans if classify(s) is SpanRole.LLM]
        assert llm_traces == [t for t in range(TRACES_PER_REQUEST) if every and t % every == 0]
        assert len(llm_traces) == calls
        assert set(Counter(s.trace_id for s in spans).values()) == {SPANS_PER_REQUEST // TRACES_PER_REQUEST}
