"""Builders for OTLP requests shaped like the bundled fixture scenarios, and small gRPC helpers."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def chat_attributes(question: str, answer: str, *, model: str = "gpt-4o-mini") -> list[KeyValue]:
    """A current-convention GenAI chat span's attributes, with the prompt and answer on the span."""
    user = [{"role": "user", "parts": [{"type": "text", "content": question}]}]
    assistant = [
        {"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}
    ]
    return [
        kv("gen_ai.operation.name", "chat"),
        kv("gen_ai.provider.name", "openai"),
        kv("gen_ai.request.model", model),
        kv("gen_ai.input.messages", json.dumps(user)),
        kv("gen_ai.output.messages", json.dumps(assistant)),
    ]


def random_trace_id() -> bytes:
    return os.urandom(16)


def trace_request(trace_ids: Sequence[bytes], *, bad_ids: int = 0) -> ExportTraceServiceRequest:
    """Per trace: a root span (app.locale, app.prompt.version) and an LLM chat span under it."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend([kv("service.name", "support-bot"), kv("app.tenant", "acme")])
    ss = rs.scope_spans.add()
    ss.scope.name = "test"
    for tid in trace_ids:
        root = ss.spans.add(trace_id=tid, span_id=os.urandom(8), name="handle_question")
        root.attributes.extend([kv("app.locale", "en-US"), kv("app.prompt.version", "support-v7")])
        chat = ss.spans.add(
            trace_id=tid, span_id=os.urandom(8), parent_span_id=root.span_id, name="chat gpt-4o-mini"
        )
        chat.attributes.extend(
            [
                kv("gen_ai.operation.name", "chat"),
                kv("gen_ai.provider.name", "openai"),
                kv("gen_ai.request.model", "gpt-4o-mini"),
                kv("gen_ai.usage.input_tokens", 12),
            ]
        )
    for _ in range(bad_ids):
        ss.spans.add(trace_id=b"\x01\x02", span_id=os.urandom(8), name="bad ids")
    return request


def logs_request(trace_ids: Sequence[bytes]) -> ExportLogsServiceRequest:
    """Per trace: one EVENT_ONLY-flavoured gen_ai.client.inference.operation.details log record."""
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.extend([kv("service.name", "support-bot"), kv("app.tenant", "acme")])
    sl = rl.scope_logs.add()
    for tid in trace_ids:
        record = sl.log_records.add(
            trace_id=tid, span_id=os.urandom(8), event_name="gen_ai.client.inference.operation.details"
        )
        record.attributes.append(kv("gen_ai.operation.name", "chat"))
    return request


class Stubs:
    """Trace, logs and raw-bytes callers on one channel to a receiver."""

    def __init__(self, port: int) -> None:
        self.channel = grpc.insecure_channel(
            f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", -1)]
        )
        self.traces = trace_service_pb2_grpc.TraceServiceStub(self.channel)
        self.logs = logs_service_pb2_grpc.LogsServiceStub(self.channel)
        self.raw_traces = self.channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=None,
        )
        self.raw_logs = self.channel.unary_unary(
            "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            request_serializer=None,
            response_deserializer=None,
        )

    def close(self) -> None:
        self.channel.close()


def rpc_error(call, *args, **kwargs) -> grpc.RpcError:  # type: ignore[no-untyped-def]
    """The RpcError a call raises; fails the test when it succeeds."""
    try:
        call(*args, **kwargs)
    except grpc.RpcError as exc:
        return exc
    raise AssertionError("the call succeeded, an error status was expected")
