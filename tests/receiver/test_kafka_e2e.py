"""The receiver end to end: the real OTel SDK exporters -> receiver -> real Kafka broker -> topics."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import grpc
import pytest
from kafka import KafkaConsumer
from kafka.structs import TopicPartition
from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from prometheus_client import CollectorRegistry

from processor.extract.config import SlicesConfig
from processor.receiver.config import GrpcConfig, ReceiverConfig
from processor.receiver.service import Receiver
from processor.sampler.config import SamplingConfig
from processor.sampler.trace_id import TraceIdSampler
from processor.transport import Consumed, Signal, codec, trace_key
from processor.transport.config import KafkaConfig, TopicsConfig
from processor.transport.kafka import KafkaConsumerTransport, KafkaProducerTransport, create_topics
from tests.kafka_broker import start_broker, stop_broker
from tests.receiver.helpers import Stubs, random_trace_id, rpc_error, trace_request

RESOURCE = Resource.create(
    {"service.name": "support-bot", "app.tenant": "acme", "deployment.environment.name": "prod"}
)


def kafka_config(bootstrap: str, prefix: str, *, partitions: int = 3) -> KafkaConfig:
    topics = TopicsConfig(
        traces=f"{prefix}_spans",
        logs=f"{prefix}_logs",
        results=f"{prefix}_results",
        dead_letter=f"{prefix}_dlq",
    )
    return KafkaConfig(bootstrap_servers=bootstrap, topics=topics, create_topics=True, partitions=partitions)


class Pipeline:
    """A started producer + receiver pair; `consume()` reads the topics back from the beginning."""

    def __init__(self, kafka: KafkaConfig, *, rate: float, send_timeout_s: float = 10.0) -> None:
        self.kafka = kafka
        self.registry = CollectorRegistry()
        self.producer = KafkaProducerTransport(kafka, registry=self.registry, request_timeout_ms=5000)
        self.sampler = TraceIdSampler(SamplingConfig(rate=rate))
        self.receiver = Receiver(
            ReceiverConfig(grpc=GrpcConfig(endpoint="127.0.0.1:0"), send_timeout_s=send_timeout_s),
            self.sampler,
            SlicesConfig(),
            self.producer,
            self.registry,
        )

    def start(self) -> Pipeline:
        create_topics(self.kafka)  # what the pipeline's start-up does with kafka.create_topics
        self.producer.start()
        assert self.producer.wait_ready(60), "the producer did not connect"
        self.receiver.start()
        return self

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.receiver.port}"

    def shutdown(self) -> None:
        self.receiver.shutdown(timeout_s=5)
        self.producer.shutdown(timeout_s=5)

    def end_offsets(self, signal: Signal) -> int:
        topic = str(getattr(self.kafka.topics, signal.value))
        consumer = KafkaConsumer(bootstrap_servers=self.kafka.servers)
        try:
            partitions = [TopicPartition(topic, p) for p in range(self.kafka.partitions)]
            return sum(consumer.end_offsets(partitions).values())
        finally:
            consumer.close()

    def consume(self, signal: Signal) -> list[Consumed]:
        """Everything on a signal's topic (its end offsets are known, so no waiting on silence)."""
        expected = self.end_offsets(signal)
        consumer = KafkaConsumerTransport(
            self.kafka, group_id=f"check-{os.urandom(4).hex()}", signals=(signal,)
        )
        got: list[Consumed] = []
        try:
            for _ in range(120):
                if len(got) >= expected:
                    break
                got += consumer.poll(timeout_s=1.0, max_records=5000)
        finally:
            consumer.shutdown(timeout_s=5)
        assert len(got) == expected
        return got


@pytest.fixture
def pipeline(kafka_bootstrap: str, topic_prefix: str) -> Iterator[Pipeline]:
    p = Pipeline(kafka_config(kafka_bootstrap, topic_prefix), rate=1.0).start()
    yield p
    p.shutdown()


def make_llm_trace(tracer: trace_api.Tracer, logger: Any | None = None) -> bytes:
    """handle_question (app.locale, app.prompt.version) -> chat span (gen_ai.*), plus an EVENT_ONLY log."""
    with tracer.start_as_current_span("handle_question") as root:
        root.set_attribute("app.locale", "en-US")
        root.set_attribute("app.prompt.version", "support-v7")
        with tracer.start_as_current_span("chat gpt-4o-mini", kind=trace_api.SpanKind.CLIENT) as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.provider.name", "openai")
            chat.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            chat.set_attribute("gen_ai.response.model", "gpt-4o-mini-2024-07-18")
            chat.set_attribute("gen_ai.usage.input_tokens", 25)
            chat.set_attribute("gen_ai.usage.output_tokens", 12)
            if logger is not None:
                logger.emit(
                    event_name="gen_ai.client.inference.operation.details",
                    attributes={
                        "gen_ai.operation.name": "chat",
                        "gen_ai.request.model": "gpt-4o-mini",
                        "gen_ai.input.messages": [
                            {
                                "role": "user",
                                "parts": [{"type": "text", "content": "What is the refund window?"}],
                            }
                        ],
                        "gen_ai.output.messages": [
                            {
                                "role": "assistant",
                                "parts": [{"type": "text", "content": "30 days."}],
                                "finish_reason": "stop",
                            }
                        ],
                    },
                )
        return root.get_span_context().trace_id.to_bytes(16, "big")


class RecordingExporter(SpanExporter):
    """The real OTLP exporter, with every export() result kept for the test to read."""

    def __init__(self, inner: OTLPSpanExporter) -> None:
        self.inner = inner
        self.results: list[SpanExportResult] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        self.results.append(result)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()


def span_ids(request: Any) -> list[tuple[bytes, str]]:
    return [(s.trace_id, s.name) for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]


@pytest.mark.kafka
def test_real_sdk_spans_and_event_logs_land_on_the_topics(pipeline: Pipeline) -> None:
    span_exporter = RecordingExporter(
        OTLPSpanExporter(
            endpoint=pipeline.endpoint, insecure=True, compression=grpc.Compression.Gzip, timeout=30
        )
    )
    tracer_provider = TracerProvider(resource=RESOURCE)
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    logger_provider = LoggerProvider(resource=RESOURCE)
    log_exporter = OTLPLogExporter(
        endpoint=pipeline.endpoint, insecure=True, compression=grpc.Compression.Gzip, timeout=30
    )
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    tracer = tracer_provider.get_tracer("support-bot")
    logger = logger_provider.get_logger("opentelemetry.util.genai.handler")
    trace_ids = [make_llm_trace(tracer, logger) for _ in range(3)]
    tracer_provider.shutdown()
    logger_provider.shutdown()
    assert span_exporter.results == [SpanExportResult.SUCCESS] * 6  # SimpleSpanProcessor: one export per span

    spans = pipeline.consume(Signal.TRACES)
    logs = pipeline.consume(Signal.LOGS)
    keys = {trace_key(t) for t in trace_ids}
    assert {c.record.key for c in spans} == keys
    assert {c.record.key for c in logs} == keys
    for c in spans:
        assert len(c.record.key) == 32 and c.record.key == c.record.key.lower()
        request = codec.decode(c.record.value, ExportTraceServiceRequest)
        assert {tid for tid, _ in span_ids(request)} == {codec.decode_key(c.record.key)}
        resource = {kv.key: kv.value.string_value for kv in request.resource_spans[0].resource.attributes}
        assert resource["app.tenant"] == "acme" and resource["service.name"] == "support-bot"
    by_trace: dict[bytes, set[str]] = {}
    for c in spans:
        by_trace.setdefault(c.record.key, set()).update(
            n for _, n in span_ids(codec.decode(c.record.value, ExportTraceServiceRequest))
        )
    assert all(names == {"handle_question", "chat gpt-4o-mini"} for names in by_trace.values())
    # the two exports of a trace (chat span, then root span) and its log record share one partition number
    partitions: dict[bytes, set[int]] = {}
    for c in spans + logs:
        partitions.setdefault(c.record.key, set()).add(c.partition)
    assert all(len(p) == 1 for p in partitions.values()), partitions
    for c in logs:
        record = (
            codec.decode(c.record.value, ExportLogsServiceRequest)
            .resource_logs[0]
            .scope_logs[0]
            .log_records[0]
        )
        assert record.event_name == "gen_ai.client.inference.operation.details"
        assert record.trace_id == codec.decode_key(c.record.key)
    assert pipeline.registry.get_sample_value("evalstream_receiver_llm_calls_total") == 3
    assert pipeline.registry.get_sample_value("evalstream_receiver_accepted_log_records_total") == 3


@pytest.mark.kafka
def test_fixture_files_sent_as_is(pipeline: Pipeline, otlp_fixtures: pathlib.Path) -> None:
    stubs = Stubs(int(pipeline.receiver.port or 0))
    expected_traces: set[bytes] = set()
    expected_logs: set[bytes] = set()
    try:
        for path in sorted(otlp_fixtures.glob("*.pb")):
            body = path.read_bytes()
            if path.name.endswith(".traces.pb"):
                response = stubs.raw_traces(body, timeout=30)
                expected_traces |= {
                    trace_key(t) for t, _ in span_ids(codec.decode(body, ExportTraceServiceRequest))
                }
            else:
                response = stubs.raw_logs(body, timeout=30)
                logs = codec.decode(body, ExportLogsServiceRequest)
                expected_logs |= {
                    trace_key(r.trace_id)
                    for rl in logs.resource_logs
                    for sl in rl.scope_logs
                    for r in sl.log_records
                }
            assert response == b"", f"{path.name}: partial success or error in {response!r}"
    finally:
        stubs.close()
    assert {c.record.key for c in pipeline.consume(Signal.TRACES)} == expected_traces
    assert {c.record.key for c in pipeline.consume(Signal.LOGS)} == expected_logs


def send_synthetic(pipeline: Pipeline, trace_ids: Sequence[bytes], *, per_request: int = 1000) -> None:
    stubs = Stubs(int(pipeline.receiver.port or 0))
    try:
        for start in range(0, len(trace_ids), per_request):
            response = stubs.traces.Export(trace_request(trace_ids[start : start + per_request]), timeout=60)
            assert not response.HasField("partial_success")
    finally:
        stubs.close()


@pytest.mark.kafka
@pytest.mark.parametrize(("rate", "traces"), [(0.0, 2000), (1.0, 2000), (0.05, 20000)])
def test_sampling_rate_decides_which_traces_reach_kafka(
    kafka_bootstrap: str, topic_prefix: str, rate: float, traces: int
) -> None:
    pipeline = Pipeline(kafka_config(kafka_bootstrap, topic_prefix), rate=rate).start()
    try:
        trace_ids = [random_trace_id() for _ in range(traces)]
        send_synthetic(pipeline, trace_ids)
        got = {c.record.key for c in pipeline.consume(Signal.TRACES)}
    finally:
        pipeline.shutdown()
    assert got == {trace_key(t) for t in trace_ids if pipeline.sampler.keep(t)}
    if rate == 0.0:
        assert got == set()
    elif rate == 1.0:
        assert len(got) == traces
    else:
        # binomial(20000, 0.05): mean 1000, sd ~30.8; +-5 sd is a false alarm once in ~3.5 million runs
        assert 846 <= len(got) <= 1154, len(got)
    assert pipeline.registry.get_sample_value("evalstream_receiver_accepted_spans_total") == 2 * traces
    assert pipeline.registry.get_sample_value("evalstream_sampler_kept_spans_total") == 2 * len(got)


# --- the broker goes down and comes back ---------------------------------------------------------


class OwnBroker:
    """A broker of our own that can be killed and brought back on the same port with its data."""

    def __init__(self) -> None:
        self.run_dir = pathlib.Path(tempfile.mkdtemp(prefix="evalstream-kafka-own-"))
        self.address = start_broker(self.run_dir)
        self.port = self.address.rpartition(":")[2]
        self.pid_file = self.run_dir / self.port / "pid"
        pid = int(self.pid_file.read_text())
        self.cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        self.process: subprocess.Popen[bytes] | None = None

    def kill(self) -> None:
        pid = int(self.pid_file.read_text())
        os.kill(pid, signal.SIGKILL)
        if self.process is not None and self.process.pid == pid:
            self.process.wait()
        else:
            while pathlib.Path(f"/proc/{pid}").exists() and b"Z" not in self._state(pid):
                threading.Event().wait(0.1)

    @staticmethod
    def _state(pid: int) -> bytes:
        try:
            return pathlib.Path(f"/proc/{pid}/stat").read_bytes().split(b") ")[1][:1]
        except (OSError, IndexError):
            return b"Z"

    def restart(self) -> None:
        log = (self.run_dir / self.port / "broker.log").open("ab")
        self.process = subprocess.Popen(self.cmdline, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        self.pid_file.write_text(str(self.process.pid))

    def stop(self) -> None:
        if self.process is not None:  # our child: reap it here, or kafka.sh waits on a zombie forever
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        stop_broker(self.run_dir, self.port)
        shutil.rmtree(self.run_dir, ignore_errors=True)


@pytest.mark.kafka
def test_broker_down_means_unavailable_and_the_sdk_retry_succeeds_once_it_is_back(topic_prefix: str) -> None:
    broker = OwnBroker()
    pipeline = Pipeline(
        kafka_config(broker.address, topic_prefix, partitions=1), rate=1.0, send_timeout_s=2.0
    )
    thread: threading.Thread | None = None
    try:
        pipeline.start()
        stubs = Stubs(int(pipeline.receiver.port or 0))
        stubs.traces.Export(trace_request([random_trace_id()]), timeout=30)  # the path works
        assert pipeline.receiver.refresh_health()

        broker.kill()
        error = rpc_error(stubs.traces.Export, trace_request([random_trace_id()]), timeout=30)
        assert error.code() is grpc.StatusCode.UNAVAILABLE, error
        assert not pipeline.receiver.refresh_health()
        stubs.close()
        refused = pipeline.registry.get_sample_value(
            "evalstream_receiver_refused_spans_total", {"reason": "unavailable"}
        )

        exporter = RecordingExporter(
            OTLPSpanExporter(
                endpoint=pipeline.endpoint, insecure=True, compression=grpc.Compression.Gzip, timeout=120
            )
        )
        provider = TracerProvider(resource=RESOURCE)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("support-bot")
        trace_ids: list[bytes] = []
        thread = threading.Thread(target=lambda: trace_ids.append(make_llm_trace(tracer)), daemon=True)
        thread.start()
        # wait until the SDK's first attempt was refused (event-driven: the counter moves)
        for _ in range(300):
            now = pipeline.registry.get_sample_value(
                "evalstream_receiver_refused_spans_total", {"reason": "unavailable"}
            )
            if now and refused is not None and now > refused:
                break
            threading.Event().wait(0.1)
        else:
            pytest.fail("the SDK exporter never reached the receiver while the broker was down")
        broker.restart()
        thread.join(timeout=300)
        assert not thread.is_alive(), "the SDK export never finished"
        assert exporter.results == [SpanExportResult.SUCCESS, SpanExportResult.SUCCESS]
        provider.shutdown()
        assert trace_key(trace_ids[0]) in {c.record.key for c in pipeline.consume(Signal.TRACES)}
        assert pipeline.receiver.refresh_health()
    finally:
        pipeline.shutdown()
        broker.stop()
