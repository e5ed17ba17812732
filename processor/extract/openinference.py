"""OpenInference (Arize): `openinference.span.kind`, flattened `llm.input_messages.N.message.*`, documents.

Messages: `llm.input_messages.N.message.role` and `.content`, or multi-part
`.contents.M.message_content.{type,text}`; tool calls under `.tool_calls.K.tool_call.function.name`.
Without them, `input.value` / `output.value` (raw request and response, JSON or text) are a fallback.
Retriever spans list `retrieval.documents.N.document.content`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from processor.extract.content import Content, ParsedMessage, parse_messages
from processor.extract.otlp import indexed, json_or_value

SPAN_KIND = "openinference.span.kind"
LLM = "LLM"
RETRIEVER = "RETRIEVER"
SOURCE = "openinference"


def _message(fields: Mapping[str, Any], default_role: str) -> ParsedMessage | None:
    role = fields.get("message.role")
    role = role.lower() if isinstance(role, str) and role else default_role
    texts: list[str] = []
    described: list[str] = []
    body = fields.get("message.content")
    if isinstance(body, str) and body:
        texts.append(body)
    for part in indexed(fields, "message.contents."):
        kind = part.get("message_content.type", "text")
        text = part.get("message_content.text")
        if kind == "text" and isinstance(text, str) and text:
            texts.append(text)
        elif isinstance(kind, str) and kind != "text":
            described.append(f"[{kind}]")
    for call in indexed(fields, "message.tool_calls."):
        name = call.get("tool_call.function.name")
        described.append(f"[tool_call {name if isinstance(name, str) else ''}]")
    if not texts and not described:
        return None
    text = "\n".join(texts)
    return ParsedMessage(role, text, "\n".join([text, *described]) if text else "\n".join(described))


def _messages(attrs: Mapping[str, Any], prefix: str, default_role: str) -> list[ParsedMessage]:
    out = []
    for fields in indexed(attrs, prefix):
        message = _message(fields, default_role)
        if message is not None:
            out.append(message)
    return out


def _fallback_input(attrs: Mapping[str, Any]) -> list[ParsedMessage]:
    value = attrs.get("input.value")
    if not isinstance(value, str) or not value:
        return []
    if attrs.get("input.mime_type") == "application/json":
        decoded = json_or_value(value)
        if isinstance(decoded, Mapping):
            messages = parse_messages(decoded.get("messages"))
            if messages:
                return messages
            prompt = decoded.get("prompt")
            if isinstance(prompt, str) and prompt:
                return [ParsedMessage("user", prompt, prompt)]
        return []
    return [ParsedMessage("user", value, value)]


def _fallback_output(attrs: Mapping[str, Any]) -> list[ParsedMessage]:
    value = attrs.get("output.value")
    if not isinstance(value, str) or not value:
        return []
    if attrs.get("output.mime_type") == "application/json":
        decoded = json_or_value(value)
        choices = decoded.get("choices") if isinstance(decoded, Mapping) else None
        if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
            first = choices[0]
            if "message" in first:
                return parse_messages(first.get("message"), default_role="assistant")
            text = first.get("text")
            if isinstance(text, str) and text:
                return [ParsedMessage("assistant", text, text)]
        return []
    return [ParsedMessage("assistant", value, value)]


def content_from_attributes(attrs: Mapping[str, Any]) -> Content:
    content = Content(SOURCE)
    content.inputs = _messages(attrs, "llm.input_messages.", "user") or _fallback_input(attrs)
    content.outputs = _messages(attrs, "llm.output_messages.", "assistant") or _fallback_output(attrs)
    return content


def request_model(attrs: Mapping[str, Any]) -> str:
    """The model asked for, from `llm.invocation_parameters` (JSON); `llm.model_name` is the response's."""
    params = json_or_value(attrs.get("llm.invocation_parameters"))
    model = params.get("model") if isinstance(params, Mapping) else None
    return model if isinstance(model, str) else ""


def response_id(attrs: Mapping[str, Any]) -> str:
    """The provider's response id, when `output.value` is the raw JSON response."""
    if attrs.get("output.mime_type") != "application/json":
        return ""
    decoded = json_or_value(attrs.get("output.value"))
    rid = decoded.get("id") if isinstance(decoded, Mapping) else None
    return rid if isinstance(rid, str) else ""


def documents(attrs: Mapping[str, Any]) -> list[str]:
    """`retrieval.documents.N.document.content` in index order."""
    out = []
    for doc in indexed(attrs, "retrieval.documents."):
        text = doc.get("document.content")
        if isinstance(text, str) and text:
            out.append(text)
    return out
