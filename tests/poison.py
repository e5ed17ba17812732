"""Poison inputs of issue 9 built from the bundled fixtures, plus a canary that must be scored after them.

- `poison_messages`: `gen_ai.input.messages` JSON whose user text ends in a lone UTF-16 surrogate
  escape (`"refund window? \\ud83d"`): valid UTF-8 on the wire, a lone surrogate once decoded.
- `poison_model`: `llm.invocation_parameters` `{"model": "gpt-4o\\udc80"}` with `llm.model_name`
  removed, so the poisoned name is the case's model and its `model` slice label.
- `canary`: a clean call with fresh trace ids and `app.tenant` set to a value of its own.

Every builder gives its traces fresh random ids, so a test can send them again and again.
"""

from __future__ import annotations

import json
import pathlib

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1 import common_pb2

from processor.demo.replay import with_fresh_ids

LONE_HIGH = "\\ud83d"  # JSON escapes, as they travel inside a (valid UTF-8) string attribute
LONE_LOW = "\\udc80"


def _load(fixtures: pathlib.Path, flavour: str) -> ExportTraceServiceRequest:
    """The flavour's traces with fresh trace ids (and timestamps ending now)."""
    traces = ExportTraceServiceRequest.FromString((fixtures / f"{flavour}.traces.pb").read_bytes())
    return with_fresh_ids(traces, None)[0]


def _set_resource(request: ExportTraceServiceRequest, key: str, value: str) -> None:
    for resource_spans in request.resource_spans:
        attributes = resource_spans.resource.attributes
        for kv in attributes:
            if kv.key == key:
                kv.value.string_value = value
                break
        else:
            attributes.append(common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value)))


def _spans(request: ExportTraceServiceRequest):  # type: ignore[no-untyped-def]
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            yield from scope_spans.spans


def poison_messages(fixtures: pathlib.Path, tenant: str = "poison") -> ExportTraceServiceRequest:
    request = _load(fixtures, "otel-genai-latest-span")
    for span in _spans(request):
        for kv in span.attributes:
            if kv.key != "gen_ai.input.messages":
                continue
            messages = json.loads(kv.value.string_value)
            for message in messages:
                if message["role"] == "user":
                    message["parts"] = [{"type": "text", "content": "POISON"}]
            kv.value.string_value = json.dumps(messages).replace('"POISON"', f'"refund window? {LONE_HIGH}"')
    _set_resource(request, "app.tenant", tenant)
    return request


def poison_model(fixtures: pathlib.Path, tenant: str = "poison") -> ExportTraceServiceRequest:
    request = _load(fixtures, "openinference")
    for span in _spans(request):
        kept = [kv for kv in span.attributes if kv.key != "llm.model_name"]
        for kv in kept:
            if kv.key == "llm.invocation_parameters":
                kv.value.string_value = '{"model": "gpt-4o' + LONE_LOW + '"}'
        del span.attributes[:]
        span.attributes.extend(kept)
    _set_resource(request, "app.tenant", tenant)
    return request


def canary(fixtures: pathlib.Path, tenant: str = "canary") -> ExportTraceServiceRequest:
    request = _load(fixtures, "otel-genai-latest-span")
    _set_resource(request, "app.tenant", tenant)
    return request


def trace_ids(request: ExportTraceServiceRequest) -> set[bytes]:
    return {span.trace_id for span in _spans(request)}
