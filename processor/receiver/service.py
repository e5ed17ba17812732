"""The OTLP gRPC receiver: TraceService and LogsService Export on one port; decode, select, send, reply.

Per request: decode (ours, so a bad body gets INVALID_ARGUMENT naming the problem) -> select
(sampler first; attributes are read only for kept traces) -> one Record per kept trace ->
`producer.send()` blocks until every record is acknowledged -> reply. Accepted means durable: OK is
sent only after the acks; a request that produced no record is answered at once. Errors are
raised as `processor.errors` types and turned into statuses by `status.py` alone.
"""

from __future__ import annotations

import bisect
import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent import futures
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Generic, Protocol

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from prometheus_client import CollectorRegistry, Counter

from processor import extract
from processor.endpoint import join_host_port, parse_host_port
from processor.errors import EvalstreamError, InvalidRequest, TooLarge, TransportFull
from processor.extract.config import SlicesConfig
from processor.extract.otlp import LAYOUT, Request, count_items
from processor.extract.prefilter import Prefiltered, SpanKeyTest, prefilter_traces
from processor.metrics.instruments import ReceiverMetrics
from processor.receiver import status
from processor.receiver.auth import GrpcAuthInterceptor, TokenAuth
from processor.receiver.config import ReceiverConfig
from processor.receiver.limits import check_entries
from processor.redact import Redactor, redact_logs, redact_traces
from processor.sampler import Sampler
from processor.tls import read_pem
from processor.transport import Producer, Record, Signal, codec

log = logging.getLogger(__name__)

TRACE_SERVICE = trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name
LOGS_SERVICE = logs_service_pb2.DESCRIPTOR.services_by_name["LogsService"].full_name


SelectTraces = Callable[[ExportTraceServiceRequest, Sampler, SlicesConfig, bytes], Any]
SelectLogs = Callable[[ExportLogsServiceRequest, Sampler], Any]


@dataclass(frozen=True)
class _ItemCounters:
    """One signal's item counters: spans, or log records."""

    received: Counter
    accepted: Counter
    refused: Counter
    failed: Counter


@dataclass(frozen=True)
class _Decoded(Generic[Request]):
    """An export request as decoded: `received` items, of which `too_deep` could not be (`reason`)."""

    request: Request
    signal: Signal
    received: int
    too_deep: int
    reason: str
    raw: bytes = b""  # the serialised request decoded: the prefilter's output, or the body itself
    traces_dropped: int = 0  # distinct trace ids the prefilter left out (their spans are in `received`)
    traces_unread: int = 0  # kept trace ids the prefilter left no span of (none could be forwarded)


class _Selection(Protocol):
    """What both selections report about the items they rejected."""

    rejected: int
    rejected_reason: str


def _security(tls: Any) -> str:
    return ("mTLS" if tls.mutual else "TLS") if tls.enabled else "plaintext"


class Receiver:
    """The OTLP gRPC server. start()/shutdown(timeout_s) are idempotent; start() after shutdown() restarts.

    Args:
        config: the `receiver` section.
        sampler: the keep/drop decision (`processor.sampler.Sampler`), asked by the selection.
        slices: which attributes give slice labels (passed to the extractor).
        producer: where records go; the receiver neither starts nor stops it.
        registry: where the self-metrics are registered.
        select_traces / select_logs: the extractor's selection functions (default:
            processor.extract.select_traces, with this receiver's `LlmTraceMemory`, / select_logs);
            unit tests pass stand-ins.
        health_interval_s: how often the health status follows `producer.ready()`.
        redactor: set (`redaction.in_receiver`): the GenAI content attributes and log bodies of the
            forwarded data are redacted before they reach the transport.
    """

    def __init__(
        self,
        config: ReceiverConfig,
        sampler: Sampler,
        slices: SlicesConfig,
        producer: Producer,
        registry: CollectorRegistry,
        *,
        select_traces: SelectTraces | None = None,
        select_logs: SelectLogs | None = None,
        health_interval_s: float = 1.0,
        redactor: Redactor | None = None,
    ) -> None:
        self.config = config
        self._sampler = sampler
        self._slices = slices
        self._producer = producer
        # one memory of traces with an LLM call per receiver: their later label spans go along too
        self._select_traces: SelectTraces = select_traces or functools.partial(
            extract.select_traces, memory=extract.LlmTraceMemory()
        )
        self._select_logs: SelectLogs = select_logs or extract.select_logs
        # spans the selection cannot forward are left out before decoding; a stand-in selection sees all
        self._span_keys = SpanKeyTest(extract.forwarded_keys(slices)) if select_traces is None else None
        self._metrics = metrics = ReceiverMetrics(registry)
        self._items = {
            Signal.TRACES: _ItemCounters(
                metrics.received_spans, metrics.accepted_spans, metrics.refused_spans, metrics.failed_spans
            ),
            Signal.LOGS: _ItemCounters(
                metrics.received_log_records,
                metrics.accepted_log_records,
                metrics.refused_log_records,
                metrics.failed_log_records,
            ),
        }
        self._health_interval_s = health_interval_s
        self._inflight = threading.BoundedSemaphore(config.grpc.max_concurrent_requests)
        self._lock = threading.Lock()
        self._server: grpc.Server | None = None
        self._health: health.HealthServicer | None = None
        self._stop_health = threading.Event()
        self._health_thread: threading.Thread | None = None
        self._port: int | None = None
        self._logged_internal = False
        self._redactor = redactor
        refused = self._metrics.refused_requests
        #: shared by the gRPC interceptor and the OTLP/HTTP server; None when no tokens are configured
        self.auth: TokenAuth | None = None
        if config.auth.enabled:
            self.auth = TokenAuth(config.auth, lambda reason: refused.labels(reason).inc())

    @property
    def port(self) -> int | None:
        """The bound port (the free one chosen when the endpoint says port 0); None before the first start."""
        return self._port

    @property
    def endpoint(self) -> str:
        host, port = parse_host_port(self.config.grpc.endpoint)
        return join_host_port(host, self._port if self._port is not None else port)

    # lifecycle
    def start(self) -> None:
        """Bind and serve. Raises OSError when the endpoint cannot be bound (a start-up failure)."""
        with self._lock:
            if self._server is not None:
                return
            host, port = parse_host_port(self.config.grpc.endpoint)  # validated with the config
            if port == 0 and self._port is not None:
                port = self._port  # a restart keeps the port it was given the first time
            max_bytes = self.config.grpc.max_recv_msg_size_mib * 1024 * 1024
            # A thread for every admitted request (each may wait for Kafka's ack) plus `workers` spare
            # ones, so a request over max_concurrent_requests is refused at once, never queued behind
            # them; grpc itself refuses what would find no thread (RESOURCE_EXHAUSTED, no RetryInfo).
            threads = self.config.grpc.max_concurrent_requests + self.config.grpc.workers
            server = grpc.server(
                futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="otlp-grpc"),
                options=[
                    ("grpc.max_receive_message_length", max_bytes),
                    ("grpc.so_reuseport", 0),  # a second server on our port must fail, not share it
                ],
                maximum_concurrent_rpcs=threads,
                interceptors=[GrpcAuthInterceptor(self.auth)] if self.auth is not None else None,
            )
            server.add_generic_rpc_handlers(self._handlers())
            self._health = health.HealthServicer()
            health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
            address = join_host_port(host, port)
            tls = self.config.grpc.tls
            try:
                if tls.enabled:
                    credentials = grpc.ssl_server_credentials(
                        [(read_pem(tls.key_file), read_pem(tls.cert_file))],
                        root_certificates=read_pem(tls.client_ca_file) if tls.mutual else None,
                        require_client_auth=tls.mutual,
                    )
                    bound = server.add_secure_port(address, credentials)
                else:
                    bound = server.add_insecure_port(address)
            except RuntimeError as exc:
                raise OSError(f"receiver.grpc.endpoint: cannot bind {address}: {exc}") from None
            if not bound:
                raise OSError(f"receiver.grpc.endpoint: cannot bind {address}")
            self._port = bound
            self._set_health(self._producer_ready())
            server.start()
            self._server = server
            self._stop_health.clear()
            self._health_thread = threading.Thread(
                target=self._follow_health, name="otlp-health", daemon=True
            )
            self._health_thread.start()
        log.info(
            "receiver: OTLP gRPC (traces, logs) on %s:%d (%s%s); max request %d MiB; sampler %s",
            host,
            bound,
            _security(self.config.grpc.tls),
            ", bearer tokens" if self.auth is not None else "",
            self.config.grpc.max_recv_msg_size_mib,
            self._sampler.describe(),
        )

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop taking requests; running ones finish (up to timeout_s). Idempotent, safe before start()."""
        with self._lock:
            server, self._server = self._server, None
            if server is None:
                return
            if self._health is not None:
                self._health.enter_graceful_shutdown()
            self._stop_health.set()
        server.stop(grace=timeout_s).wait(timeout_s + 1.0)
        if self._health_thread is not None:
            self._health_thread.join(timeout_s)
        log.info("receiver: stopped (port %s)", self._port)

    # health
    def refresh_health(self) -> bool:
        """Set the health status from `producer.ready()` now; return whether it is SERVING."""
        ready = self._producer_ready()
        self._set_health(ready)
        return ready

    def _producer_ready(self) -> bool:
        try:
            return bool(self._producer.ready())
        except Exception:
            log.exception("receiver: producer.ready() raised; reporting NOT_SERVING")
            return False

    def _set_health(self, ready: bool) -> None:
        servicer = self._health
        if servicer is None:
            return
        serving = (
            health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", TRACE_SERVICE, LOGS_SERVICE):
            servicer.set(name, serving)

    def _follow_health(self) -> None:
        while not self._stop_health.wait(self._health_interval_s):
            self.refresh_health()

    # gRPC plumbing: raw bytes in, so decoding failures are ours to report
    def _handlers(self) -> tuple[grpc.GenericRpcHandler, ...]:
        return grpc.method_handlers_generic_handler(
            TRACE_SERVICE,
            {
                "Export": grpc.unary_unary_rpc_method_handler(
                    self._export_traces_rpc,
                    request_deserializer=None,
                    response_serializer=ExportTraceServiceResponse.SerializeToString,
                )
            },
        ), grpc.method_handlers_generic_handler(
            LOGS_SERVICE,
            {
                "Export": grpc.unary_unary_rpc_method_handler(
                    self._export_logs_rpc,
                    request_deserializer=None,
                    response_serializer=ExportLogsServiceResponse.SerializeToString,
                )
            },
        )

    def _export_traces_rpc(self, body: bytes, context: grpc.ServicerContext) -> ExportTraceServiceResponse:
        response: ExportTraceServiceResponse = self._rpc("traces", body, context)
        return response

    def _export_logs_rpc(self, body: bytes, context: grpc.ServicerContext) -> ExportLogsServiceResponse:
        response: ExportLogsServiceResponse = self._rpc("logs", body, context)
        return response

    def _rpc(self, signal: str, body: bytes, context: grpc.ServicerContext) -> Any:
        response, failure = self.handle(signal, lambda: body)
        if failure is not None:
            context.abort_with_status(status.status_for(failure))
        return response

    # the request path both servers share: load, export, count; the caller maps the error
    def handle(self, signal: str, load: Callable[[], bytes]) -> tuple[Any, BaseException | None]:
        """One export request: (response, None), or (None, the error to map with `status`).

        `load` gives the serialized Export*ServiceRequest; it runs inside the in-flight limit, so an
        HTTP body is decompressed and converted only once a slot is free, and may raise
        InvalidRequest / TooLarge like the export itself.
        """
        export = self.export_traces if signal == "traces" else self.export_logs
        started = time.perf_counter()
        failure: BaseException | None = None
        response: Any = None
        body = b""
        try:
            if not self._inflight.acquire(blocking=False):
                raise TransportFull(
                    f"receiver busy: {self.config.grpc.max_concurrent_requests} requests in flight",
                    retry_after_s=1.0,
                )
            try:
                body = load()
                response = export(body)
            finally:
                self._inflight.release()
        except EvalstreamError as exc:
            failure = exc
        except Exception as exc:  # our own bug: INTERNAL, traceback logged once, counted
            if not self._logged_internal:
                self._logged_internal = True
                log.exception(
                    "receiver: internal error handling a %s export (further ones only counted)", signal
                )
            failure = exc
            self._count_failed(signal, body)
        finally:
            self._metrics.request_duration.labels(signal).observe(time.perf_counter() - started)
        self._metrics.requests.labels(signal, "OK" if failure is None else status.code_name(failure)).inc()
        return response, failure

    def _count_failed(self, signal: str, body: bytes) -> None:
        try:
            items = count_items(codec.decode(body, codec.REQUEST_TYPE[Signal(signal)]))
            self._items[Signal(signal)].failed.inc(items)
        except Exception:  # counting must not fail the reply
            pass

    # the work, without gRPC (unit tests call these directly): decode and select per signal, then
    # one engine (`_forward`) redacts, encodes, sends, counts and says what was rejected
    def export_traces(self, body: bytes) -> ExportTraceServiceResponse:
        """Decode, select, send and wait for the acks; raise processor.errors on refusal."""
        sampler = self._sampler.for_request(body)  # drops the priority scan when no span can need it
        decoded = self._decode(body, ExportTraceServiceRequest, sampler)
        # the bytes of what was decoded: the selection's marker-key test then reads only kept traces
        selection = self._select_traces(decoded.request, sampler, self._slices, decoded.raw)
        kept, rejected, message = self._forward(decoded, selection.traces, selection, redact_traces)
        self._metrics.kept_spans.inc(kept)
        unread = decoded.traces_unread
        self._metrics.received_traces.inc(selection.traces_received + decoded.traces_dropped + unread)
        self._metrics.kept_traces.inc(selection.traces_sampled + unread)
        self._metrics.llm_calls.inc(int(selection.llm_calls_found))
        response = ExportTraceServiceResponse()
        if rejected:
            response.partial_success.rejected_spans = rejected
            response.partial_success.error_message = message
        return response

    def export_logs(self, body: bytes) -> ExportLogsServiceResponse:
        """Decode, select, send and wait for the acks; raise processor.errors on refusal."""
        decoded = self._decode(body, ExportLogsServiceRequest)
        selection = self._select_logs(decoded.request, self._sampler)
        _, rejected, message = self._forward(decoded, selection.logs, selection, redact_logs)
        response = ExportLogsServiceResponse()
        if rejected:
            response.partial_success.rejected_log_records = rejected
            response.partial_success.error_message = message
        return response

    def _decode(self, body: bytes, kind: type[Request], sampler: Sampler | None = None) -> _Decoded[Request]:
        """Decode an export request, keeping what protobuf's depth limit allows; count what came.

        The items are counted on the wire first: decoding costs ~170 bytes per item however small it
        is, so a request over `max_entries_per_request` is refused before it is materialised. With a
        `sampler` (traces), the spans of the traces it drops, and the kept traces' spans the selection
        cannot forward, are left out before decoding where the bytes allow (`extract.prefilter`):
        counted as received, never decoded.
        """
        check_entries(body, self.config.max_entries_per_request, LAYOUT[kind].noun)
        prefiltered = prefilter_traces(body, sampler, self._span_keys) if sampler is not None else None
        dropped = Prefiltered(body, 0, 0) if prefiltered is None else prefiltered
        request, too_deep, reason = codec.decode_salvaging(dropped.body, kind)
        received = count_items(request) + too_deep + dropped.spans_dropped
        decoded = _Decoded(
            request,
            codec.SIGNAL_OF[kind],
            received,
            too_deep,
            reason,
            dropped.body,
            dropped.traces_dropped,
            dropped.traces_unread,
        )
        self._items[decoded.signal].received.inc(decoded.received)
        return decoded

    def _forward(
        self,
        decoded: _Decoded[Request],
        selected: Mapping[bytes, Request],
        selection: _Selection,
        redact: Callable[[Request, Redactor], None],
    ) -> tuple[int, int, str]:
        """Forward the selection of one request, one record per trace: (items kept, items rejected, why).

        Items with bad ids (the selection's) or nested too deep (the decoder's) are rejected, and so
        are records over the transport's limits. Raises InvalidRequest when every item was rejected,
        and the transport's refusal when the send fails.
        """
        counters = self._items[decoded.signal]
        noun = LAYOUT[type(decoded.request)].noun
        received, invalid = decoded.received, int(selection.rejected) + decoded.too_deep
        reasons = [r for r in (decoded.reason, selection.rejected_reason if selection.rejected else "") if r]
        if received and invalid >= received:
            counters.refused.labels("invalid").inc(received)
            raise InvalidRequest(f"every {noun.removesuffix('s')} was rejected: {'; '.join(reasons)}")
        if self._redactor is not None:
            for kept_request in selected.values():
                redact(kept_request, self._redactor)
        # encode keeps the mapping's order: one record per trace, beside its item count
        encoded = list(zip(codec.encode(selected), map(count_items, selected.values()), strict=True))
        records, too_large, large_reasons = self._within_record_limit(encoded, noun, counters.refused)
        rejected = invalid + too_large
        reasons += large_reasons
        self._send_counting_refusals(records, counters.refused, received - rejected)
        counters.accepted.inc(received - rejected)
        if invalid:
            counters.refused.labels("invalid").inc(invalid)
        return sum(count for _, count in encoded) - too_large, rejected, "; ".join(reasons)

    def _within_record_limit(
        self, encoded: list[tuple[Record, int]], items: str, refused: Counter
    ) -> tuple[list[Record], int, list[str]]:
        """Drop records over the producer's record limit, then those beyond the most records the
        transport can ever take in one send: (kept records, items rejected, reasons).

        Both are final (partial success, not retried): retrying cannot make them fit.
        """
        limit = getattr(self._producer, "max_record_bytes", None)
        kept: list[tuple[Record, int]] = []
        rejected, reasons = 0, []
        for record, count in encoded:
            if limit is not None and len(record.key) + len(record.value) > limit:
                rejected += count
                reasons.append(
                    f"the {items} of trace {record.key.decode()} are {len(record.value)} bytes, "
                    f"over the record limit {limit}"
                )
                refused.labels("too_large").inc(count)
            else:
                kept.append((record, count))
        capacity = getattr(self._producer, "max_batch_records", None)
        if capacity is not None and len(kept) > capacity:
            over = sum(count for _, count in kept[capacity:])
            rejected += over
            reasons.append(
                f"the request holds {len(kept)} sampled traces but the transport takes at most {capacity} "
                f"at once; the {items} of the last {len(kept) - capacity} were dropped: send smaller batches"
            )
            refused.labels("too_large").inc(over)
            kept = kept[:capacity]
        capacity_bytes = getattr(self._producer, "max_batch_bytes", None)
        if capacity_bytes is not None:
            sizes = list(accumulate(len(record.key) + len(record.value) for record, _ in kept))
            fit = bisect.bisect_right(sizes, capacity_bytes)
            if fit < len(kept):
                over = sum(count for _, count in kept[fit:])
                rejected += over
                reasons.append(
                    f"the request's sampled traces take {sizes[-1]} bytes but the transport holds at most "
                    f"{capacity_bytes}; the {items} of the last {len(kept) - fit} were dropped: "
                    "send smaller batches"
                )
                refused.labels("too_large").inc(over)
                kept = kept[:fit]
        return [record for record, _ in kept], rejected, reasons

    def _send_counting_refusals(self, records: list[Record], refused: Counter, items: int) -> None:
        """Send; when the transport refuses, count the request's `items` under the refusal's reason."""
        try:
            self._send(records)
        except EvalstreamError as exc:
            rule = status.rule_for(exc)
            refused.labels(rule.reason if rule else "unavailable").inc(items)
            raise

    def _send(self, records: list[Record]) -> None:
        if not records:
            return  # nothing to make durable: reply at once
        try:
            self._producer.send(records, timeout_s=self.config.send_timeout_s)
        except TooLarge:
            raise
        except EvalstreamError:
            self._set_health(self._producer_ready())
            raise
