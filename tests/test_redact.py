"""processor.redact: e-mail, card (Luhn-checked) and phone numbers become placeholders; nothing else does."""

from __future__ import annotations

import pytest

from processor.redact import KINDS, Redactor, luhn_valid, parse_kinds, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to ana.maria+news@mail.example.co.uk today", "write to [EMAIL] today"),
        ("<bob@example.com>", "<[EMAIL]>"),
        ("card 4111 1111 1111 1111 expires", "card [CARD] expires"),
        ("card 4111-1111-1111-1111.", "card [CARD]."),
        ("amex 378282246310005", "amex [CARD]"),
        ("call +49 30 1234567 now", "call [PHONE] now"),
        ("call (555) 123-4567", "call [PHONE]"),
        ("call 555-1234", "call [PHONE]"),
        ("call 5551234567", "call [PHONE]"),
        ("tel: +1.415.555.2671", "tel: [PHONE]"),
    ],
)
def test_redacts(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "order 4111111111111112 is not a card (Luhn fails) nor a phone (16 digits)",
        "on 2024-01-15 at 10:30 or 15.01.2024",
        "from 192.168.100.200",
        "version 1.2.3 costs 19.99 for 2 items, ticket 12345",
        "user@localhost is not an address with a domain",
    ],
)
def test_leaves_other_text_alone(text: str) -> None:
    assert redact(text) == text


def test_kinds_are_selectable_and_counted() -> None:
    text = "a@b.io, 4111 1111 1111 1111, +44 20 7946 0958"
    only_email = Redactor(["email"])
    assert only_email.redact(text) == "[EMAIL], 4111 1111 1111 1111, +44 20 7946 0958"
    everything = Redactor()
    assert everything.redact(text) == "[EMAIL], [CARD], [PHONE]"
    assert everything.counts == {"email": 1, "card": 1, "phone": 1}


def test_email_digits_are_not_taken_for_a_phone() -> None:
    assert redact("mail 5551234567@example.com") == "mail [EMAIL]"


def test_luhn() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("79927398713")
    assert not luhn_valid("4111111111111112") and not luhn_valid("79927398710")


def test_parse_kinds() -> None:
    assert parse_kinds("phone, EMAIL") == ("email", "phone")
    assert parse_kinds(",".join(KINDS)) == KINDS
    with pytest.raises(ValueError, match="unknown redaction kind 'ssn'; valid kinds: email, card, phone"):
        parse_kinds("email,ssn")
    with pytest.raises(ValueError, match="no redaction kind"):
        parse_kinds(" , ")
    with pytest.raises(ValueError, match="unknown redaction kind"):
        Redactor(["iban"])


# --- the `redaction` section and the one pass over cases, scores and OTLP --------------------------------

EMAIL = "ana.lopez@example.com"
CARD = "4111 1111 1111 1111"  # Luhn-valid


def test_redaction_section_defaults_and_validation() -> None:
    from processor.config import parse
    from processor.errors import ConfigError

    config = parse({}, environ={})
    assert config.redaction.kinds == ["email", "card", "phone"] and not config.redaction.in_receiver
    assert config.redaction.redactor() is not None
    assert parse({"redaction": {"kinds": []}}, environ={}).redaction.redactor() is None
    with pytest.raises(ConfigError) as info:
        parse({"redaction": {"kinds": ["ssn"], "patterns": ["(", "x*"], "in_receiver": True}}, environ={})
    assert info.value.problems == [
        "redaction.kinds[0]: unknown kind 'ssn'; valid kinds: email, card, phone",
        "redaction.patterns[0]: invalid regular expression '(': "
        "missing ), unterminated subpattern at position 0",
        "redaction.patterns[1]: 'x*' matches the empty string",
    ]
    with pytest.raises(ConfigError, match=r"redaction.in_receiver: true, but kinds and patterns are empty"):
        parse({"redaction": {"kinds": [], "in_receiver": True}}, environ={})


def test_own_patterns_run_after_the_kinds() -> None:
    redactor = Redactor(["email"], patterns=[r"EMP-\d{6}", r"project \w+"])
    assert (
        redactor.redact("EMP-123456 on project falcon, ana@example.com")
        == "[REDACTED] on [REDACTED], [EMAIL]"
    )
    assert redactor.counts == {"email": 1, "pattern": 2}


def test_case_and_score_redaction_covers_every_free_text_field() -> None:
    from processor.model import EvalCase, Message, Score

    case = EvalCase(
        input=f"mail {EMAIL}",
        output=f"card {CARD}",
        expected=f"x {EMAIL}",
        context=(f"doc {CARD}",),
        messages=(Message("user", f"mail {EMAIL}"),),
        system_instructions=f"escalate to {EMAIL}",
        labels={"tenant": "acme"},
        trace_id="ab" * 16,
    )
    redacted = Redactor().case(case)
    text = repr(redacted)
    assert EMAIL not in text and CARD not in text
    assert redacted.labels == case.labels and redacted.trace_id == case.trace_id
    score = Redactor().score(Score.scored("judge", 0.5, threshold=None, explanation=f"mentions {EMAIL}"))
    assert score.explanation == "mentions [EMAIL]"


def test_otlp_redaction_touches_content_attributes_and_log_bodies_only() -> None:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    from processor.redact import redact_logs, redact_traces

    def kv(key: str, value: str) -> KeyValue:
        return KeyValue(key=key, value=AnyValue(string_value=value))

    traces = ExportTraceServiceRequest()
    span = traces.resource_spans.add().scope_spans.add().spans.add(name="chat")
    span.attributes.extend(
        [
            kv(
                "gen_ai.input.messages",
                f'[{{"role": "user", "parts": [{{"type": "text", "content": "{EMAIL}"}}]}}]',
            ),
            kv("llm.input_messages.0.message.content", f"card {CARD}"),
            kv("session.id", "5551234567"),  # not content: ids stay as they are
        ]
    )
    span.events.add(name="gen_ai.content.prompt").attributes.append(kv("gen_ai.prompt", EMAIL))
    redact_traces(traces, Redactor())
    assert EMAIL not in str(traces) and CARD not in str(traces)
    assert "5551234567" in str(traces)

    logs = ExportLogsServiceRequest()
    record = logs.resource_logs.add().scope_logs.add().log_records.add(event_name="gen_ai.user.message")
    record.body.kvlist_value.values.append(kv("content", f"hi, {EMAIL}"))
    redact_logs(logs, Redactor())
    assert record.body.kvlist_value.values[0].value.string_value == "hi, [EMAIL]"
