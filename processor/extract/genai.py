"""OpenTelemetry GenAI semantic conventions: which spans are LLM calls, and their content in four forms.

Newest to oldest:

* latest, on the span: `gen_ai.input.messages` / `gen_ai.output.messages` / `gen_ai.system_instructions`
  (JSON strings of `{role, parts}`; OpenLLMetry >= 0.55 writes the same);
* latest, EVENT_ONLY: a log record `gen_ai.client.inference.operation.details` carrying the same keys
  as structured AnyValue attributes, joined to the span by trace id + span id;
* v1.28-v1.36 events: log records `gen_ai.{system,user,assistant,tool}.message` (body `{content, role?}`)
  and `gen_ai.choice` (body `{index, finish_reason, message}`);
* v1.26-v1.27: span events `gen_ai.content.prompt` / `gen_ai.content.completion` with the
  `gen_ai.prompt` / `gen_ai.completion` attributes (JSON strings).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from processor.extract.content import (
    Content,
    ParsedMessage,
    flatten_content,
    parse_instructions,
    parse_messages,
)
from processor.extract.otlp import LogRecordData, json_or_value

OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
SYSTEM = "gen_ai.system"  # the provider's older name
LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})
RETRIEVAL_OPERATION = "retrieval"

INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
OPERATION_DETAILS_EVENT = "gen_ai.client.inference.operation.details"
LEGACY_EVENT_ROLES = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
CHOICE_EVENT = "gen_ai.choice"
PROMPT_SPAN_EVENT = "gen_ai.content.prompt"
COMPLETION_SPAN_EVENT = "gen_ai.content.completion"

SOURCE_SPAN = "gen_ai"
SOURCE_EVENT = "gen_ai.event"
SOURCE_LEGACY_EVENTS = "gen_ai.legacy_events"
SOURCE_SPAN_EVENTS = "gen_ai.span_events"


def is_llm(operation: Any, provider: Any) -> bool:
    """GenAI marker: an inference operation by a named provider."""
    return isinstance(operation, str) and operation in LLM_OPERATIONS and bool(provider)


def is_content_event(name: str) -> bool:
    """Log records worth forwarding: any GenAI event (`gen_ai.` prefix)."""
    return name.startswith("gen_ai.")


def content_from_attributes(attrs: Mapping[str, Any], source: str = SOURCE_SPAN) -> Content:
    """The latest convention's three keys, on a span (JSON strings) or an event (structured)."""
    content = Content(source)
    if INPUT_MESSAGES in attrs:
        content.inputs = parse_messages(attrs[INPUT_MESSAGES])
    if OUTPUT_MESSAGES in attrs:
        content.outputs = parse_messages(attrs[OUTPUT_MESSAGES], default_role="assistant")
    if SYSTEM_INSTRUCTIONS in attrs:
        content.system_instructions = parse_instructions(attrs[SYSTEM_INSTRUCTIONS])
    return content


def content_from_operation_details(records: Iterable[LogRecordData]) -> Content:
    """EVENT_ONLY capture: the first `gen_ai.client.inference.operation.details` record with content."""
    for record in records:
        if record.event_name == OPERATION_DETAILS_EVENT:
            content = content_from_attributes(record.attributes, SOURCE_EVENT)
            if content.empty and isinstance(record.body, Mapping):
                content = content_from_attributes(record.body, SOURCE_EVENT)
            if not content.empty:
                return content
    return Content(SOURCE_EVENT)


def _body_message(body: Any, role: str) -> ParsedMessage | None:
    body = json_or_value(body) if isinstance(body, str) and body[:1] in "{[" else body
    if isinstance(body, str):
        return ParsedMessage(role, body, body) if body else None
    if not isinstance(body, Mapping):
        return None
    body_role = body.get("role")
    if isinstance(body_role, str) and body_role:
        role = body_role.lower()
    text, described = flatten_content(body.get("content"))
    calls = body.get("tool_calls")
    if isinstance(calls, list):
        names = []
        for call in calls:
            function = call.get("function") if isinstance(call, Mapping) else None
            name = function.get("name") if isinstance(function, Mapping) else None
            names.append(f"[tool_call {name if isinstance(name, str) else ''}]")
        described = "\n".join([d for d in (described, *names) if d])
    if not described:
        return None
    return ParsedMessage(role, text, described)


def content_from_legacy_events(records: Sequence[LogRecordData]) -> Content:
    """v1.28-v1.36 log events of one span, in time order (arrival order breaks ties)."""
    content = Content(SOURCE_LEGACY_EVENTS)
    choices: list[tuple[int, ParsedMessage]] = []
    for record in sorted(records, key=lambda r: (r.time_unix_nano, r.sequence)):
        name = record.event_name
        if name in LEGACY_EVENT_ROLES:
            message = _body_message(record.body, LEGACY_EVENT_ROLES[name])
            if message is not None:
                content.inputs.append(message)
        elif name == CHOICE_EVENT:
            body = json_or_value(record.body) if isinstance(record.body, str) else record.body
            if not isinstance(body, Mapping):
                continue
            index = body.get("index")
            try:
                order = int(index) if index is not None and not isinstance(index, bool) else len(choices)
            except (TypeError, ValueError):
                order = len(choices)
            message = _body_message(body.get("message"), "assistant")
            if message is not None:
                choices.append((order, message))
    content.outputs = [m for _, m in sorted(choices, key=lambda c: c[0])]
    return content


def content_from_span_events(events: Sequence[tuple[str, Mapping[str, Any]]]) -> Content:
    """v1.26-v1.27 span events `gen_ai.content.prompt` / `gen_ai.content.completion`."""
    content = Content(SOURCE_SPAN_EVENTS)
    for name, attrs in events:
        if name == PROMPT_SPAN_EVENT and not content.inputs:
            content.inputs = parse_messages(attrs.get("gen_ai.prompt"), default_role="user")
        elif name == COMPLETION_SPAN_EVENT and not content.outputs:
            content.outputs = parse_messages(attrs.get("gen_ai.completion"), default_role="assistant")
    return content


def retrieval_documents(attrs: Mapping[str, Any]) -> list[str]:
    """Document texts a GenAI `retrieval` span carries, if any (usually only ids and scores)."""
    docs = json_or_value(attrs.get("gen_ai.retrieval.documents"))
    out: list[str] = []
    if isinstance(docs, list):
        for doc in docs:
            if isinstance(doc, Mapping):
                text = doc.get("content", doc.get("text"))
                if isinstance(text, str) and text:
                    out.append(text)
    return out
