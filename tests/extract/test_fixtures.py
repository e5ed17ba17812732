"""Every bundled OTLP fixture flavour yields exactly the table in fixtures/otlp/README.md."""

from __future__ import annotations

import pathlib

import pytest

from processor.demo.replay import FLAVOURS
from processor.demo.replay import load_flavour as load
from processor.extract import SpanRole, classify, extract
from processor.model import Message

SYSTEM = "You answer questions about ACME billing policies."
EXPECTED = [
    {
        "question": "What is the refund window for annual plans?",
        "answer": "Annual plans can be refunded within 30 days of purchase, per refund policy v3.",
        "locale": "en-US",
    },
    {
        "question": "Wie lange gilt das Rückgaberecht?",
        "answer": "Das Rückgaberecht gilt 14 Tage ab Kauf (Richtlinie v2).",
        "locale": "de-DE",
    },
]
SOURCES = {
    "otel-genai-latest-span": "gen_ai",
    "otel-genai-latest-event": "gen_ai.event",
    "otel-genai-legacy-events": "gen_ai.legacy_events",
    "otel-genai-no-content": "gen_ai",
    "openinference": "openinference",
    "openllmetry": "gen_ai",
    "openllmetry-legacy": "openllmetry",
}


def test_every_flavour_is_covered(otlp_fixtures: pathlib.Path) -> None:
    on_disk = {p.name.removesuffix(".traces.pb") for p in otlp_fixtures.glob("*.traces.pb")}
    assert on_disk == set(FLAVOURS)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_flavour_matches_the_readme_table(otlp_fixtures: pathlib.Path, flavour: str) -> None:
    traces, logs = load(otlp_fixtures, flavour)
    cases = extract(traces, logs)
    assert len(cases) == 2
    with_content = flavour != "otel-genai-no-content"
    for case, expected in zip(cases, EXPECTED, strict=True):
        assert case.labels == {
            "service": "support-bot",
            "model": "gpt-4o-mini-2024-07-18",
            "prompt_version": "support-v7",
            "tenant": "acme",
            "locale": expected["locale"],
        }
        assert case.model == "gpt-4o-mini-2024-07-18"
        assert case.request_model == "gpt-4o-mini"
        assert case.provider == "openai"
        assert case.response_id == "chatcmpl-1"
        assert (case.input_tokens, case.output_tokens) == (25, 12)
        assert case.error == ""
        assert case.source == SOURCES[flavour]
        assert len(case.trace_id) == 32 and len(case.span_id) == 16
        assert case.context == ()
        assert case.has_content is with_content
        if with_content:
            assert case.input == expected["question"]
            assert case.output == expected["answer"]
            assert case.system_instructions == SYSTEM
            assert case.messages == (Message("system", SYSTEM), Message("user", expected["question"]))
        else:
            assert (case.input, case.output, case.system_instructions, case.messages) == ("", "", "", ())


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_classify_finds_one_llm_span_per_trace(otlp_fixtures: pathlib.Path, flavour: str) -> None:
    traces, _ = load(otlp_fixtures, flavour)
    roles = [classify(s) for rs in traces.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert roles.count(SpanRole.LLM) == 2
    assert roles.count(SpanRole.OTHER) == 2
