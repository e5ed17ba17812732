"""Stand-ins for the extractor's select_traces / select_logs, so receiver unit tests pin only the receiver.

They follow the agreed API: group by trace id, ask the sampler first, reject spans with malformed ids.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from processor.extract.select import LogSelection, TraceSelection


def select_traces(
    request: ExportTraceServiceRequest, sampler: Any, slices: Any, raw: bytes | None = None
) -> TraceSelection:
    out = TraceSelection()
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                out.spans_received += 1
                if len(span.trace_id) != 16 or not any(span.trace_id) or len(span.span_id) != 8:
                    out.rejected += 1
                    out.rejected_reason = f"span with invalid trace_id {span.trace_id.hex()!r}"
                    continue
                if not sampler.keep(span.trace_id):
                    continue
                if any(a.key == "gen_ai.operation.name" for a in span.attributes):
                    out.llm_calls_found += 1
                trace = out.traces.setdefault(span.trace_id, ExportTraceServiceRequest())
                rs_out = trace.resource_spans.add()
                rs_out.resource.CopyFrom(rs.resource)
                rs_out.schema_url = rs.schema_url
                ss_out = rs_out.scope_spans.add()
                ss_out.scope.CopyFrom(ss.scope)
                ss_out.spans.add().CopyFrom(span)
                out.spans_kept += 1
    return out


def select_logs(request: ExportLogsServiceRequest, sampler: Any) -> LogSelection:
    out = LogSelection()
    for rl in request.resource_logs:
        for sl in rl.scope_logs:
            for record in sl.log_records:
                out.records_received += 1
                if not record.trace_id or not sampler.keep(record.trace_id):
                    continue
                logs = out.logs.setdefault(record.trace_id, ExportLogsServiceRequest())
                rl_out = logs.resource_logs.add()
                rl_out.resource.CopyFrom(rl.resource)
                sl_out = rl_out.scope_logs.add()
                sl_out.scope.CopyFrom(sl.scope)
                sl_out.log_records.add().CopyFrom(record)
                out.records_kept += 1
    return out
