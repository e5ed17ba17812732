"""The replay helper hands the receiver the fixtures' content unchanged, or the e2e tests prove nothing."""

from __future__ import annotations

import pathlib
from concurrent import futures

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from processor.demo.replay import attributes, replay


class _Sink(trace_service_pb2_grpc.TraceServiceServicer, logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self) -> None:
        self.traces: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.logs: list[logs_service_pb2.ExportLogsServiceRequest] = []

    def Export(self, request, context):
        if isinstance(request, trace_service_pb2.ExportTraceServiceRequest):
            self.traces.append(request)
            return trace_service_pb2.ExportTraceServiceResponse()
        self.logs.append(request)
        return logs_service_pb2.ExportLogsServiceResponse()


def _span_view(request):
    return sorted(
        (
            s.trace_id,
            s.span_id,
            s.parent_span_id,
            s.name,
            tuple(sorted(attributes(s.attributes).items(), key=str)),
            tuple(rs.resource.attributes),
        )
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
    )


def _log_view(request):
    return sorted(
        (r.trace_id, r.span_id, r.event_name, str(attributes(r.attributes)), r.body.SerializeToString())
        for rl in request.resource_logs
        for sl in rl.scope_logs
        for r in sl.log_records
    )


@pytest.mark.parametrize("flavour", ["otel-genai-latest-event", "otel-genai-legacy-events", "openinference"])
def test_replay_through_sdk_exporters_preserves_ids_attributes_and_bodies(
    otlp_fixtures: pathlib.Path, flavour: str
) -> None:
    sink = _Sink()
    server = grpc.server(futures.ThreadPoolExecutor(2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(sink, server)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(sink, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        traces = trace_service_pb2.ExportTraceServiceRequest.FromString(
            (otlp_fixtures / f"{flavour}.traces.pb").read_bytes()
        )
        logs_file = otlp_fixtures / f"{flavour}.logs.pb"
        logs = (
            [logs_service_pb2.ExportLogsServiceRequest.FromString(logs_file.read_bytes())]
            if logs_file.exists()
            else []
        )
        assert replay(f"127.0.0.1:{port}", [traces], logs) == (True, True)
    finally:
        server.stop(None)
    assert _span_view(sink.traces[0]) == _span_view(traces)
    if logs:
        assert _log_view(sink.logs[0]) == _log_view(logs[0])


def test_fresh_ids_are_new_per_trace_and_shared_by_spans_and_logs(otlp_fixtures: pathlib.Path) -> None:
    from processor.demo.replay import load_flavour, with_fresh_ids

    traces, logs = load_flavour(otlp_fixtures, "otel-genai-latest-event")
    assert logs is not None
    now_ns = 2_000_000_000_000_000_000
    fresh_traces, fresh_logs = with_fresh_ids(traces, logs, now_ns=now_ns)
    assert fresh_logs is not None

    def span_ids(request):  # (old or new) trace id per span id
        return {
            s.span_id: s.trace_id for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans
        }

    old, new = span_ids(traces), span_ids(fresh_traces)
    assert old.keys() == new.keys()
    mapping = {old[span]: new[span] for span in old}
    assert len(set(mapping.values())) == len(mapping) == 2  # one new id per trace, two traces
    assert not set(mapping) & set(mapping.values())
    for rl in fresh_logs.resource_logs:
        for sl in rl.scope_logs:
            for record in sl.log_records:
                assert record.trace_id == new[record.span_id]  # still joined to its span
    ends = [
        s.end_time_unix_nano for rs in fresh_traces.resource_spans for ss in rs.scope_spans for s in ss.spans
    ]
    assert max(ends) == now_ns
