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
from typing import Any, Protocol

from prometheus_client import CollectorRegistry

from processor.config import Config
from processor.endpoint import join_host_port, parse_host_port
from processor.errors import ConfigError, EvalstreamError, TransportUnavailable
from processor.health import Health, PartHealth
from processor.metrics.summary import FlowSummary, sampling_hint
from processor.transport import Signal
from processor.transport.config import KafkaConfig

log = logging.getLogger("evalstream")


class Part(Protocol):
    def start(self) -> None: ...
    def shutdown(self, timeout_s: float) -> None: ...


@dataclass
class Pipeline:
    """The running parts, in start order. `stop()` shuts them down in reverse."""

    config: Config
    role: str
    registry: CollectorRegistry
    parts: list[tuple[str, Part]] = field(default_factory=list)
    health: Health = field(default_factory=Health)
    receiver: Any = None
    http_receiver: Any = None
    sampler: Any = None
    worker: Any = None
    metrics_server: Any = None
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
                part.shutdown(self.config.worker.drain_timeout_s if name == "worker" else 10.0)
            except Exception:
                log.exception("stopping %s failed", name)


def build(config: Config, *, role: str = "all", registry: CollectorRegistry | None = None) -> Pipeline:
    """Build (not start) the parts a role needs. Raises ConfigError for problems found while building."""
    from processor.metrics import MetricsServer, WorkerMetrics
    from processor.scorers import build_scorers

    registry = registry if registry is not None else CollectorRegistry()
    pipeline = Pipeline(config, role, registry)
    kafka = config.kafka
    wants_receiver = role in ("all", "receiver")
    wants_worker = role in ("all", "worker")
    if kafka.embedded and role != "all":
        raise ConfigError(
            [
                f"kafka.bootstrap_servers: the '{role}' role alone needs Kafka; "
                "leave it empty only to run both roles in one process"
            ]
        )

    memory = None
    if kafka.embedded:
        from processor.transport.memory import MemoryTransport

        memory = MemoryTransport(max_records=kafka.memory_queue_size)

    topic_check = None
    if not kafka.embedded:
        from processor.transport.topics import TopicCheck

        check = topic_check = TopicCheck(kafka, _signals_used(config, role))
        pipeline.health.add(
            "kafka-topics", lambda: PartHealth(ready=check.ready(), reason=check.problem() or "")
        )

    if wants_worker:
        from processor.worker.loop import Worker
        from processor.worker.stamp import ScoreStamper

        scorers = build_scorers(config.scorers.enabled)
        metrics = WorkerMetrics(
            registry,
            prefix=config.metrics.prefix,
            label_names=config.slices.names,
            max_label_values=config.metrics.max_label_values,
            max_series=config.metrics.max_series,
            max_label_length=config.metrics.max_label_length,
        )
        if memory is not None:
            consumer: Any = memory
            producer: Any = memory
        else:
            from processor.transport.kafka import KafkaConsumerTransport, KafkaProducerTransport

            consumer = KafkaConsumerTransport(
                kafka,
                group_id=config.worker.group_id,
                max_poll_records=config.worker.max_poll_records,
                session_timeout_ms=int(config.worker.session_timeout_s * 1000),
                heartbeat_interval_ms=max(1000, int(config.worker.session_timeout_s * 1000) // 3),
            )
            producer = KafkaProducerTransport(kafka, registry=registry)
            pipeline.parts.append(("worker-producer", _Transport(producer)))
            pipeline.health.add("producer", producer.health)
        stamper = (
            ScoreStamper(config.worker.stamp_endpoint, insecure=config.worker.stamp_insecure)
            if config.worker.stamp_endpoint
            else None
        )
        worker = Worker(
            config.worker,
            slices=config.slices,
            scorers=scorers,
            consumer=consumer,
            metrics=metrics,
            producer=producer,
            stamper=stamper,
            redactor=config.redaction.redactor(),
        )
        if memory is None:
            consumer.on_revoke = worker.revoked
            consumer.on_assign = worker.assigned
            # The consumer connects lazily on the worker's first poll, inside the worker thread.
            pipeline.parts.append(("worker-consumer", _Transport(consumer, start=False)))
        pipeline.worker = worker
        pipeline.parts.append(("worker", worker))
        pipeline.health.add("worker", worker.health)

    if wants_receiver:
        from processor.receiver.service import Receiver
        from processor.sampler.trace_id import TraceIdSampler

        if memory is not None:
            receiver_producer: Any = memory
        else:
            from processor.transport.kafka import KafkaProducerTransport

            receiver_producer = producer if wants_worker else KafkaProducerTransport(kafka, registry=registry)
            if not wants_worker:
                pipeline.parts.append(("receiver-producer", _Transport(receiver_producer)))
                pipeline.health.add("producer", receiver_producer.health)
            if topic_check is not None:  # a missing topic: UNAVAILABLE at once, with the fix
                from processor.transport.topics import TopicCheckedProducer

                receiver_producer = TopicCheckedProducer(
                    receiver_producer, topic_check, (Signal.TRACES, Signal.LOGS)
                )
        sampler = pipeline.sampler = TraceIdSampler(config.sampling)
        receiver = Receiver(
            config.receiver,
            sampler,
            config.slices,
            receiver_producer,
            registry,
            redactor=config.redaction.redactor() if config.redaction.in_receiver else None,
        )
        if memory is not None:
            pipeline.health.add("queue", lambda: _queue_health(memory))
        pipeline.receiver = receiver
        pipeline.parts.append(("receiver", receiver))
        if config.receiver.http.endpoint:
            from processor.receiver.http import HttpReceiver

            pipeline.http_receiver = HttpReceiver(receiver, config.receiver.http)
            pipeline.parts.append(("receiver-http", pipeline.http_receiver))

    if topic_check is not None:
        pipeline.parts.insert(0, ("kafka-topic-check", topic_check))
    if not kafka.embedded and kafka.create_topics:
        pipeline.parts.insert(0, ("kafka-topics", _CreateTopics(kafka)))
    if config.metrics.summary_interval_s > 0:
        summary = FlowSummary(
            registry,
            interval_s=config.metrics.summary_interval_s,
            sampling_rate=config.sampling.rate if wants_receiver else None,
        )
        pipeline.parts.insert(0, ("flow-summary", summary))  # stops last: its final line counts the drain
    if config.metrics.endpoint:
        server = MetricsServer(
            *parse_host_port(config.metrics.endpoint),
            registry,
            health=pipeline.health,
            tls=config.metrics.tls,
        )
        pipeline.metrics_server = server
        pipeline.parts.insert(0, ("metrics", server))
    return pipeline


def _signals_used(config: Config, role: str) -> list[Signal]:
    """The topics a role reads or writes (the worker's results topic only when it publishes)."""
    signals = [Signal.TRACES, Signal.LOGS]
    if role in ("all", "worker"):
        signals.append(Signal.DEAD_LETTER)
        if config.worker.publish_results:
            signals.append(Signal.RESULTS)
    return signals


def _queue_health(memory: Any) -> PartHealth:
    if memory.ready():
        return PartHealth()
    return PartHealth(ready=False, reason="the in-process queue is full or shut down")


class _Transport:
    """A Kafka transport as a pipeline part (a consumer connects lazily, so it is only stopped)."""

    def __init__(self, transport: Any, *, start: bool = True) -> None:
        self._transport = transport
        self._start = start

    def start(self) -> None:
        if self._start:
            self._transport.start()

    def shutdown(self, timeout_s: float) -> None:
        self._transport.shutdown(timeout_s)


class _CreateTopics:
    """Creates the missing topics once, before any transport starts (`kafka.create_topics`)."""

    def __init__(self, config: KafkaConfig) -> None:
        self._config = config

    def start(self) -> None:
        from processor.transport.kafka import create_topics

        try:
            created = create_topics(self._config)
        except Exception as exc:  # kafka-python raises its own tree; start-up must say what failed
            raise TransportUnavailable(
                f"kafka.create_topics: could not create topics at {self._config.bootstrap_servers}: {exc}"
            ) from None
        if created:
            log.info("created Kafka topics: %s", ", ".join(created))

    def shutdown(self, timeout_s: float) -> None:
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
    if pipeline.receiver is not None:
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
