"""OpenLLMetry (Traceloop): `llm.request.type` marker; up to 0.54, `gen_ai.prompt.N.*` / `.completion.N.*`.

From 0.55 OpenLLMetry writes the GenAI `gen_ai.input.messages` / `gen_ai.output.messages` JSON,
which `genai.content_from_attributes` reads. Multi-part content is a JSON string of parts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from processor.extract.content import Content, ParsedMessage, flatten_content
from processor.extract.otlp import indexed, json_or_value

REQUEST_TYPE = "llm.request.type"
LLM_REQUEST_TYPES = frozenset({"chat", "completion"})
NOT_LLM_REQUEST_TYPES = frozenset({"embedding", "rerank"})
SOURCE = "openllmetry"


def is_llm(request_type: Any, system: Any, operation: Any) -> bool:
    """`llm.request.type` chat/completion, or `gen_ai.system` on a span with no operation name."""
    if isinstance(request_type, str):
        return request_type in LLM_REQUEST_TYPES
    return operation is None and isinstance(system, str) and bool(system)


def _message(fields: Mapping[str, Any], default_role: str) -> ParsedMessage | None:
    role = fields.get("role")
    role = role.lower() if isinstance(role, str) and role else default_role
    body = fields.get("content")
    if isinstance(body, str) and body[:1] == "[":
        decoded = json_or_value(body)  # multi-part content is serialized as a JSON list of parts
        if isinstance(decoded, list):
            body = decoded
    text, described = flatten_content(body)
    if not described:
        return None
    return ParsedMessage(role, text, described)


def content_from_attributes(attrs: Mapping[str, Any]) -> Content:
    content = Content(SOURCE)
    for fields in indexed(attrs, "gen_ai.prompt."):
        message = _message(fields, "user")
        if message is not None:
            content.inputs.append(message)
    for fields in indexed(attrs, "gen_ai.completion."):
        message = _message(fields, "assistant")
        if message is not None:
            content.outputs.append(message)
    return content
