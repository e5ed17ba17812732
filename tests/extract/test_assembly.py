"""TraceAssembly: split and late delivery, labels up the parent chain, context, garbage tolerance."""

from __future__ import annotations

import json
import pathlib

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from processor.demo.replay import load_flavour as load
from processor.extract import (
    LlmTraceMemory,
    SpanRole,
    TraceAssembly,
    classify,
    extract,
    select_logs,
    select_traces,
)
from processor.extract.config import SlicesConfig
from processor.sampler.config import SamplingConfig
from processor.sampler.trace_id import TraceIdSampler
from tests.extract.conftest import kvs, log, logs_request, span, traces_request

SLICES = SlicesConfig()
ALL = TraceIdSampler(SamplingConfig(rate=1.0))
LLM = {"gen_ai__operation__name": "chat", "gen_ai__provider__name": "openai"}


def _only(request: ExportTraceServiceRequest, keep) -> ExportTraceServiceRequest:
    """A copy of `request` holding only the spans `keep` accepts (resource and scope kept)."""
    out = ExportTraceServiceRequest()
    out.CopyFrom(request)
    for rs in out.resource_spans:
        for ss in rs.scope_spans:
            spans = [s for s in ss.spans if keep(s)]
            del ss.spans[:]
            ss.spans.extend(spans)
    return out


@pytest.mark.parametrize("flavour", ["otel-genai-latest-event", "otel-genai-legacy-events", "openinference"])
@pytest.mark.parametrize("order", ["child-parent-logs", "logs-parent-child"])
def test_split_delivery_gives_the_same_cases(otlp_fixtures: pathlib.Path, flavour: str, order: str) -> None:
    traces, logs = load(otlp_fixtures, flavour)
    whole = extract(traces, logs)
    child = _only(traces, lambda s: classify(s) is SpanRole.LLM)
    parent = _only(traces, lambda s: classify(s) is not SpanRole.LLM)
    # through the receiver's selection, as in production: three separate exports to one receiver
    memory = LlmTraceMemory()
    child_sel = select_traces(child, ALL, SLICES, memory=memory).traces
    parent_sel = select_traces(parent, ALL, SLICES, memory=memory).traces
    log_sel = select_logs(logs, ALL).logs if logs is not None else {}
    for trace_id, expected in zip(sorted(child_sel), sorted(whole, key=lambda c: c.trace_id), strict=True):
        assembly = TraceAssembly()
        steps = [("traces", child_sel[trace_id]), ("traces", parent_sel[trace_id])]
        if trace_id in log_sel:
            steps.append(("logs", log_sel[trace_id]))
        if order == "logs-parent-child":
            steps.reverse()
        for kind, request in steps:
            if kind == "traces":
                assembly.add_traces(request)
            else:
                assembly.add_logs(request)
        (case,) = assembly.cases(SLICES)
        assert case == expected


def test_child_alone_first_then_parent_fills_the_labels(otlp_fixtures: pathlib.Path) -> None:
    traces, _ = load(otlp_fixtures, "otel-genai-latest-span")
    assembly = TraceAssembly()
    assembly.add_traces(_only(traces, lambda s: classify(s) is SpanRole.LLM))
    early = assembly.cases(SLICES)
    assert [c.labels.get("locale") for c in early] == [None, None]
    assert early[0].label("locale") == "unknown"
    assert [c.labels["tenant"] for c in early] == ["acme", "acme"]  # from the resource already
    assembly.add_traces(_only(traces, lambda s: classify(s) is not SpanRole.LLM))
    assert [c.labels["locale"] for c in assembly.cases(SLICES)] == ["en-US", "de-DE"]


def test_redelivery_does_not_double_anything(otlp_fixtures: pathlib.Path) -> None:
    traces, logs = load(otlp_fixtures, "otel-genai-legacy-events")
    assert logs is not None
    assembly = TraceAssembly()
    for _ in range(2):
        assembly.add_traces(traces)
        assembly.add_logs(logs)
    assert assembly.cases(SLICES) == extract(traces, logs)
    assert assembly.span_count == 4


def test_nearest_ancestor_wins_then_resource() -> None:
    spans = [
        span(1, 1, None, app__locale="fr-FR", app__tenant="root-tenant"),
        span(1, 2, 1, app__locale="en-GB"),
        span(1, 3, 2, **LLM, gen_ai__request__model="m"),
    ]
    (case,) = extract(traces_request(spans, resource={"service.name": "svc", "app.tenant": "res"}))
    assert case.labels == {"service": "svc", "model": "m", "locale": "en-GB", "tenant": "root-tenant"}


def test_broken_chain_falls_back_to_root_most_label_spans() -> None:
    # the unlabelled span 2 between root and LLM span was never forwarded
    spans = [
        span(1, 1, None, app__locale="de-DE"),
        span(1, 4, 1, app__locale="it-IT", app__prompt__version="p2"),
        span(1, 3, 2, **LLM, gen_ai__response__model="r"),
        span(1, 5, 1, **LLM, app__prompt__version="other-call"),
    ]
    case = next(c for c in extract(traces_request(spans)) if c.span_id == (3).to_bytes(8, "big").hex())
    assert case.labels["locale"] == "de-DE"  # the root first
    assert case.labels["prompt_version"] == "p2"  # never borrowed from the other LLM call
    assert case.labels["model"] == "r"


def test_intact_chain_does_not_borrow_from_siblings() -> None:
    spans = [span(1, 1, None), span(1, 2, 1, app__locale="sibling"), span(1, 3, 1, **LLM)]
    (case,) = extract(traces_request(spans))
    assert "locale" not in case.labels


def test_context_comes_from_retrieval_spans() -> None:
    spans = [
        span(1, 1, None),
        span(
            1,
            2,
            1,
            openinference__span__kind="RETRIEVER",
            **{
                "retrieval.documents.1.document.content": "doc B",
                "retrieval.documents.0.document.content": "doc A",
                "retrieval.documents.0.document.id": "a",
            },
        ),
        span(
            1,
            3,
            1,
            gen_ai__operation__name="retrieval",
            gen_ai__provider__name="x",
            gen_ai__retrieval__documents=json.dumps(
                [{"id": "c", "content": "doc C"}, {"id": "d", "score": 1}]
            ),
        ),
        span(1, 4, 1, **LLM),
    ]
    (case,) = extract(traces_request(spans))
    assert case.context == ("doc A", "doc B", "doc C")


def test_span_events_v1_26() -> None:
    llm = span(1, 1, None, **LLM)
    llm.events.add(name="gen_ai.content.prompt").attributes.extend(
        kvs(
            {
                "gen_ai.prompt": json.dumps(
                    [{"role": "system", "content": "be brief"}, {"role": "user", "content": "q?"}]
                )
            }
        )
    )
    llm.events.add(name="gen_ai.content.completion").attributes.extend(
        kvs({"gen_ai.completion": json.dumps([{"role": "assistant", "content": "a."}])})
    )
    (case,) = extract(traces_request([llm]))
    assert (case.input, case.output, case.system_instructions, case.source) == (
        "q?",
        "a.",
        "be brief",
        "gen_ai.span_events",
    )


def test_genai_parts_tool_calls_and_system_instructions() -> None:
    inputs = [
        {"role": "user", "parts": [{"type": "text", "content": "weather?"}]},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "1", "name": "get_weather", "arguments": {"c": "x"}}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "1", "response": "sunny"}]},
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "and tomorrow?"},
                {"type": "blob", "mime_type": "image/png"},
            ],
        },
    ]
    outputs = [
        {
            "role": "assistant",
            "parts": [{"type": "reasoning", "content": "hmm"}, {"type": "text", "content": "rain"}],
        }
    ]
    attrs = {
        **LLM,
        "gen_ai__input__messages": json.dumps(inputs),
        "gen_ai__output__messages": json.dumps(outputs),
        "gen_ai__system_instructions": json.dumps([{"type": "text", "content": "You are a forecaster."}]),
    }
    (case,) = extract(traces_request([span(1, 1, None, **attrs)]))
    assert case.input == "and tomorrow?"
    assert case.output == "rain"
    assert case.system_instructions == "You are a forecaster."
    assert [m.role for m in case.messages] == ["user", "assistant", "tool", "user"]
    assert case.messages[1].content == '[tool_call get_weather({"c": "x"})]'
    assert case.messages[2].content == "[tool_call_response sunny]"
    assert case.messages[3].content == "and tomorrow?\n[blob image/png]"


def test_openinference_multipart_contents() -> None:
    attrs = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "m-2024",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.contents.0.message_content.type": "text",
        "llm.input_messages.0.message.contents.0.message_content.text": "part one",
        "llm.input_messages.0.message.contents.1.message_content.type": "image",
        "llm.input_messages.0.message.contents.2.message_content.text": "part two",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "lookup",
        "llm.token_count.prompt": 7,
    }
    (case,) = extract(
        traces_request([span(1, 1, None, **{k.replace(".", "__"): v for k, v in attrs.items()})])
    )
    assert case.input == "part one\npart two"
    assert case.messages[0].content == "part one\npart two\n[image]"
    assert case.output == ""  # a tool call is no answer text
    assert case.has_content and case.model == "m-2024" and case.input_tokens == 7


def test_error_status_and_error_type() -> None:
    failed = span(1, 1, None, **LLM, error__type="RateLimitError")
    failed.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="429 too many"))
    typed = span(2, 2, None, **LLM, error__type="timeout")
    bare = span(3, 3, None, **LLM)
    bare.status.code = Status.STATUS_CODE_ERROR
    errors = {c.trace_id[-1]: c.error for c in extract(traces_request([failed, typed, bare]))}
    assert errors == {"1": "429 too many", "2": "timeout", "3": "error"}


GARBAGE = [
    {"gen_ai__input__messages": "{not json", "gen_ai__output__messages": "[1, 2, null]"},
    {"gen_ai__input__messages": json.dumps({"role": 5, "parts": "nope"}), "gen_ai__output__messages": 42},
    {"gen_ai__input__messages": json.dumps([{"role": "user", "parts": [None, 3, {"type": 9}]}])},
    {"gen_ai__system_instructions": ["x", 1], "gen_ai__usage__input_tokens": "many"},
    {
        "gen_ai__prompt__0__role": 3,
        "gen_ai__prompt__0__content": ["a", {"b": 1}],
        "gen_ai__prompt__x__content": "?",
    },
    {"gen_ai__response__model": {"deep": [1]}, "gen_ai__usage__output_tokens": 1.5},
    {"gen_ai__input__messages": "[" * 5000 + "]" * 5000},
]


@pytest.mark.parametrize("attrs", GARBAGE)
def test_garbage_values_degrade_and_never_crash(attrs: dict) -> None:
    (case,) = extract(traces_request([span(1, 1, None, **LLM, **attrs)]))
    assert case.trace_id and case.provider == "openai"
    assert isinstance(case.input, str) and isinstance(case.output, str)


def test_garbage_log_bodies_never_crash() -> None:
    records = [
        log(1, 1, "gen_ai.user.message", ["not", "a", "mapping"]),
        log(1, 1, "gen_ai.user.message", {"content": {"weird": True}}),
        log(1, 1, "gen_ai.choice", {"index": "x", "message": "plain text answer"}),
        log(1, 1, "gen_ai.choice", "{bad json"),
        log(1, 1, "gen_ai.client.inference.operation.details", gen_ai__input__messages=7),
        log(1, 1, "gen_ai.user.message", {"content": "the question"}),
    ]
    (case,) = extract(traces_request([span(1, 1, None, **LLM)]), logs_request(records))
    assert case.input == "the question"
    assert case.output == "plain text answer"


def test_invalid_ids_are_skipped_by_the_assembly() -> None:
    request = traces_request([span(1, 1, None, **LLM)])
    request.resource_spans[0].scope_spans[0].spans.append(
        Span(
            trace_id=b"\x01",
            span_id=b"\x02",
            attributes=kvs({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "x"}),
        )
    )
    assert len(extract(request)) == 1


def test_no_llm_span_no_case() -> None:
    assert extract(traces_request([span(1, 1, None, app__locale="x")])) == []


def test_parent_cycle_in_hostile_input_terminates() -> None:
    spans = [span(1, 1, 2, app__locale="a"), span(1, 2, 3), span(1, 3, 1, **LLM)]
    (case,) = extract(traces_request(spans))
    assert case.labels["locale"] == "a"


def test_attribute_strings_over_the_limit_are_cut_and_counted_before_any_json_parsing() -> None:
    """A content attribute over `max_value_chars` is cut (no longer JSON: no content from it, never its
    size in parsing and redaction); a plain-text one keeps its first `max_value_chars` characters."""
    question = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "refund? " * 1000}]}])
    answer = json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "30 days."}]}])
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.input.messages": question,
        "gen_ai.output.messages": answer,
        "app.note": "n" * 5_000,
    }
    assembly = TraceAssembly(max_value_chars=2_000)
    assembly.add_traces(traces_request([span(1, 1, **attrs)]))
    (case,) = assembly.cases(SlicesConfig())
    assert assembly.value_limit.cut == 2
    assert case.input == "" and case.output == "30 days."
    whole = TraceAssembly()  # the default limit (1 MiB) keeps them
    whole.add_traces(traces_request([span(1, 1, **attrs)]))
    assert whole.cases(SlicesConfig())[0].input.startswith("refund? ") and whole.value_limit.cut == 0
