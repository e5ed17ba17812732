"""Messages in any spelling flattened to text: the shape every convention parser returns.

Text parts are kept as text; tool calls, tool results, reasoning and media are described in
brackets (`[tool_call get_weather]`), never inlined. Malformed parts are skipped, not fatal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from processor.extract.otlp import json_or_value
from processor.model import Message

SYSTEM_ROLES = frozenset({"system", "developer"})
_MAX_DESCRIBED = 200  # characters of a tool-call argument or result kept in a description


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    role: str
    text: str  # text parts only: what a question or an answer is made of
    content: str  # text plus bracketed descriptions of the other parts

    def to_message(self) -> Message:
        return Message(self.role, self.content)


@dataclass(slots=True)
class Content:
    """What one convention yielded for one LLM call; empty lists mean it carried nothing."""

    source: str
    inputs: list[ParsedMessage] = field(default_factory=list)
    outputs: list[ParsedMessage] = field(default_factory=list)
    system_instructions: str = ""

    @property
    def empty(self) -> bool:
        return not (self.inputs or self.outputs or self.system_instructions)

    @property
    def question(self) -> str:
        """The last user message's text; without one, the last non-system input's text."""
        for message in reversed(self.inputs):
            if message.role == "user" and message.text:
                return message.text
        for message in reversed(self.inputs):
            if message.role not in SYSTEM_ROLES and message.text:
                return message.text
        return ""

    @property
    def answer(self) -> str:
        """The first output message's text (choice 0 when several were generated)."""
        for message in self.outputs:
            if message.text:
                return message.text
        return ""

    @property
    def system(self) -> str:
        if self.system_instructions:
            return self.system_instructions
        return "\n".join(m.content for m in self.inputs if m.role in SYSTEM_ROLES and m.content)


def _short(value: Any) -> str:
    if value is None:
        return ""
    rendered = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return rendered if len(rendered) <= _MAX_DESCRIBED else rendered[:_MAX_DESCRIBED] + "..."


def part_text(part: Any) -> tuple[str, str]:
    """(text, description) of one GenAI part; a plain string is a text part."""
    if isinstance(part, str):
        return part, ""
    if not isinstance(part, Mapping):
        return "", ""
    kind = part.get("type")
    if kind in (None, "text", "input_text", "output_text"):
        value = part.get("content", part.get("text"))
        return (value, "") if isinstance(value, str) else ("", "")
    if kind == "tool_call":
        name = part.get("name")
        args = part.get("arguments")
        return "", f"[tool_call {name if isinstance(name, str) else ''}({_short(args)})]"
    if kind == "tool_call_response":
        return "", f"[tool_call_response {_short(part.get('response', part.get('result')))}]"
    if kind == "reasoning":
        return "", "[reasoning]"
    if isinstance(kind, str):
        mime = part.get("mime_type") or part.get("modality") or ""
        return "", f"[{kind}{' ' + mime if isinstance(mime, str) and mime else ''}]"
    return "", ""


def flatten_parts(parts: Iterable[Any]) -> tuple[str, str]:
    """(text, content) of a list of parts: text joined by newlines, content adds the descriptions."""
    texts: list[str] = []
    contents: list[str] = []
    for part in parts:
        text, description = part_text(part)
        if text:
            texts.append(text)
            contents.append(text)
        elif description:
            contents.append(description)
    return "\n".join(texts), "\n".join(contents)


def flatten_content(value: Any) -> tuple[str, str]:
    """(text, content) of a message `content` in any spelling: a string, a list of parts, a dict."""
    if isinstance(value, str):
        return value, value
    if isinstance(value, list):
        return flatten_parts(value)
    if isinstance(value, Mapping):
        return flatten_parts([value])
    return "", ""


def parse_message(item: Any, *, default_role: str = "") -> ParsedMessage | None:
    """One message: GenAI `{role, parts}` or chat-API `{role, content, tool_calls}`; None when unusable."""
    if not isinstance(item, Mapping):
        return None
    role = item.get("role")
    role = role.lower() if isinstance(role, str) and role else default_role
    parts = item.get("parts")
    if isinstance(parts, list):
        text, content = flatten_parts(parts)
    else:
        text, content = flatten_content(item.get("content"))
    tool_calls = item.get("tool_calls")
    if isinstance(tool_calls, list):
        described = []
        for call in tool_calls:
            if isinstance(call, Mapping):
                function = call.get("function")
                name = function.get("name") if isinstance(function, Mapping) else call.get("name")
                described.append(f"[tool_call {name if isinstance(name, str) else ''}]")
        content = "\n".join([c for c in (content, *described) if c])
    if not role and not content:
        return None
    return ParsedMessage(role or "user", text, content)


def parse_messages(value: Any, *, default_role: str = "") -> list[ParsedMessage]:
    """A list of messages from a JSON string or a structured value; garbage gives []."""
    value = json_or_value(value)
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list):
        return []
    out = []
    for item in value:
        message = parse_message(item, default_role=default_role)
        if message is not None:
            out.append(message)
    return out


def parse_instructions(value: Any) -> str:
    """`gen_ai.system_instructions`: a list of parts (JSON string or structured), or plain text."""
    decoded = json_or_value(value)
    if decoded is None and isinstance(value, str):
        return value  # not JSON: take it as the instruction text itself
    if isinstance(decoded, Mapping):
        decoded = [decoded]
    if isinstance(decoded, list):
        return flatten_parts(decoded)[1]
    if isinstance(decoded, str):
        return decoded
    return ""
