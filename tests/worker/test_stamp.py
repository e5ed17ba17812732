"""Score events sent over real OTLP gRPC to an in-test LogsService, as a Collector would receive them."""

from __future__ import annotations

from concurrent import futures

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc

from processor.model import EvalCase, Score
from processor.worker.stamp import EVENT_NAME, ScoreStamper


class _Sink(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self) -> None:
        self.requests: list[logs_service_pb2.ExportLogsServiceRequest] = []

    def Export(self, request, context):
        self.requests.append(request)
        return logs_service_pb2.ExportLogsServiceResponse()


def _attrs(record) -> dict[str, object]:
    out: dict[str, object] = {}
    for kv in record.attributes:
        which = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, which)
    return out


def test_each_score_becomes_an_evaluation_event_on_the_scored_span() -> None:
    sink = _Sink()
    server = grpc.server(futures.ThreadPoolExecutor(2))
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(sink, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        case = EvalCase(
            input="q",
            output="a",
            trace_id="0af7651916cd43dd8448eb211c80319c",
            span_id="b7ad6b7169203331",
            response_id="chatcmpl-1",
            labels={"locale": "de-DE", "tenant": "acme"},
        )
        stamper = ScoreStamper(f"127.0.0.1:{port}")
        stamper.export(
            [
                (case, Score.scored("relevance", 0.25, threshold=0.5, explanation="off topic")),
                (case, Score.errored("judge", "timeout")),
            ]
        )
        stamper.shutdown()
    finally:
        server.stop(None)
    (request,) = sink.requests
    first, second = request.resource_logs[0].scope_logs[0].log_records
    assert first.event_name == EVENT_NAME
    assert first.trace_id.hex() == case.trace_id and first.span_id.hex() == case.span_id
    assert _attrs(first) == {
        "gen_ai.evaluation.name": "relevance",
        "gen_ai.evaluation.score.label": "fail",
        "gen_ai.evaluation.score.value": 0.25,
        "gen_ai.evaluation.explanation": "off topic",
        "gen_ai.response.id": "chatcmpl-1",
        "evalstream.slice.locale": "de-DE",
        "evalstream.slice.tenant": "acme",
    }
    assert _attrs(second)["error.type"] == "timeout"
    assert "gen_ai.evaluation.score.value" not in _attrs(second)


def test_unreachable_endpoint_raises_for_the_worker_to_count() -> None:
    stamper = ScoreStamper("127.0.0.1:1", timeout_s=0.5)
    with pytest.raises(grpc.RpcError):
        stamper.export(
            [(EvalCase(input="q", output="a", trace_id="00" * 16, span_id="00" * 8), Score.scored("x", 1))]
        )
    stamper.shutdown()


def test_a_score_whose_event_cannot_be_built_is_left_out_not_the_batch() -> None:
    from processor.worker.stamp import evaluation_request

    good = EvalCase(input="q", output="a", trace_id="ab" * 16, span_id="cd" * 8)
    bad = EvalCase(input="q", output="a", trace_id="not hex", span_id="cd" * 8)
    request = evaluation_request(
        [(bad, Score.scored("relevance", 0.4)), (good, Score.scored("relevance", 0.6))]
    )
    (record,) = request.resource_logs[0].scope_logs[0].log_records
    assert record.trace_id == bytes.fromhex("ab" * 16)
