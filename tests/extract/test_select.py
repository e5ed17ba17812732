"""select_traces / select_logs: the sampler decides first; of kept traces, LLM, retrieval and label spans."""

from __future__ import annotations

import pathlib
import random

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from processor.demo.replay import FLAVOURS
from processor.demo.replay import load_flavour as load
from processor.extract import LlmTraceMemory, SpanRole, classify, select_logs, select_traces
from processor.extract import select as select_module
from processor.extract.classify import MARKER_KEYS, inspect_attributes
from processor.extract.config import SlicesConfig
from processor.sampler.config import SamplingConfig
from processor.sampler.trace_id import TraceIdSampler
from tests.extract.conftest import log, logs_request, span, traces_request

ALL = TraceIdSampler(SamplingConfig(rate=1.0))
NONE = TraceIdSampler(SamplingConfig(rate=0.0))
SLICES = SlicesConfig()
EVERY_LABEL_SPAN = SlicesConfig(label_spans="all")


def _mixed_trace(trace: int = 1) -> list:
    return [
        span(trace, 1, None, app__locale="en-US", http__route="/ask"),  # label carrier (root)
        span(trace, 2, 1, db__system="postgresql"),  # plain span: dropped
        span(trace, 3, 2, gen_ai__operation__name="chat", gen_ai__provider__name="openai"),  # LLM
        span(trace, 4, 1, openinference__span__kind="RETRIEVER"),  # retrieval
        span(trace, 5, 1, gen_ai__operation__name="embeddings", gen_ai__provider__name="openai"),  # plain
    ]


def _span_ids(request) -> list[int]:
    return [
        int.from_bytes(s.span_id, "big")
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
    ]


def test_rate_zero_keeps_nothing() -> None:
    result = select_traces(traces_request(_mixed_trace()), NONE, SLICES)
    assert result.traces == {}
    assert (result.spans_received, result.spans_kept, result.llm_calls_found, result.rejected) == (5, 0, 0, 0)


def test_rate_one_keeps_llm_retrieval_and_label_spans_only() -> None:
    result = select_traces(traces_request(_mixed_trace()), ALL, SLICES)
    trace_id = (1).to_bytes(16, "big")
    assert list(result.traces) == [trace_id]
    assert _span_ids(result.traces[trace_id]) == [1, 3, 4]
    assert (result.spans_received, result.spans_kept, result.llm_calls_found) == (5, 3, 1)


def test_resource_and_scope_are_preserved_per_trace() -> None:
    request = traces_request(
        _mixed_trace(1) + _mixed_trace(2), resource={"service.name": "bot", "app.tenant": "a"}
    )
    result = select_traces(request, ALL, SLICES)
    assert len(result.traces) == 2
    for out in result.traces.values():
        assert len(out.resource_spans) == 1
        assert out.resource_spans[0].resource == request.resource_spans[0].resource
        assert out.resource_spans[0].scope_spans[0].scope.name == "test"
        assert len({s.trace_id for s in out.resource_spans[0].scope_spans[0].spans}) == 1


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_fixture_flavours_keep_llm_and_root(otlp_fixtures: pathlib.Path, flavour: str) -> None:
    traces, logs = load(otlp_fixtures, flavour)
    result = select_traces(traces, ALL, SLICES)
    assert (result.spans_received, result.spans_kept, result.llm_calls_found) == (4, 4, 2)
    assert len(result.traces) == 2
    if logs is not None:
        kept = select_logs(logs, ALL)
        assert kept.records_kept == kept.records_received > 0
        assert set(kept.logs) == set(result.traces)
        assert select_logs(logs, NONE).records_kept == 0


def test_invalid_ids_are_rejected_and_counted() -> None:
    spans = [
        span(bytes(16), 1, None, gen_ai__operation__name="chat", gen_ai__provider__name="x"),  # zero trace id
        span(b"\x01" * 15, 2),  # short trace id
        span(3, bytes(8)),  # zero span id
        span(4, b"\x01\x02"),  # short span id
        span(5, 5, None, gen_ai__operation__name="chat", gen_ai__provider__name="x"),
    ]
    result = select_traces(traces_request(spans), ALL, SLICES)
    assert (result.rejected, result.spans_kept, result.spans_received) == (4, 1, 5)
    assert result.rejected_reason.startswith("4 span(s) with an invalid trace id or span id")
    # rejected even when the sampler would have dropped them
    assert select_traces(traces_request(spans), NONE, SLICES).rejected == 4


def test_garbage_attribute_values_do_not_crash() -> None:
    spans = [
        span(1, 1, None, gen_ai__operation__name=["chat"], gen_ai__provider__name={"a": 1}),
        span(1, 2, None, openinference__span__kind=b"LLM", app__locale=3.5),
        span(1, 3, None, llm__request__type=7, gen_ai__system=True),
        span(1, 4, None, gen_ai__operation__name="chat", gen_ai__provider__name=""),
    ]
    result = select_traces(traces_request(spans), ALL, EVERY_LABEL_SPAN)
    assert result.llm_calls_found == 0
    assert _span_ids(result.traces[(1).to_bytes(16, "big")]) == [2]  # carries app.locale


def test_custom_slice_keys_decide_what_label_spans_are_kept() -> None:
    slices = SlicesConfig(labels={"team": ["app.team"]}, label_spans="all")
    spans = [span(1, 1, None, app__team="search"), span(1, 2, None, app__locale="en-US")]
    assert _span_ids(select_traces(traces_request(spans), ALL, slices).traces[(1).to_bytes(16, "big")]) == [1]


def test_sampling_priority_overrides_per_span() -> None:
    spans = [
        span(1, 1, None, gen_ai__operation__name="chat", gen_ai__provider__name="x", sampling__priority=1),
        span(1, 2, 1, app__locale="en-US"),
        span(2, 3, None, gen_ai__operation__name="chat", gen_ai__provider__name="x", sampling__priority=0),
        span(2, 4, 3, app__locale="en-US"),
    ]
    never = select_traces(traces_request(spans), NONE, SLICES)
    assert list(never.traces) == [(1).to_bytes(16, "big")]  # > 0 keeps its trace at rate 0
    assert _span_ids(never.traces[(1).to_bytes(16, "big")]) == [1, 2]
    always = select_traces(traces_request(spans), ALL, EVERY_LABEL_SPAN)
    assert _span_ids(always.traces[(2).to_bytes(16, "big")]) == [4]  # 0 drops exactly that span
    off = TraceIdSampler(SamplingConfig(rate=0.0, priority_attribute=""))
    assert select_traces(traces_request(spans), off, SLICES).traces == {}


def test_select_logs_keeps_genai_events_of_sampled_traces() -> None:
    records = [
        log(1, 1, "gen_ai.client.inference.operation.details"),
        log(1, 1, "gen_ai.user.message", {"content": "hi"}, field=False),  # older SDK: event.name attribute
        log(1, 1, "app.audit"),  # not a GenAI event
        log(1, 1, ""),  # plain log line
    ]
    plain = logs_request(records)
    plain.resource_logs[0].scope_logs[0].log_records.add(body={"string_value": "no trace"})  # ordinary log
    result = select_logs(plain, ALL)
    assert (result.records_received, result.records_kept, result.rejected) == (5, 2, 0)
    assert select_logs(plain, NONE).records_kept == 0


def test_select_logs_rejects_malformed_ids() -> None:
    request = logs_request([log(1, 1, "gen_ai.choice")])
    bad = request.resource_logs[0].scope_logs[0].log_records.add(event_name="gen_ai.choice")
    bad.trace_id = b"\x01" * 5
    bad.span_id = b"\x01" * 8
    result = select_logs(request, ALL)
    assert (result.records_kept, result.rejected) == (1, 1)
    assert "malformed trace id or span id" in result.rejected_reason


def test_classify_markers() -> None:
    def role(**attrs: object) -> SpanRole:
        return classify(span(1, 1, None, **attrs))

    assert role(gen_ai__operation__name="text_completion", gen_ai__system="openai") is SpanRole.LLM
    assert (
        role(gen_ai__operation__name="generate_content", gen_ai__provider__name="gcp.gemini") is SpanRole.LLM
    )
    assert role(gen_ai__operation__name="chat") is SpanRole.OTHER  # no provider
    assert role(gen_ai__operation__name="retrieval", gen_ai__provider__name="x") is SpanRole.RETRIEVAL
    assert role(gen_ai__operation__name="execute_tool", gen_ai__provider__name="x") is SpanRole.OTHER
    assert role(openinference__span__kind="LLM") is SpanRole.LLM
    assert role(openinference__span__kind="RETRIEVER") is SpanRole.RETRIEVAL
    assert role(openinference__span__kind="CHAIN") is SpanRole.OTHER
    assert role(llm__request__type="chat", gen_ai__system="OpenAI") is SpanRole.LLM
    assert role(llm__request__type="embedding", gen_ai__system="OpenAI") is SpanRole.OTHER
    assert role(gen_ai__system="Anthropic") is SpanRole.LLM  # OpenLLMetry without a request type
    assert role(http__route="/") is SpanRole.OTHER


def _random_request(rng: random.Random, priority: bool) -> ExportTraceServiceRequest:
    """Several resources and scopes, traces spread across them, some spans with bad ids."""
    trace_ids = [rng.randbytes(16) for _ in range(12)]
    request = ExportTraceServiceRequest()
    for r in range(rng.randint(1, 3)):
        rs = request.resource_spans.add(schema_url=f"r{r}")
        rs.resource.attributes.add(key="service.name").value.string_value = f"svc{r}"
        for s in range(rng.randint(0, 3)):
            ss = rs.scope_spans.add()
            ss.scope.name = f"scope{s}"
            for _ in range(rng.randint(0, 30)):
                kind = rng.random()
                attrs: dict[str, object] = (
                    {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai"}
                    if kind < 0.2
                    else {"app.locale": "en-US"}
                    if kind < 0.4
                    else {"openinference.span.kind": "RETRIEVER"}
                    if kind < 0.5
                    else {"db.system": "postgresql"}
                )
                if priority and rng.random() < 0.1:
                    attrs["sampling.priority"] = rng.choice([0, 1, "2", 1.5, -1])
                trace_id, span_id = rng.choice(trace_ids), rng.randbytes(8)
                bad = rng.random()
                if bad < 0.03:
                    trace_id = rng.choice([bytes(16), trace_id[:15], b""])
                elif bad < 0.06:
                    span_id = rng.choice([bytes(8), span_id[:7], b""])
                ss.spans.append(
                    span(trace_id, span_id, None, **{k.replace(".", "__"): v for k, v in attrs.items()})
                )
    return request


def _summary(result) -> tuple:
    return (
        [(tid, out.SerializeToString()) for tid, out in result.traces.items()],
        result.spans_received,
        result.spans_kept,
        result.llm_calls_found,
        result.rejected,
        result.rejected_reason,
    )


@pytest.mark.parametrize("seed", range(40))
def test_the_bytes_test_skips_the_scan_without_changing_the_selection(seed: int) -> None:
    """Bytes without the priority key get the sampler without the override (no attribute scan);
    it keeps exactly what the scan keeps."""
    rng = random.Random(seed)
    request = _random_request(rng, priority=False)
    raw = request.SerializeToString()
    sampler = TraceIdSampler(SamplingConfig(rate=rng.choice([0.0, 0.3, 0.7, 1.0]), hash_seed=seed))
    assert not sampler.may_override(raw) and sampler.may_override(None)
    assert _summary(select_traces(request, sampler.for_request(raw), SLICES)) == _summary(
        select_traces(request, sampler, SLICES)
    )


@pytest.mark.parametrize("seed", range(20))
def test_spans_carrying_the_priority_key_are_still_scanned(seed: int) -> None:
    rng = random.Random(1000 + seed)
    request = _random_request(rng, priority=True)
    raw = request.SerializeToString()
    sampler = TraceIdSampler(SamplingConfig(rate=0.3, hash_seed=seed))
    assert _summary(select_traces(request, sampler.for_request(raw), SLICES)) == _summary(
        select_traces(request, sampler, SLICES)
    )


def test_priority_override_applies_when_the_bytes_carry_the_key() -> None:
    spans = [
        span(1, 1, None, gen_ai__operation__name="chat", gen_ai__provider__name="x", sampling__priority=1),
        span(2, 3, None, gen_ai__operation__name="chat", gen_ai__provider__name="x"),
    ]
    request = traces_request(spans)
    kept = select_traces(request, NONE.for_request(request.SerializeToString()), SLICES)
    assert list(kept.traces) == [(1).to_bytes(16, "big")]


# --- which label spans go along (slices.label_spans) ---------------------------------------------

LLM = {"gen_ai__operation__name": "chat", "gen_ai__provider__name": "openai"}
TRACE = (1).to_bytes(16, "big")


def test_label_spans_of_a_trace_without_an_llm_call_are_held_back_by_default() -> None:
    spans = [span(1, 1, None, app__locale="en-US"), span(1, 2, 1, db__system="postgresql")]
    held = select_traces(traces_request(spans), ALL, SLICES)
    assert held.traces == {}
    assert (held.spans_kept, held.label_spans_held_back) == (0, 1)
    every = select_traces(traces_request(spans), ALL, EVERY_LABEL_SPAN)
    assert _span_ids(every.traces[TRACE]) == [1]
    assert every.label_spans_held_back == 0


def test_label_spans_go_along_with_an_llm_or_retrieval_span_of_their_trace_in_the_request() -> None:
    spans = [
        span(1, 1, None, app__locale="en-US"),
        span(1, 2, 1, **LLM),
        span(2, 3, None, app__locale="de-DE"),
        span(2, 4, 3, openinference__span__kind="RETRIEVER"),
        span(3, 5, None, app__locale="fr-FR"),  # a trace without either: held back
    ]
    result = select_traces(traces_request(spans), ALL, SLICES)
    assert list(result.traces) == [TRACE, (2).to_bytes(16, "big")]
    assert _span_ids(result.traces[TRACE]) == [1, 2]  # request order kept
    assert _span_ids(result.traces[(2).to_bytes(16, "big")]) == [3, 4]
    assert (result.spans_kept, result.label_spans_held_back, result.llm_calls_found) == (4, 1, 1)


def test_a_root_exported_after_its_llm_call_goes_along_when_the_memory_knows_the_trace() -> None:
    child = traces_request([span(1, 2, 1, **LLM)])
    root = traces_request([span(1, 1, None, app__locale="en-US")])
    memory = LlmTraceMemory()
    assert TRACE not in memory
    assert _span_ids(select_traces(child, ALL, SLICES, memory=memory).traces[TRACE]) == [2]
    assert TRACE in memory
    assert _span_ids(select_traces(root, ALL, SLICES, memory=memory).traces[TRACE]) == [1]
    # without the memory (or with another receiver's) the late root is held back
    assert select_traces(root, ALL, SLICES).traces == {}
    assert select_traces(root, ALL, SLICES, memory=LlmTraceMemory()).label_spans_held_back == 1


def test_a_root_exported_before_its_llm_call_is_held_back() -> None:
    memory = LlmTraceMemory()
    root = traces_request([span(1, 1, None, app__locale="en-US")])
    assert select_traces(root, ALL, SLICES, memory=memory).traces == {}
    assert TRACE not in memory  # a label span alone does not make its trace an LLM trace
    select_traces(traces_request([span(1, 2, 1, **LLM)]), ALL, SLICES, memory=memory)
    assert TRACE in memory


def test_the_memory_is_bounded_and_forgets_the_oldest_first() -> None:
    memory = LlmTraceMemory(capacity=3)
    ids = [bytes([i]) * 16 for i in range(1, 6)]
    memory.remember(ids[:3])
    memory.remember([ids[0]])  # seen again: now the newest
    memory.remember(ids[3:])
    assert len(memory) == 3
    assert [i in memory for i in ids] == [True, False, False, True, True]


def test_with_every_label_span_the_memory_is_not_filled() -> None:
    memory = LlmTraceMemory()
    select_traces(traces_request([span(1, 2, 1, **LLM)]), ALL, EVERY_LABEL_SPAN, memory=memory)
    assert len(memory) == 0


def test_label_spans_setting_is_validated() -> None:
    assert SlicesConfig().validate("slices") == []
    assert SlicesConfig(label_spans="all").validate("slices") == []
    assert SlicesConfig(label_spans="some").validate("slices") == [
        "slices.label_spans: must be one of llm_traces, all, got 'some'"
    ]


def _inspected_everywhere(
    request: ExportTraceServiceRequest, slices: SlicesConfig
) -> list[tuple[bytes, bytes]]:
    """The (trace id, span id) a selection keeps at rate 1 with every label span, found the slow way:
    `inspect_attributes` on every span, no key test first."""
    kept = []
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for s in ss.spans:
                if len(s.trace_id) != 16 or not any(s.trace_id) or len(s.span_id) != 8 or not any(s.span_id):
                    continue
                role, labelled = inspect_attributes(s.attributes, slices.attribute_keys)
                if role is not SpanRole.OTHER or labelled:
                    kept.append((s.trace_id, s.span_id))
    return kept


@pytest.mark.parametrize("seed", range(20))
def test_the_key_test_keeps_exactly_what_inspecting_every_span_keeps(seed: int) -> None:
    rng = random.Random(2000 + seed)
    request = _random_request(rng, priority=False)
    for s in (s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans):
        if rng.random() < 0.2:  # markers of the other conventions, and label keys of every label
            key = rng.choice(
                ["llm.request.type", "gen_ai.system", "tenant.id", "gen_ai.request.model", "language"]
            )
            s.attributes.add(key=key).value.string_value = rng.choice(["chat", "OpenAI", "x"])
    result = select_traces(request, ALL, EVERY_LABEL_SPAN)
    kept = [(s.trace_id, s.span_id) for out in result.traces.values() for s in _all_spans(out)]
    assert sorted(kept) == sorted(_inspected_everywhere(request, EVERY_LABEL_SPAN))
    assert result.spans_kept == len(kept)


def _all_spans(request: ExportTraceServiceRequest) -> list:
    return [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]


# --- the bytes test: a request that cannot hold an LLM call --------------------------------------


def _counting_inspections(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = select_module.inspect_attributes

    def counting(*args, **kwargs):
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(select_module, "inspect_attributes", counting)
    return calls


def test_bytes_without_a_marker_key_read_no_attribute(monkeypatch: pytest.MonkeyPatch) -> None:
    request = traces_request([span(1, 1, None, app__locale="en-US"), span(2, 2, None, tenant__id="acme")])
    raw = request.SerializeToString()
    inspected = _counting_inspections(monkeypatch)
    skipped = select_traces(request, ALL, SLICES, raw)
    assert (skipped.traces, skipped.spans_received, skipped.traces_sampled) == ({}, 2, 2)
    assert inspected == [0]
    select_traces(request, ALL, SLICES)  # without the bytes: every labelled span is read
    assert inspected == [2]


def test_bytes_without_a_marker_key_still_forward_label_spans_of_remembered_traces() -> None:
    memory = LlmTraceMemory()
    memory.remember([TRACE])
    request = traces_request([span(1, 1, None, app__locale="en-US"), span(2, 2, None, app__locale="de-DE")])
    result = select_traces(request, ALL, SLICES, request.SerializeToString(), memory=memory)
    assert list(result.traces) == [TRACE] and _span_ids(result.traces[TRACE]) == [1]


def test_the_bytes_test_is_off_when_every_label_span_goes() -> None:
    request = traces_request([span(1, 1, None, app__locale="en-US")])
    result = select_traces(request, ALL, EVERY_LABEL_SPAN, request.SerializeToString())
    assert _span_ids(result.traces[TRACE]) == [1]


@pytest.mark.parametrize("seed", range(30))
def test_with_the_bytes_the_selection_is_the_same(seed: int) -> None:
    """Random requests, some with no marker key at all, some traces remembered: passing the bytes
    changes nothing but the work done."""
    rng = random.Random(3000 + seed)
    request = _random_request(rng, priority=rng.random() < 0.3)
    if rng.random() < 0.5:  # no LLM call or retrieval anywhere: strip every marker
        for s in _all_spans(request):
            kept = [kv for kv in s.attributes if kv.key not in MARKER_KEYS]
            del s.attributes[:]
            s.attributes.extend(kept)
    raw = request.SerializeToString()
    trace_ids = list({s.trace_id for s in _all_spans(request)})
    remembered = rng.sample(trace_ids, k=len(trace_ids) // 3)
    sampler = TraceIdSampler(SamplingConfig(rate=rng.choice([0.3, 1.0]), hash_seed=seed))
    with_bytes, without = LlmTraceMemory(), LlmTraceMemory()
    with_bytes.remember(remembered)
    without.remember(remembered)
    assert _summary(
        select_traces(request, sampler.for_request(raw), SLICES, raw, memory=with_bytes)
    ) == _summary(select_traces(request, sampler, SLICES, memory=without))


@pytest.mark.parametrize(
    "marker",
    [
        {"gen_ai__operation__name": "retrieval"},
        {"openinference__span__kind": "RETRIEVER"},
        {"openinference__span__kind": "LLM"},
        {"llm__request__type": "chat"},
        {"gen_ai__system": "OpenAI"},
    ],
)
def test_each_convention_s_marker_alone_passes_the_bytes_test(marker: dict[str, str]) -> None:
    request = traces_request([span(1, 1, None, app__locale="en-US"), span(1, 2, 1, **marker)])
    result = select_traces(request, ALL, SLICES, request.SerializeToString())
    assert _span_ids(result.traces[TRACE]) == [1, 2]
