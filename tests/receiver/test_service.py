"""Receiver over real gRPC with the in-process transport: statuses, partial success, health, lifecycle."""

from __future__ import annotations

import concurrent.futures
import os
import random
import socket
import statistics
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import grpc
import pytest
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from prometheus_client import CollectorRegistry

from processor.errors import TransportUnavailable
from processor.extract.config import SlicesConfig
from processor.receiver.config import GrpcConfig, ReceiverConfig
from processor.receiver.service import Receiver
from processor.sampler.config import SamplingConfig
from processor.sampler.trace_id import TraceIdSampler
from processor.transport import Record, Signal, codec
from processor.transport.memory import MemoryTransport
from tests.receiver import fakes
from tests.receiver.helpers import Stubs, logs_request, random_trace_id, rpc_error, trace_request

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class FailingProducer:
    """A producer whose send() always raises the given error."""

    def __init__(self, error: Exception, *, ready: bool = False) -> None:
        self.error = error
        self._ready = ready

    def send(self, records: Sequence[Record], *, timeout_s: float) -> None:
        raise self.error

    def ready(self) -> bool:
        return self._ready

    def shutdown(self, timeout_s: float = 10.0) -> None:
        pass


def make_receiver(
    producer: Any,
    registry: CollectorRegistry | None = None,
    *,
    rate: float = 1.0,
    endpoint: str = "127.0.0.1:0",
    **grpc_options: Any,
) -> Receiver:
    config = ReceiverConfig(grpc=GrpcConfig(endpoint=endpoint, **grpc_options), send_timeout_s=5.0)
    return Receiver(
        config,
        TraceIdSampler(SamplingConfig(rate=rate)),
        SlicesConfig(),
        producer,
        registry if registry is not None else CollectorRegistry(),
        select_traces=fakes.select_traces,
        select_logs=fakes.select_logs,
        health_interval_s=3600,  # tests call refresh_health() themselves
    )


@pytest.fixture
def receiver(memory: MemoryTransport, registry: CollectorRegistry) -> Iterator[Receiver]:
    r = make_receiver(memory, registry)
    r.start()
    yield r
    r.shutdown(timeout_s=2)


@pytest.fixture
def stubs(receiver: Receiver) -> Iterator[Stubs]:
    assert receiver.port
    s = Stubs(receiver.port)
    yield s
    s.close()


def drain(memory: MemoryTransport) -> list[Record]:
    return [c.record for c in memory.poll(timeout_s=0.01, max_records=100000)]


def retry_info(error: grpc.RpcError) -> error_details_pb2.RetryInfo | None:
    rich = rpc_status.from_call(error)  # type: ignore[arg-type]
    if rich is None:
        return None
    for detail in rich.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return info
    return None


def still_serving(stubs: Stubs) -> bool:
    tid = random_trace_id()
    response = stubs.traces.Export(trace_request([tid]), timeout=10)
    return not response.HasField("partial_success")


# --- the happy paths -----------------------------------------------------------------------------


def test_traces_become_one_record_per_trace_keyed_by_hex_trace_id(
    stubs: Stubs, memory: MemoryTransport, registry: CollectorRegistry
) -> None:
    tids = [random_trace_id() for _ in range(3)]
    response = stubs.traces.Export(trace_request(tids), timeout=10)
    assert not response.HasField("partial_success")
    records = drain(memory)
    assert sorted(r.key for r in records) == sorted(t.hex().encode() for t in tids)
    for record in records:
        assert record.signal is Signal.TRACES
        trace = codec.decode(record.value, ExportTraceServiceRequest)
        spans = [s for rs in trace.resource_spans for ss in rs.scope_spans for s in ss.spans]
        assert {s.trace_id.hex().encode() for s in spans} == {record.key}
        assert len(spans) == 2
    assert registry.get_sample_value("evalstream_receiver_received_spans_total") == 6
    assert registry.get_sample_value("evalstream_receiver_accepted_spans_total") == 6
    assert registry.get_sample_value("evalstream_sampler_kept_spans_total") == 6
    assert registry.get_sample_value("evalstream_receiver_llm_calls_total") == 3


def test_logs_become_records_on_the_logs_signal(
    stubs: Stubs, memory: MemoryTransport, registry: CollectorRegistry
) -> None:
    tid = random_trace_id()
    stubs.logs.Export(logs_request([tid]), timeout=10)
    (record,) = drain(memory)
    assert record.signal is Signal.LOGS and record.key == tid.hex().encode()
    assert (
        codec.decode(record.value, ExportLogsServiceRequest)
        .resource_logs[0]
        .scope_logs[0]
        .log_records[0]
        .trace_id
        == tid
    )
    assert registry.get_sample_value("evalstream_receiver_accepted_log_records_total") == 1


def test_gzip_request_is_accepted(stubs: Stubs, memory: MemoryTransport) -> None:
    tid = random_trace_id()
    stubs.traces.Export(trace_request([tid]), timeout=10, compression=grpc.Compression.Gzip)
    assert [r.key for r in drain(memory)] == [tid.hex().encode()]


def test_sampled_out_traces_are_accepted_and_not_sent(
    memory: MemoryTransport, registry: CollectorRegistry
) -> None:
    receiver = make_receiver(memory, registry, rate=0.0)
    receiver.start()
    try:
        assert receiver.port
        stubs = Stubs(receiver.port)
        response = stubs.traces.Export(trace_request([random_trace_id() for _ in range(5)]), timeout=10)
        stubs.close()
    finally:
        receiver.shutdown(timeout_s=2)
    assert not response.HasField("partial_success")
    assert drain(memory) == []
    assert registry.get_sample_value("evalstream_receiver_accepted_spans_total") == 10
    assert registry.get_sample_value("evalstream_sampler_kept_spans_total") == 0


# --- bad input -----------------------------------------------------------------------------------


def test_empty_request_is_ok_and_sends_nothing(stubs: Stubs, memory: MemoryTransport) -> None:
    assert stubs.raw_traces(b"", timeout=10) == b""
    assert stubs.raw_logs(b"", timeout=10) == b""
    assert drain(memory) == []


@pytest.mark.parametrize("signal", ["traces", "logs"])
def test_malformed_bytes_get_invalid_argument_naming_the_problem(stubs: Stubs, signal: str) -> None:
    call = stubs.raw_traces if signal == "traces" else stubs.raw_logs
    error = rpc_error(call, b"\xff\xff\xff\xff garbage", timeout=10)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    expected = "ExportTraceServiceRequest" if signal == "traces" else "ExportLogsServiceRequest"
    assert f"not a valid {expected}" in (error.details() or "")
    assert still_serving(stubs)


def test_truncated_protobuf_gets_invalid_argument(stubs: Stubs, registry: CollectorRegistry) -> None:
    body = trace_request([random_trace_id()]).SerializeToString()
    error = rpc_error(stubs.raw_traces, body[: len(body) // 2], timeout=10)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid ExportTraceServiceRequest" in (error.details() or "")
    assert (
        registry.get_sample_value(
            "evalstream_receiver_requests_total", {"signal": "traces", "code": "INVALID_ARGUMENT"}
        )
        == 1
    )
    assert still_serving(stubs)


def test_oversize_request_gets_resource_exhausted_without_retry_info(memory: MemoryTransport) -> None:
    receiver = make_receiver(memory, max_recv_msg_size_mib=1)
    receiver.start()
    try:
        assert receiver.port
        stubs = Stubs(receiver.port)
        request = trace_request([random_trace_id()])
        request.resource_spans[0].scope_spans[0].spans[0].attributes.add(key="big").value.string_value = (
            "x" * (2 * 1024 * 1024)
        )
        error = rpc_error(stubs.traces.Export, request, timeout=10)
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert retry_info(error) is None
        assert "google.rpc.retryinfo-bin" not in dict(error.trailing_metadata() or ())
        assert still_serving(stubs)
        stubs.close()
    finally:
        receiver.shutdown(timeout_s=2)
    assert len(drain(memory)) == 1  # only the still_serving request


def test_random_bytes_never_crash_the_server(stubs: Stubs) -> None:
    rng = random.Random(1234)
    codes = set()
    for _ in range(200):
        body = rng.randbytes(rng.randint(1, 300))
        try:
            stubs.raw_traces(body, timeout=10)
            codes.add(grpc.StatusCode.OK)
        except grpc.RpcError as exc:
            codes.add(exc.code())
    assert codes <= {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT}
    assert grpc.StatusCode.INVALID_ARGUMENT in codes
    assert still_serving(stubs)


def test_some_spans_with_invalid_ids_give_partial_success(
    stubs: Stubs, memory: MemoryTransport, registry: CollectorRegistry
) -> None:
    tid = random_trace_id()
    response = stubs.traces.Export(trace_request([tid], bad_ids=2), timeout=10)
    assert response.partial_success.rejected_spans == 2
    assert "invalid trace_id" in response.partial_success.error_message
    assert [r.key for r in drain(memory)] == [tid.hex().encode()]
    assert registry.get_sample_value("evalstream_receiver_refused_spans_total", {"reason": "invalid"}) == 2
    assert registry.get_sample_value("evalstream_receiver_accepted_spans_total") == 2


def test_only_invalid_spans_give_invalid_argument(stubs: Stubs, memory: MemoryTransport) -> None:
    error = rpc_error(stubs.traces.Export, trace_request([], bad_ids=3), timeout=10)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "every span was rejected" in (error.details() or "")
    assert drain(memory) == []


def test_trace_over_the_record_limit_is_rejected_partially(registry: CollectorRegistry) -> None:
    memory = MemoryTransport()
    memory.max_record_bytes = 2000  # type: ignore[attr-defined]  # what KafkaProducerTransport exposes
    receiver = make_receiver(memory, registry)
    small, big = random_trace_id(), random_trace_id()
    request = trace_request([small, big])
    spans = request.resource_spans[0].scope_spans[0].spans
    next(s for s in spans if s.trace_id == big).attributes.add(key="big").value.string_value = "x" * 5000
    response = receiver.export_traces(request.SerializeToString())
    assert response.partial_success.rejected_spans == 2
    assert big.hex() in response.partial_success.error_message
    assert [r.key for r in drain(memory)] == [small.hex().encode()]
    assert registry.get_sample_value("evalstream_receiver_refused_spans_total", {"reason": "too_large"}) == 2


# --- transport errors ----------------------------------------------------------------------------


def test_full_transport_gets_resource_exhausted_with_retry_info(registry: CollectorRegistry) -> None:
    memory = MemoryTransport(max_records=1)
    receiver = make_receiver(memory, registry)
    receiver.start()
    try:
        assert receiver.port
        stubs = Stubs(receiver.port)
        stubs.traces.Export(trace_request([random_trace_id()]), timeout=10)
        error = rpc_error(stubs.traces.Export, trace_request([random_trace_id()]), timeout=10)
        stubs.close()
    finally:
        receiver.shutdown(timeout_s=2)
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    info = retry_info(error)
    assert info is not None and info.retry_delay.seconds == 1
    sdk_trailer = dict(error.trailing_metadata() or ())["google.rpc.retryinfo-bin"]
    assert error_details_pb2.RetryInfo.FromString(sdk_trailer).retry_delay.seconds == 1
    assert registry.get_sample_value("evalstream_receiver_refused_spans_total", {"reason": "full"}) == 2


@pytest.mark.parametrize("signal", ["traces", "logs"])
def test_unreachable_broker_gets_unavailable(signal: str, registry: CollectorRegistry) -> None:
    receiver = make_receiver(
        FailingProducer(TransportUnavailable("Kafka did not acknowledge within 5s")), registry
    )
    receiver.start()
    try:
        assert receiver.port
        stubs = Stubs(receiver.port)
        tid = random_trace_id()
        if signal == "traces":
            error = rpc_error(stubs.traces.Export, trace_request([tid]), timeout=10)
        else:
            error = rpc_error(stubs.logs.Export, logs_request([tid]), timeout=10)
        stubs.close()
    finally:
        receiver.shutdown(timeout_s=2)
    assert error.code() is grpc.StatusCode.UNAVAILABLE
    assert "did not acknowledge" in (error.details() or "")
    assert retry_info(error) is None
    name = (
        "evalstream_receiver_refused_spans_total"
        if signal == "traces"
        else "evalstream_receiver_refused_log_records_total"
    )
    assert registry.get_sample_value(name, {"reason": "unavailable"}) == (2 if signal == "traces" else 1)


def test_shut_down_transport_gets_unavailable(memory: MemoryTransport, stubs: Stubs) -> None:
    memory.shutdown()
    error = rpc_error(stubs.traces.Export, trace_request([random_trace_id()]), timeout=10)
    assert error.code() is grpc.StatusCode.UNAVAILABLE


def test_internal_error_gets_internal_is_counted_and_server_keeps_serving(
    memory: MemoryTransport, registry: CollectorRegistry
) -> None:
    calls = {"n": 0}

    def broken(request: ExportTraceServiceRequest, sampler: Any, slices: Any, raw: bytes) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyError("a bug")
        return fakes.select_traces(request, sampler, slices, raw)

    receiver = make_receiver(memory, registry)
    receiver._select_traces = broken
    receiver.start()
    try:
        assert receiver.port
        stubs = Stubs(receiver.port)
        error = rpc_error(stubs.traces.Export, trace_request([random_trace_id()]), timeout=10)
        assert error.code() is grpc.StatusCode.INTERNAL
        assert "a bug" not in (error.details() or "")  # nothing of the internals leaks
        assert still_serving(stubs)
        stubs.close()
    finally:
        receiver.shutdown(timeout_s=2)
    assert registry.get_sample_value("evalstream_receiver_failed_spans_total") == 2


# --- health --------------------------------------------------------------------------------------


def health_of(port: int, service: str = "") -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status


def test_health_follows_producer_readiness() -> None:
    memory = MemoryTransport(max_records=1)
    receiver = make_receiver(memory)
    receiver.start()
    try:
        assert receiver.port
        assert health_of(receiver.port) == SERVING
        assert health_of(receiver.port, "opentelemetry.proto.collector.trace.v1.TraceService") == SERVING
        memory.send([Record(Signal.TRACES, b"0" * 32, b"")], timeout_s=1)  # now full
        assert receiver.refresh_health() is False
        assert health_of(receiver.port) == NOT_SERVING
        assert health_of(receiver.port, "opentelemetry.proto.collector.logs.v1.LogsService") == NOT_SERVING
        drain(memory)
        assert receiver.refresh_health() is True
        assert health_of(receiver.port) == SERVING
    finally:
        receiver.shutdown(timeout_s=2)


def test_health_is_not_serving_when_the_producer_is_not_ready_at_start() -> None:
    receiver = make_receiver(FailingProducer(TransportUnavailable("down"), ready=False))
    receiver.start()
    try:
        assert receiver.port
        assert health_of(receiver.port) == NOT_SERVING
    finally:
        receiver.shutdown(timeout_s=2)


# --- lifecycle -----------------------------------------------------------------------------------


def test_shutdown_before_start_and_twice_is_harmless(memory: MemoryTransport) -> None:
    receiver = make_receiver(memory)
    receiver.shutdown(timeout_s=1)
    receiver.start()
    receiver.start()  # idempotent
    receiver.shutdown(timeout_s=1)
    receiver.shutdown(timeout_s=1)


def test_start_stop_start_again_on_the_same_port(memory: MemoryTransport) -> None:
    receiver = make_receiver(memory)
    receiver.start()
    port = receiver.port
    assert port
    receiver.shutdown(timeout_s=2)
    with pytest.raises(grpc.RpcError):
        Stubs(port).traces.Export(trace_request([random_trace_id()]), timeout=2)
    receiver.start()
    try:
        assert receiver.port == port
        stubs = Stubs(port)
        assert still_serving(stubs)
        stubs.close()
    finally:
        receiver.shutdown(timeout_s=2)
    # a new receiver configured with that explicit port can take it over
    second = make_receiver(memory, endpoint=f"127.0.0.1:{port}")
    second.start()
    try:
        assert second.port == port
        assert still_serving(Stubs(port))
    finally:
        second.shutdown(timeout_s=2)


def test_a_taken_port_fails_start_instead_of_sharing_it(memory: MemoryTransport) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        receiver = make_receiver(memory, endpoint=f"127.0.0.1:{port}")
        with pytest.raises(OSError, match=r"receiver\.grpc\.endpoint"):
            receiver.start()
        receiver.shutdown(timeout_s=1)


def test_export_without_grpc_for_logs_with_no_trace_ids(memory: MemoryTransport) -> None:
    receiver = make_receiver(memory)
    request = ExportLogsServiceRequest()
    request.resource_logs.add().scope_logs.add().log_records.add(event_name="no trace", span_id=os.urandom(8))
    assert not receiver.export_logs(request.SerializeToString()).HasField("partial_success")
    assert drain(memory) == []


# --- back-pressure, requests that can never fit, over-deep nesting ----------------------------------


class BlockingProducer:
    """Holds every send() until released, as a slow broker does; counts the sends waiting."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.waiting = 0
        self._lock = threading.Lock()

    def send(self, records: Sequence[Record], *, timeout_s: float) -> None:
        with self._lock:
            self.waiting += 1
        self.release.wait(30)

    def ready(self) -> bool:
        return True

    def shutdown(self, timeout_s: float = 10.0) -> None:
        self.release.set()


def test_overload_is_refused_with_retry_info_in_milliseconds_not_queued() -> None:
    producer = BlockingProducer()
    receiver = make_receiver(producer, max_concurrent_requests=4, workers=2)
    receiver.start()
    assert receiver.port
    stubs = Stubs(receiver.port)
    held = concurrent.futures.ThreadPoolExecutor(4)
    try:
        admitted = [
            held.submit(stubs.traces.Export, trace_request([random_trace_id()]), timeout=30) for _ in range(4)
        ]
        deadline = time.monotonic() + 10
        while producer.waiting < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert producer.waiting == 4, "the four admitted requests should all be waiting for the ack"
        latencies = []
        for _ in range(9):
            started = time.perf_counter()
            error = rpc_error(stubs.traces.Export, trace_request([random_trace_id()]), timeout=10)
            latencies.append(time.perf_counter() - started)
            assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            info = retry_info(error)
            assert info is not None and info.retry_delay.seconds == 1
            assert "4 requests in flight" in (error.details() or "")
        # the median, so one scheduling hiccup on a busy machine does not decide the verdict
        assert statistics.median(latencies) < 0.1, f"refusals took {latencies}"
        producer.release.set()
        assert all(not f.result(timeout=30).HasField("partial_success") for f in admitted)
        assert still_serving(stubs)
    finally:
        producer.release.set()
        held.shutdown(wait=True)
        stubs.close()
        receiver.shutdown(timeout_s=2)


def test_a_request_that_can_never_fit_gets_a_final_partial_success(registry: CollectorRegistry) -> None:
    memory = MemoryTransport(max_records=10)
    receiver = make_receiver(memory, registry)
    request = trace_request([random_trace_id() for _ in range(25)])
    for attempt in range(2):  # the same answer every time: nothing to retry
        response = receiver.export_traces(request.SerializeToString())
        assert response.partial_success.rejected_spans == 15 * 2
        message = response.partial_success.error_message
        assert "25 sampled traces" in message and "at most 10" in message, message
        assert len(drain(memory)) == 10, attempt
    assert registry.get_sample_value("evalstream_receiver_refused_spans_total", {"reason": "too_large"}) == 60


def test_a_request_over_the_queues_bytes_gets_a_final_partial_success(registry: CollectorRegistry) -> None:
    """The in-process queue holds at most `max_bytes`: traces beyond it can never fit (not retryable)."""
    memory = MemoryTransport(max_records=1000, max_bytes=1024 * 1024, max_record_bytes=300 * 1024)
    receiver = make_receiver(memory, registry)
    request = trace_request([random_trace_id() for _ in range(5)])
    for span in request.resource_spans[0].scope_spans[0].spans:
        span.name = "x" * (120 * 1024)  # each trace's record ~246 KB: four fit in 1 MiB, not five
    response = receiver.export_traces(request.SerializeToString())
    message = response.partial_success.error_message
    assert response.partial_success.rejected_spans == 1 * 2, message
    assert "the transport holds at most 1048576" in message and "last 1 were dropped" in message, message
    assert len(drain(memory)) == 4


def nested_kvlist(levels: int) -> AnyValue:
    value = AnyValue(string_value="leaf")
    for _ in range(levels):
        outer = AnyValue()
        outer.kvlist_value.values.add(key="k").value.CopyFrom(value)
        value = outer
    return value


def nested_array(levels: int) -> AnyValue:
    value = AnyValue(string_value="leaf")
    for _ in range(levels):
        outer = AnyValue()
        outer.array_value.values.add().CopyFrom(value)
        value = outer
    return value


@pytest.mark.parametrize("deep", [nested_kvlist(32), nested_array(48)], ids=["kvlist-32", "array-48"])
def test_an_over_deep_attribute_costs_its_span_not_the_batch(
    stubs: Stubs, memory: MemoryTransport, registry: CollectorRegistry, deep: AnyValue
) -> None:
    shallow, deep_trace = random_trace_id(), random_trace_id()
    request = trace_request([shallow, deep_trace])
    spans = request.resource_spans[0].scope_spans[0].spans
    deep_chat = next(s for s in spans if s.trace_id == deep_trace and s.parent_span_id)
    deep_chat.attributes.add(key="tool.arguments").value.CopyFrom(deep)
    with pytest.raises(DecodeError):  # what the whole request did before: INVALID_ARGUMENT for all
        ExportTraceServiceRequest.FromString(request.SerializeToString())
    response = stubs.traces.Export(request, timeout=10)
    assert response.partial_success.rejected_spans == 1
    assert "deeper than protobuf's limit" in response.partial_success.error_message
    records = {
        r.key: codec.decode(r.value, ExportTraceServiceRequest) for r in drain(memory)
    }  # the worker can read them
    assert set(records) == {shallow.hex().encode(), deep_trace.hex().encode()}
    assert (
        sum(
            len(ss.spans) for rs in records[deep_trace.hex().encode()].resource_spans for ss in rs.scope_spans
        )
        == 1
    )
    assert registry.get_sample_value("evalstream_receiver_refused_spans_total", {"reason": "invalid"}) == 1


def test_an_over_deep_log_body_costs_its_record_and_only_deep_ones_give_invalid_argument(
    stubs: Stubs, memory: MemoryTransport
) -> None:
    kept, deep_trace = random_trace_id(), random_trace_id()
    request = logs_request([kept, deep_trace])
    request.resource_logs[0].scope_logs[0].log_records[1].body.CopyFrom(nested_kvlist(33))
    response = stubs.logs.Export(request, timeout=10)
    assert response.partial_success.rejected_log_records == 1
    assert [r.key for r in drain(memory)] == [kept.hex().encode()]
    only_deep = logs_request([deep_trace])
    only_deep.resource_logs[0].scope_logs[0].log_records[0].body.CopyFrom(nested_array(50))
    error = rpc_error(stubs.logs.Export, only_deep, timeout=10)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "deeper than protobuf's limit" in (error.details() or "")


# --- the real selection: label spans of traces with an LLM call, across requests -----------------


def _spans_request(trace_id: bytes, *spans: tuple[bytes, bytes, dict[str, str]]) -> bytes:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for span_id, parent, attributes in spans:
        span = scope.spans.add(trace_id=trace_id, span_id=span_id, parent_span_id=parent, name="s")
        for key, value in attributes.items():
            span.attributes.add(key=key).value.string_value = value
    return request.SerializeToString()


def test_a_late_root_goes_along_only_for_a_trace_whose_llm_call_this_receiver_forwarded(
    memory: MemoryTransport, registry: CollectorRegistry
) -> None:
    config = ReceiverConfig(grpc=GrpcConfig(endpoint="127.0.0.1:0"))
    sampler = TraceIdSampler(SamplingConfig(rate=1.0))
    receiver = Receiver(config, sampler, SlicesConfig(), memory, registry)  # the extractor's selection
    with_llm, without = random_trace_id(), random_trace_id()
    root, child = os.urandom(8), os.urandom(8)
    llm = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai"}
    receiver.export_traces(_spans_request(with_llm, (child, root, llm)))  # the LLM span ends first
    receiver.export_traces(_spans_request(with_llm, (root, b"", {"app.locale": "es-ES"})))
    receiver.export_traces(_spans_request(without, (os.urandom(8), b"", {"app.locale": "es-ES"})))
    records = drain(memory)
    assert [r.key for r in records] == [with_llm.hex().encode()] * 2
    late_root = codec.decode(records[1].value, ExportTraceServiceRequest)
    assert late_root.resource_spans[0].scope_spans[0].spans[0].span_id == root
    assert registry.get_sample_value("evalstream_sampler_kept_spans_total") == 2
    assert registry.get_sample_value("evalstream_receiver_accepted_spans_total") == 3
    # another receiver (another replica) never saw the LLM call: it holds the late root back
    other = Receiver(config, sampler, SlicesConfig(), memory, CollectorRegistry())
    other.export_traces(_spans_request(with_llm, (root, b"", {"app.locale": "es-ES"})))
    assert drain(memory) == []


def _receiver_recording_inspections(
    memory: MemoryTransport, registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> tuple[Receiver, list[object]]:
    """A receiver with the extractor's selection at rate 1, and the list of its attribute reads."""
    from processor.extract import select as select_module

    inspected: list[object] = []
    real = select_module.inspect_attributes
    monkeypatch.setattr(select_module, "inspect_attributes", lambda *a: inspected.append(a) or real(*a))
    config = ReceiverConfig(grpc=GrpcConfig(endpoint="127.0.0.1:0"))
    receiver = Receiver(config, TraceIdSampler(SamplingConfig(rate=1.0)), SlicesConfig(), memory, registry)
    return receiver, inspected


def test_the_receiver_hands_the_request_bytes_to_the_selection(
    memory: MemoryTransport, registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request without an LLM marker key reads no attribute (the selection's bytes test)."""
    receiver, inspected = _receiver_recording_inspections(memory, registry, monkeypatch)
    receiver.export_traces(_spans_request(random_trace_id(), (os.urandom(8), b"", {"app.locale": "es-ES"})))
    assert inspected == [] and drain(memory) == []
    receiver.export_traces(
        _spans_request(
            random_trace_id(), (os.urandom(8), b"", {"gen_ai.system": "openai", "app.locale": "es"})
        )
    )
    assert len(inspected) == 1 and len(drain(memory)) == 1


def test_spans_the_selection_cannot_forward_are_counted_but_not_decoded(
    memory: MemoryTransport, registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The prefilter's key test leaves them out before decoding; traces and spans are still counted."""
    receiver, inspected = _receiver_recording_inspections(memory, registry, monkeypatch)
    quiet, chatty = random_trace_id(), random_trace_id()
    llm = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai"}
    receiver.export_traces(_spans_request(quiet, (os.urandom(8), b"", {"db.system": "postgresql"})))
    receiver.export_traces(
        _spans_request(chatty, (os.urandom(8), b"", {"http.route": "/"}), (os.urandom(8), b"", llm))
    )
    assert len(inspected) == 1  # the LLM span alone was decoded and read
    assert [r.key for r in drain(memory)] == [chatty.hex().encode()]
    assert registry.get_sample_value("evalstream_receiver_received_traces_total") == 2
    assert registry.get_sample_value("evalstream_sampler_kept_traces_total") == 2
    assert registry.get_sample_value("evalstream_receiver_received_spans_total") == 3
    assert registry.get_sample_value("evalstream_receiver_accepted_spans_total") == 3
