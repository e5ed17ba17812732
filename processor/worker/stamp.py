"""Stamp scores back on the trace: one `gen_ai.evaluation.result` log record per score, over OTLP gRPC.

The record carries the scored span's trace_id and span_id, so a trace backend shows the score beside
the span's latency and token counts (OTel GenAI semantic conventions for evaluation events).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1 import resource_pb2

from processor import __version__
from processor.model import EvalCase, Outcome, Score

log = logging.getLogger(__name__)

EVENT_NAME = "gen_ai.evaluation.result"
SEVERITY_INFO = logs_pb2.SEVERITY_NUMBER_INFO


def _kv(key: str, value: str | float) -> common_pb2.KeyValue:
    if isinstance(value, float):
        return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(double_value=value))
    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))


def score_label(score: Score) -> str:
    """Low-cardinality label for the score: pass / fail when a threshold applies, else the outcome."""
    if score.outcome is not Outcome.SCORED:
        return str(score.outcome.value)
    if score.passed is None:
        return "scored"
    return "pass" if score.passed else "fail"


def evaluation_record(case: EvalCase, score: Score, *, now_ns: int | None = None) -> logs_pb2.LogRecord:
    """The `gen_ai.evaluation.result` event for one score, parented to the scored span."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    attributes = [
        _kv("gen_ai.evaluation.name", score.name),
        _kv("gen_ai.evaluation.score.label", score_label(score)),
    ]
    if score.value is not None:
        attributes.append(_kv("gen_ai.evaluation.score.value", float(score.value)))
    if score.explanation:
        attributes.append(_kv("gen_ai.evaluation.explanation", score.explanation))
    if case.response_id:
        attributes.append(_kv("gen_ai.response.id", case.response_id))
    if score.outcome is Outcome.ERROR:
        attributes.append(_kv("error.type", score.reason or "unspecified"))
    attributes.extend(_kv(f"evalstream.slice.{name}", value) for name, value in sorted(case.labels.items()))
    return logs_pb2.LogRecord(
        time_unix_nano=now_ns,
        observed_time_unix_nano=now_ns,
        severity_number=SEVERITY_INFO,
        event_name=EVENT_NAME,
        trace_id=bytes.fromhex(case.trace_id) if case.trace_id else b"",
        span_id=bytes.fromhex(case.span_id) if case.span_id else b"",
        attributes=attributes,
    )


def evaluation_request(items: Sequence[tuple[EvalCase, Score]]) -> logs_service_pb2.ExportLogsServiceRequest:
    """One request with an event per score; a score whose event cannot be built is left out and logged."""
    resource = resource_pb2.Resource(attributes=[_kv("service.name", "evalstream-worker")])
    scope = common_pb2.InstrumentationScope(name="evalstream", version=__version__)
    records = []
    for case, score in items:
        try:
            records.append(evaluation_record(case, score))
        except Exception:  # one bad score must not cost the batch its other events
            log.exception("cannot stamp %s on trace %s", score.name, case.trace_id)
    return logs_service_pb2.ExportLogsServiceRequest(
        resource_logs=[
            logs_pb2.ResourceLogs(
                resource=resource, scope_logs=[logs_pb2.ScopeLogs(scope=scope, log_records=records)]
            )
        ]
    )


class ScoreStamper:
    """Exports evaluation events to an OTLP gRPC endpoint (a Collector). Failures are counted, not fatal."""

    def __init__(self, endpoint: str, *, insecure: bool = True, timeout_s: float = 5.0) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        if insecure:
            self._channel = grpc.insecure_channel(endpoint, compression=grpc.Compression.Gzip)
        else:
            self._channel = grpc.secure_channel(
                endpoint, grpc.ssl_channel_credentials(), compression=grpc.Compression.Gzip
            )
        self._stub = logs_service_pb2_grpc.LogsServiceStub(self._channel)  # type: ignore[no-untyped-call]

    def export(self, items: Sequence[tuple[EvalCase, Score]]) -> int:
        """Send one request; return how many scores were left out because their event could not be built.

        Raises grpc.RpcError when the endpoint refuses or is unreachable.
        """
        if not items:
            return 0
        request = evaluation_request(items)
        built = sum(len(s.log_records) for r in request.resource_logs for s in r.scope_logs)
        if built:
            self._stub.Export(request, timeout=self.timeout_s)
        return len(items) - built

    def shutdown(self, timeout_s: float = 5.0) -> None:
        self._channel.close()
