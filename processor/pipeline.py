"""Wire the parts in flow order: receiver -> sampler -> transport -> worker -> scorers -> metrics.

Parts start back to front (metrics, worker, transport before the receiver), so nothing accepts data
before its downstream exists, and stop in flow order: the receiver stops taking requests and lets the
running ones reach the transport, then the worker drains what the transport holds, then the
transports close. While running, a part whose thread died makes the process exit 1 (liveness fails
first), so the orchestrator restarts it.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import CollectorRegistry

from processor.config import Config
from processor.endpoint import join_host_port, parse_host_port
from processor.errors import ConfigError, EvalstreamError, TransportUnavailable
from processor.health import Health, PartHealth
from processor.metrics import MetricsServer, WorkerMetrics
from processor.metrics.summary import FlowSummary, sampling_hint
from processor.receiver import cpu
from processor.receiver.http import HttpReceiver
from processor.receiver.service import Receiver
from processor.sampler.trace_id import TraceIdSampler
from processor.scorers import build_scorers
from processor.transport import Consumer, Producer, Signal
from processor.transport.config import KafkaConfig
from processor.transport.kafka import KafkaConsumerTransport, KafkaProducerTransport, create_topics
from processor.transport.memory import MemoryTransport
from processor.transport.topics import TopicCheck, TopicCheckedProducer
from processor.worker.loop import Worker
from processor.worker.stamp import ScoreStamper

log = logging.getLogger("evalstream")


class Part(Protocol):
    """What the pipeline starts and stops. A part picks its own shutdown timeout (the worker's is
    `worker.drain_timeout_s`, a server's its grace period)."""

    def start(self) -> None: ...
    def shutdown(self) -> None: ...


class Closes(Protocol):
    def shutdown(self) -> None: ...


class _ClosedOnly:
    """A resource the pipeline only closes: started by its user (the Kafka consumer connects on the
    worker's first poll) or never (the in-process queue, the score-event channel)."""

    def __init__(self, resource: Closes) -> None:
        self._resource = resource

    def start(self) -> None:
        pass

    def shutdown(self) -> None:
        self._resource.shutdown()


@dataclass
class Pipeline:
    """The running parts, in start order (back to front); `stop()` shuts them down in reverse."""

    config: Config
    role: str
    registry: CollectorRegistry
    health: Health
    parts: list[tuple[str, Part]] = field(default_factory=list)
    receiver: Receiver | None = None
    http_receiver: HttpReceiver | None = None
    sampler: TraceIdSampler | None = None
    worker: Worker | None = None
    metrics_server: MetricsServer | None = None
    _stopped: bool = False

    def start(self) -> None:
        for _, part in self.parts:
            part.start()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for name, part in reversed(self.parts):
            try:
                part.shutdown()
            except Exception:
                log.exception("stopping %s failed", name)


def build(config: Config, *, role: str = "all", registry: CollectorRegistry | None = None) -> Pipeline:
    """Build (not start) the parts a role needs. Raises ConfigError for problems found while building.

    The parts are listed in start order, back to front: metrics first, the receiver last. `stop()`
    walks the list backwards, which is flow order: the receiver stops taking requests and drains
    into the transport, the worker drains what the transport holds, then the transports close.
    """
    kafka = config.kafka
    if kafka.embedded and role != "all":
        raise ConfigError(
            [
                f"kafka.bootstrap_servers: the '{role}' role alone needs Kafka; "
                "leave it empty only to run both roles in one process"
            ]
        )
    registry = registry if registry is not None else CollectorRegistry()
    pipeline = Pipeline(config, role, registry, Health())
    wants_receiver = role in ("all", "receiver")
    wants_worker = role in ("all", "worker")

    memory: MemoryTransport | None = None
    kafka_producer: KafkaProducerTransport | None = None
    topic_check: TopicCheck | None = None
    producer: Producer
    if kafka.embedded:
        producer = memory = MemoryTransport(
            max_records=kafka.memory_queue_size, max_bytes=kafka.memory_queue_bytes
        )
        pipeline.health.add("queue", lambda: _queue_health(memory))
    else:
        check = topic_check = TopicCheck(kafka, _signals_used(config, role))
        pipeline.health.add(
            "kafka-topics", lambda: PartHealth(ready=check.ready(), reason=check.problem() or "")
        )
        producer = kafka_producer = KafkaProducerTransport(kafka, registry=registry)  # one per process
        pipeline.health.add("producer", kafka_producer.health)

    kafka_consumer: KafkaConsumerTransport | None = None
    stamper: ScoreStamper | None = None
    if wants_worker:
        consumer: Consumer
        if memory is not None:
            consumer = memory
        else:
            consumer = kafka_consumer = KafkaConsumerTransport(
                kafka,
                group_id=config.worker.group_id,
                max_poll_records=config.worker.max_poll_records,
                session_timeout_ms=int(config.worker.session_timeout_s * 1000),
                heartbeat_interval_ms=max(1000, int(config.worker.session_timeout_s * 1000) // 3),
            )
        if config.worker.stamp_endpoint:
            stamper = ScoreStamper(config.worker.stamp_endpoint, insecure=config.worker.stamp_insecure)
        worker = pipeline.worker = Worker(
            config.worker,
            slices=config.slices,
            scorers=build_scorers(config.scorers.enabled),
            expensive={spec.name for spec in config.scorers.enabled if spec.expensive},
            consumer=consumer,
            metrics=WorkerMetrics.configured(
                registry, config.metrics, config.slices, tier_label=config.worker.tiers.slice_label
            ),
            producer=producer,
            stamper=stamper,
            redactor=config.redaction.redactor(),
        )
        if kafka_consumer is not None:
            kafka_consumer.on_revoke = worker.revoked
            kafka_consumer.on_assign = worker.assigned
        pipeline.health.add("worker", worker.health)

    if wants_receiver:
        receiver_producer: Producer = producer
        if topic_check is not None:  # a missing topic: UNAVAILABLE at once, with the fix
            receiver_producer = TopicCheckedProducer(producer, topic_check, (Signal.TRACES, Signal.LOGS))
        sampler = pipeline.sampler = TraceIdSampler(config.sampling)
        receiver = pipeline.receiver = Receiver(
            config.receiver,
            sampler,
            config.slices,
            receiver_producer,
            registry,
            redactor=config.redaction.redactor() if config.redaction.in_receiver else None,
        )
        if config.receiver.http.endpoint:
            pipeline.http_receiver = HttpReceiver(receiver, config.receiver.http)

    if config.metrics.endpoint:
        pipeline.metrics_server = MetricsServer(
            *parse_host_port(config.metrics.endpoint),
            registry,
            health=pipeline.health,
            tls=config.metrics.tls,
        )
    summary = None
    if config.metrics.summary_interval_s > 0:
        summary = FlowSummary(
            registry,
            interval_s=config.metrics.summary_interval_s,
            sampling_rate=config.sampling.rate if wants_receiver else None,
        )

    affinity = None
    if wants_receiver:
        placement = config.receiver.cpu_affinity
        if role != "receiver" and placement == cpu.AUTO:
            placement = cpu.NONE  # the worker's scoring threads in this process use every core
        affinity = cpu.CpuAffinity(placement, registry=registry)
    start_order: list[tuple[str, Part | None]] = [
        ("cpu-affinity", affinity),  # first: the threads the other parts start inherit its placement
        ("metrics", pipeline.metrics_server),
        ("flow-summary", summary),  # stops late: its final line counts the drain
        ("kafka-topics", _CreateTopics(kafka) if not kafka.embedded and kafka.create_topics else None),
        ("kafka-topic-check", topic_check),
        ("producer", kafka_producer),
        ("memory-queue", _ClosedOnly(memory) if memory is not None else None),
        ("consumer", _ClosedOnly(kafka_consumer) if kafka_consumer is not None else None),
        ("score-stamper", _ClosedOnly(stamper) if stamper is not None else None),
        ("worker", pipeline.worker),
        ("receiver", pipeline.receiver),
        ("receiver-http", pipeline.http_receiver),
    ]
    pipeline.parts = [(name, part) for name, part in start_order if part is not None]
    return pipeline


def _signals_used(config: Config, role: str) -> list[Signal]:
    """The topics a role reads or writes (the worker's results topic only when it publishes)."""
    signals = [Signal.TRACES, Signal.LOGS]
    if role in ("all", "worker"):
        signals.append(Signal.DEAD_LETTER)
        if config.worker.publish_results:
            signals.append(Signal.RESULTS)
    return signals


def _queue_health(memory: MemoryTransport) -> PartHealth:
    if memory.ready():
        return PartHealth()
    return PartHealth(ready=False, reason="the in-process queue is full or shut down")


class _CreateTopics:
    """Creates the missing topics once, before any transport starts (`kafka.create_topics`)."""

    def __init__(self, config: KafkaConfig) -> None:
        self._config = config

    def start(self) -> None:
        try:
            created = create_topics(self._config)
        except Exception as exc:  # librdkafka's KafkaException and more; start-up must say what failed
            raise TransportUnavailable(
                f"kafka.create_topics: could not create topics at {self._config.bootstrap_servers}: {exc}"
            ) from None
        if created:
            log.info("created Kafka topics: %s", ", ".join(created))

    def shutdown(self) -> None:
        pass


def run(config: Config, *, role: str = "all") -> int:
    """Build, start, log where to point things, block until SIGINT/SIGTERM, stop. Returns an exit code."""
    try:
        pipeline = build(config, role=role)
    except ConfigError as exc:
        print(f"evalstream: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        # Only wake the main thread: stop() then shuts down in flow order (the receiver first).
        log.info("received %s, draining", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        pipeline.start()
    except (OSError, EvalstreamError) as exc:
        log.error("could not start: %s", exc)
        pipeline.stop()
        return 1
    _log_started(pipeline)
    code = supervise(pipeline, stop)
    pipeline.stop()
    log.info("evalstream stopped" if code == 0 else "evalstream stopped after a part died")
    return code


def supervise(pipeline: Pipeline, stop: threading.Event, *, interval_s: float = 1.0) -> int:
    """Block until `stop` is set (0) or a part's thread died (1: the orchestrator restarts us)."""
    while not stop.wait(interval_s):
        live, dead = pipeline.health.live()
        if not live:
            log.error("a part stopped working, exiting 1 to be restarted: %s", "; ".join(dead))
            return 1
    return 0


def _log_started(pipeline: Pipeline) -> None:
    config = pipeline.config
    transport = (
        "in-process queue (embedded)" if config.kafka.embedded else f"Kafka {config.kafka.bootstrap_servers}"
    )
    lines = [f"evalstream started: role={pipeline.role}, transport={transport}"]
    if pipeline.receiver is not None and pipeline.sampler is not None:
        lines.append(
            f"  point a Collector's otlp_grpc exporter (traces and logs) at {pipeline.receiver.endpoint}; "
            f"sampler: {pipeline.sampler.describe()}"
        )
        if pipeline.http_receiver is not None:
            lines.append(f"  or its otlp_http exporter at {pipeline.http_receiver.endpoint}")
        lines.append(f"  {sampling_hint(config.sampling.rate)}")
    if pipeline.worker is not None:
        lines.append(f"  scorers: {', '.join(s.name for s in pipeline.worker.scorers)}")
    if pipeline.metrics_server is not None:
        host, _ = parse_host_port(config.metrics.endpoint)
        scheme = "https" if config.metrics.tls.enabled else "http"
        lines.append(f"  metrics: {scheme}://{join_host_port(host, pipeline.metrics_server.port)}/metrics")
    if config.metrics.summary_interval_s > 0:
        lines.append(
            f"  a summary of traces received, sampled and scored follows every "
            f"{config.metrics.summary_interval_s:g}s (metrics.summary_interval_s)"
        )
    for line in lines:
        log.info(line)
