"""Kafka behind the Producer / Consumer seam on one client library, confluent-kafka (librdkafka): the
producer, the worker's consumer, the admin client (topic creation, the topic check) and harvest's
topic reader, every delivery setting explicit. librdkafka batches, compresses (and decompresses
gzip, snappy, lz4 and zstd), and talks to the brokers in its own C threads.

Producer: acks=all, idempotent, `send()` blocks until every record is acknowledged, so the receiver
replies OK only for durable data. Python only hands each record over and counts the delivery reports.
An unreachable broker (also at start-up) never raises out of the constructor or `start()`: a
background thread keeps connecting, `ready()` is False and `send()` raises `TransportUnavailable` until
the broker answers. A producer whose sends keep failing for `rebuild_after_s`, or that reports a
fatal error, is closed and built anew by the same thread.

Consumer: auto-commit off, reset to earliest, `commit(offsets)` commits exactly the offsets it is given
(at least once); rebalances reach the worker through `on_assign` / `on_revoke`, on the polling thread.
Dead letters are not sent by the consumer: the worker builds them with `codec.dead_letter_record()`
and sends them through a `KafkaProducerTransport` (Signal.DEAD_LETTER).

librdkafka's log lines, and the errors the consumer reads (a subscribed topic missing...), go to the
`processor.transport.librdkafka` logger.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import (
    Consumer,
    IsolationLevel,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]
from confluent_kafka.cimpl import NewTopic
from prometheus_client import CollectorRegistry

from processor.errors import ShuttingDown, TooLarge, TransportFull, TransportUnavailable
from processor.health import SERVING, PartHealth, thread_health
from processor.metrics.instruments import TransportMetrics
from processor.transport import Consumed, Record, Signal
from processor.transport.config import KafkaConfig

log = logging.getLogger(__name__)


class _RepeatLimitedLog:
    """The logger every client of ours gives librdkafka. While a broker is away librdkafka says the
    same line (a failed connect) tens of times a second; this passes one line per distinct text per
    `interval_s` on to `logger`, the next one counting those held back."""

    def __init__(self, logger: logging.Logger, interval_s: float) -> None:
        self.logger = logger
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._last: dict[str, tuple[float, int]] = {}  # text -> (when it was last passed on, held since)

    def log(self, level: int, msg: str, *args: object) -> None:
        if not self.logger.isEnabledFor(level):
            return
        text = msg % args if args else msg
        now = time.monotonic()
        with self._lock:
            passed, held = self._last.get(text, (-self._interval_s, 0))
            if now - passed < self._interval_s:
                self._last[text] = (passed, held + 1)
                return
            if len(self._last) >= 1000:
                self._last = {t: v for t, v in self._last.items() if now - v[0] < self._interval_s}
            self._last[text] = (now, 0)
        if held:
            self.logger.log(level, "%s (and %d times more in %.0fs)", text, held, now - passed)
        else:
            self.logger.log(level, msg, *args)


#: The error codes of a topic the broker does not know: a consumer's read error (TopicCheck reports
#: those), an admin describe, a metadata answer.
MISSING_TOPIC_ERRORS = frozenset({KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC})

#: the logger of librdkafka's own lines, for every client of ours (served on the delivery thread, or
#: the consumer's polling thread)
LIBRDKAFKA_LOGGER = "processor.transport.librdkafka"
_LIBRDKAFKA_LOG = _RepeatLimitedLog(logging.getLogger(LIBRDKAFKA_LOGGER), 30.0)


def topic_for(config: KafkaConfig, signal: Signal) -> str:
    """The topic a signal's records go to (`kafka.topics.<signal>`)."""
    return str(getattr(config.topics, signal.value))


def admin_client(config: KafkaConfig, **options: Any) -> AdminClient:
    """An admin client with the section's connection and security options (librdkafka's names)."""
    return AdminClient({**librdkafka_options(config), **options}, logger=_LIBRDKAFKA_LOG)


def create_topics(config: KafkaConfig, *, timeout_s: float = 30.0) -> list[str]:
    """Create the traces, logs, results and dead-letter topics that are missing; return the created names.

    Called once at start-up when `kafka.create_topics` is true (pipeline.py); the producer and the
    consumers never create topics. Returns once the broker's metadata lists them (or after
    timeout_s). Raises KafkaException.
    """
    names = [topic_for(config, s) for s in Signal]
    admin = admin_client(config, **{"socket.timeout.ms": max(10, int(timeout_s * 1000))})
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    missing = [n for n in names if n not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [NewTopic(n, config.partitions, config.replication_factor) for n in missing],
        operation_timeout=timeout_s,
        request_timeout=timeout_s,
    )
    for future in futures.values():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:  # else another replica was quicker
                raise
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:  # the controller created them; wait until the metadata says so
        topics = admin.list_topics(timeout=max(0.1, deadline - time.monotonic())).topics
        if all(n in topics and topics[n].error is None for n in missing):
            break
        time.sleep(0.1)
    return missing


def librdkafka_options(config: KafkaConfig) -> dict[str, Any]:
    """Connection and security options shared by producer, consumer and admin client."""
    options: dict[str, Any] = {
        "bootstrap.servers": ",".join(config.servers),
        "client.id": config.client_id,
        "security.protocol": config.security_protocol,
    }
    if config.sasl_mechanism:
        options["sasl.mechanism"] = config.sasl_mechanism
        options["sasl.username"] = config.sasl_username
        options["sasl.password"] = config.sasl_password
    if config.ssl_cafile:
        options["ssl.ca.location"] = config.ssl_cafile
    return options


class _Pending:
    """The records of one send() awaiting their delivery reports: `done` is released by the last one.

    Reports arrive on the delivery thread (on the closing thread too, while a producer is rebuilt or
    shut down), so `left` is counted under the transport's lock with its in-flight count.
    """

    __slots__ = ("done", "error", "left", "owner")

    def __init__(self, owner: KafkaProducerTransport, count: int) -> None:
        self.owner = owner
        self.left = count
        self.error: KafkaError | None = None
        self.done = threading.Lock()
        self.done.acquire()

    def report(self, error: KafkaError | None, _message: object) -> None:
        if error is not None and self.error is None:
            self.error = error
        owner = self.owner
        with owner._lock:
            owner._in_flight -= 1
            self.left -= 1
            last = self.left == 0
        if last:
            self.done.release()


class KafkaProducerTransport:
    """Producer seam on confluent-kafka (librdkafka): blocks until acked (acks=all), thread-safe.

    librdkafka batches, compresses and talks to the brokers on its own C threads; Python only hands
    each record over (`produce`) and counts the delivery reports, which one thread of ours serves.
    Records are partitioned with murmur2 of the key, as kafka-python and the Java client do.

    Args:
        config: the `kafka` section.
        registry: where the evalstream_transport_* counters go (None: a private registry).
        delivery_timeout_ms: how long librdkafka keeps retrying one record before failing it.
        request_timeout_ms: one produce request's wait for the broker.
        max_block_ms: how long a record for a topic the broker does not know waits before failing.
        max_request_size: largest record (key + value + headers); bigger ones raise TooLarge.
        max_in_flight_records: records sent but not yet acked; above it send() raises TransportFull.
        bootstrap_timeout_ms: one connection attempt (a metadata request) at start-up.
        reconnect_interval_s: pause between connection attempts while the broker is unreachable.
        full_retry_after_s: the back-off suggested to senders when full.
        metadata_max_age_ms: how often the producer asks the broker for metadata (its proof of life).
        stale_after_s: not ready when neither an ack nor a metadata answer came within this.
        rebuild_after_s: a producer whose sends fail this long without one ack is rebuilt (at once
            after a fatal error of the idempotent producer).
    """

    def __init__(
        self,
        config: KafkaConfig,
        *,
        registry: CollectorRegistry | None = None,
        delivery_timeout_ms: int = 30_000,
        request_timeout_ms: int = 10_000,
        max_block_ms: int = 5_000,
        max_request_size: int = 1_048_576,
        max_in_flight_records: int = 20_000,
        bootstrap_timeout_ms: int = 5_000,
        reconnect_interval_s: float = 1.0,
        full_retry_after_s: float = 1.0,
        metadata_max_age_ms: int = 2_000,
        stale_after_s: float = 5.0,
        rebuild_after_s: float = 10.0,
    ) -> None:
        if config.embedded:
            raise ValueError(
                "KafkaProducerTransport needs kafka.bootstrap_servers; use MemoryTransport instead"
            )
        self.config = config
        self.max_record_bytes = max_request_size
        self.max_batch_records = max_in_flight_records  # a bigger batch can never be sent at once
        self._metrics = TransportMetrics(registry if registry is not None else CollectorRegistry())
        self._sent = {
            topic_for(config, s): self._metrics.sent_records.labels(topic_for(config, s)) for s in Signal
        }
        self._options: dict[str, Any] = {
            **librdkafka_options(config),
            "acks": "all",
            "enable.idempotence": True,
            "compression.type": config.compression,
            "partitioner": "murmur2_random",  # murmur2 of the key (keys are never empty here)
            "message.timeout.ms": delivery_timeout_ms,
            "request.timeout.ms": request_timeout_ms,
            "linger.ms": config.linger_ms,
            "message.max.bytes": max_request_size + 1024,  # the record plus its batch framing
            "max.in.flight.requests.per.connection": 5,  # the most idempotence allows with ordering kept
            "queue.buffering.max.messages": max_in_flight_records + 1,  # ours refuses first
            "retry.backoff.ms": 100,
            "reconnect.backoff.ms": 50,
            "reconnect.backoff.max.ms": 2_000,
            "socket.connection.setup.timeout.ms": max(1_000, bootstrap_timeout_ms),
            "topic.metadata.refresh.interval.ms": metadata_max_age_ms,
            "topic.metadata.propagation.max.ms": max_block_ms,
            "allow.auto.create.topics": False,  # topics exist, or kafka.create_topics creates them
            "logger": _LIBRDKAFKA_LOG,
            "error_cb": self._on_error,
        }
        self._bootstrap_timeout_s = bootstrap_timeout_ms / 1000
        self._metadata_interval_s = metadata_max_age_ms / 1000
        self._max_in_flight = max_in_flight_records
        self._full_retry_after_s = full_retry_after_s
        self._reconnect_interval_s = reconnect_interval_s
        self._stale_after_s = stale_after_s
        self._rebuild_after_s = rebuild_after_s
        self._lock = threading.Lock()
        self._producer: Producer | None = None
        self._in_flight = 0
        self._last_heard = 0.0  # monotonic time of the last ack or metadata answer
        self._failing_since: float | None = None  # first failed send with no ack since
        self._fatal = False  # the idempotent producer reported a fatal error: rebuild it now
        self._last_error = "not started"
        self._started = False
        self._closed = False
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self._deliveries: threading.Thread | None = None
        self.rebuilds = 0  # producers replaced after failing (for tests and the log)

    # lifecycle
    def start(self) -> None:
        """Begin connecting in the background; never raises for an unreachable broker. Idempotent."""
        with self._lock:
            if self._started or self._closed:
                return
            self._started = True
            self._last_error = "connecting"
            self._thread = threading.Thread(
                target=self._maintain, name="evalstream-kafka-connect", daemon=True
            )
            self._deliveries = threading.Thread(
                target=self._serve_deliveries, name="evalstream-kafka-deliveries", daemon=True
            )
            self._thread.start()
            self._deliveries.start()

    def wait_ready(self, timeout_s: float) -> bool:
        """Block until connected to the broker (or timeout); True when connected."""
        return self._connected.wait(timeout_s)

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Flush what is in flight (up to timeout_s) and close. Idempotent; safe before start()."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for thread in (self._thread, self._deliveries):
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            self._close(producer, max(0.0, deadline - time.monotonic()), "at shutdown")

    def _close(self, producer: Producer, timeout_s: float, when: str) -> None:
        """Flush (serving delivery reports) for up to timeout_s; what is not acked by then is purged
        and reported. Purged records were never answered OK (their send() fails), so nothing accepted
        is lost. Never raises."""
        try:
            left = producer.flush(timeout_s)
            if left:
                producer.purge()  # fails every record still queued or in flight...
                producer.flush(1.0)  # ...and serves their reports at once, so their senders return now
        except Exception as exc:
            left = -1
            log.warning("kafka producer %s: close failed: %s: %s", when, type(exc).__name__, exc)
        if left > 0:
            log.warning(
                "kafka producer %s: %d records not acknowledged within %.1fs; their senders were "
                "not answered OK",
                when,
                left,
                timeout_s,
            )

    def _serve_deliveries(self) -> None:
        """Serve delivery reports (and librdkafka's log lines): each wakes the send() waiting for it."""
        while not self._stop.is_set():
            producer = self._producer
            if producer is None:
                self._stop.wait(0.05)
            else:
                producer.poll(0.2)

    def _maintain(self) -> None:
        """Connect; then ask for metadata every metadata_max_age_ms (proof of life), and rebuild the
        producer once its sends failed for rebuild_after_s with no ack, or after a fatal error."""
        while not self._stop.is_set():
            if self._producer is None and not self._connect():
                continue
            self._stop.wait(min(self._reconnect_interval_s, self._metadata_interval_s))
            producer = self._producer
            if producer is not None and not self._stop.is_set():
                self._ask_metadata(producer, self._metadata_interval_s)
            failing_since = self._failing_since
            failed_long = (
                failing_since is not None and time.monotonic() - failing_since >= self._rebuild_after_s
            )
            if failed_long or self._fatal:
                with self._lock:
                    if self._closed:
                        return
                    producer, self._producer = self._producer, None
                    self._failing_since = None
                    self._fatal = False
                    self.rebuilds += 1
                self._last_error = "rebuilding the producer after failed sends"
                log.warning(
                    "kafka producer: %s; closing it and connecting a new one",
                    "a fatal error" if not failed_long else f"no ack for {self._rebuild_after_s:.0f}s",
                )
                if producer is not None:
                    self._close(producer, 0.0, "being rebuilt")

    def _ask_metadata(self, producer: Producer, timeout_s: float) -> bool:
        try:
            producer.list_topics(topic_for(self.config, Signal.TRACES), timeout=timeout_s)
        except Exception as exc:  # KafkaException: the broker did not answer in time
            self._last_error = f"no metadata from Kafka: {exc}"
            return False
        self._last_heard = time.monotonic()
        return True

    def _connect(self) -> bool:
        attempts = 0
        producer: Producer | None = None
        while not self._stop.is_set():
            attempts += 1
            try:
                if producer is None:
                    producer = Producer(self._options)
            except Exception as exc:  # a configuration librdkafka refuses: keep saying so, never crash
                self._last_error = f"{type(exc).__name__}: {exc}"
            else:
                if self._ask_metadata(producer, self._bootstrap_timeout_s):
                    break
            if attempts == 1 or attempts % 60 == 0:
                log.warning(
                    "kafka producer: cannot reach %s (attempt %d): %s; retrying every %.1fs",
                    self.config.bootstrap_servers,
                    attempts,
                    self._last_error,
                    self._reconnect_interval_s,
                )
            self._stop.wait(self._reconnect_interval_s)
        if producer is None or self._stop.is_set():
            return False
        with self._lock:
            if self._closed:
                closing = True
            else:
                closing = False
                self._producer = producer
        if closing:
            self._close(producer, 0.0, "closed while connecting")
            return False
        log.info("kafka producer: connected to %s", self.config.bootstrap_servers)
        self._connected.set()
        return True

    def _on_error(self, error: KafkaError) -> None:
        """librdkafka's client-level errors (brokers down, authentication...): the reason health gives."""
        self._last_error = f"{error.name()}: {error.str()}"
        if error.fatal():
            self._fatal = True

    # Producer
    def ready(self) -> bool:
        """True when a send would be attempted now; `health()` says why not."""
        return self.health().ready

    def health(self) -> PartHealth:
        """Ready: connected, heard from the broker lately (ack or metadata), sends not failing, not full.

        Not live when a thread that connects, repairs or serves the producer died (a bug: restart).
        """
        if not self._closed:
            for thread, name in (
                (self._thread, "Kafka producer connect"),
                (self._deliveries, "Kafka deliveries"),
            ):
                state = thread_health(thread, name)
                if not state.live:
                    return state
        producer = self._producer
        if self._closed:
            return PartHealth(ready=False, reason="the Kafka producer is shut down")
        servers = self.config.bootstrap_servers
        if producer is None:
            return PartHealth(ready=False, reason=f"not connected to Kafka at {servers}: {self._last_error}")
        if self._failing_since is not None:
            return PartHealth(ready=False, reason=f"Kafka sends are failing: {self._last_error}")
        if self._in_flight >= self._max_in_flight:
            return PartHealth(
                ready=False,
                reason=f"{self._in_flight} records await Kafka's ack (limit {self._max_in_flight})",
            )
        silent_s = time.monotonic() - self._last_heard
        if silent_s > self._stale_after_s:
            return PartHealth(
                ready=False, reason=f"no ack or metadata from Kafka at {servers} for {silent_s:.0f}s"
            )
        return SERVING

    def send(self, records: Sequence[Record], *, timeout_s: float) -> None:
        """Send every record to its signal's topic and block until all are acked.

        Raises:
            ShuttingDown: shutdown() was called.
            TransportUnavailable: not connected, or not every record acked within timeout_s.
            TransportFull: more than max_in_flight_records are awaiting their ack.
            TooLarge: a record exceeds max_request_size (nothing of the batch was sent).
        """
        if not records:
            return
        if self._closed:
            self._metrics.send_errors.labels("shutting_down").inc()
            raise ShuttingDown("the Kafka producer is shutting down")
        producer = self._producer
        if producer is None:
            self._metrics.send_errors.labels("unavailable").inc()
            raise TransportUnavailable(
                f"not connected to Kafka at {self.config.bootstrap_servers}: {self._last_error}"
            )
        for record in records:
            size = len(record.key) + len(record.value)
            if record.headers:
                size += sum(len(k) + len(v) for k, v in record.headers)
            if size > self.max_record_bytes:
                self._metrics.send_errors.labels("too_large").inc()
                raise TooLarge(
                    f"a record of {size} bytes exceeds the producer's limit of {self.max_record_bytes}"
                )
        count = len(records)
        with self._lock:
            if self._in_flight + count > self._max_in_flight:
                self._metrics.send_errors.labels("full").inc()
                raise TransportFull(
                    f"{self._in_flight} records await Kafka's ack (limit {self._max_in_flight})",
                    retry_after_s=self._full_retry_after_s,
                )
            self._in_flight += count
        pending = _Pending(self, count)
        unsent = count
        try:
            for record in records:
                topic = topic_for(self.config, record.signal)
                if record.headers:
                    producer.produce(
                        topic,
                        record.value,
                        record.key,
                        on_delivery=pending.report,
                        headers=list(record.headers),
                    )
                else:
                    producer.produce(topic, record.value, record.key, on_delivery=pending.report)
                unsent -= 1
        except BufferError:  # librdkafka's own queue is full (ours should have refused first)
            self._metrics.send_errors.labels("full").inc()
            raise TransportFull(
                "the Kafka producer's queue is full", retry_after_s=self._full_retry_after_s
            ) from None
        except KafkaException as exc:
            raise self._refusal(exc.args[0] if exc.args else None, str(exc), timeout_s) from None
        except RuntimeError as exc:  # a producer closed under us
            if self._closed:
                self._metrics.send_errors.labels("shutting_down").inc()
                raise ShuttingDown("the Kafka producer is closed") from None
            self._fail("unavailable", f"{type(exc).__name__}: {exc}")
            raise TransportUnavailable(f"Kafka producer unusable, being rebuilt: {exc}") from None
        finally:
            if unsent:
                with self._lock:
                    self._in_flight -= unsent
        if not pending.done.acquire(timeout=max(0.0, timeout_s)):
            self._fail("timeout", f"no ack within {timeout_s:g}s")
            raise TransportUnavailable(f"Kafka did not acknowledge within {timeout_s:g}s")
        if pending.error is not None:
            raise self._refusal(pending.error, pending.error.str(), timeout_s)
        for record in records:
            self._sent[topic_for(self.config, record.signal)].inc()
        self._last_heard = time.monotonic()
        self._failing_since = None

    def _refusal(self, error: KafkaError | None, text: str, timeout_s: float) -> Exception:
        """The processor.errors exception for a refused produce or a failed delivery (counted)."""
        code = error.code() if isinstance(error, KafkaError) else None
        if code == KafkaError.MSG_SIZE_TOO_LARGE:
            self._metrics.send_errors.labels("too_large").inc()
            return TooLarge(f"Kafka refused a record as too large: {text}")
        if code in (KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT) and self._closed:
            self._metrics.send_errors.labels("shutting_down").inc()
            return ShuttingDown("the Kafka producer closed before the broker acknowledged")
        if isinstance(error, KafkaError) and error.fatal():
            self._fatal = True
        if code == KafkaError._MSG_TIMED_OUT:
            self._fail("timeout", f"{error.name() if error else 'timeout'}: {text}")
            return TransportUnavailable(f"Kafka did not acknowledge within {timeout_s:g}s: {text}")
        name = error.name() if isinstance(error, KafkaError) else "KafkaException"
        self._fail("unavailable", f"{name}: {text}")
        return TransportUnavailable(f"Kafka send failed: {name}: {text}")

    def _fail(self, reason: str, error: str) -> None:
        self._metrics.send_errors.labels(reason).inc()
        self._last_error = error
        if self._failing_since is None:
            self._failing_since = time.monotonic()


RevokeCallback = Callable[[list[tuple[str, int]]], None]

_START: OffsetSpec = OffsetSpec.earliest()  # type: ignore[no-untyped-call]
_END: OffsetSpec = OffsetSpec.latest()  # type: ignore[no-untyped-call]


class KafkaConsumerTransport:
    """Consumer seam on confluent-kafka: no auto-commit, earliest reset, commits only the offsets given.

    Not thread-safe: poll, commit, lag and the rebalance callbacks belong to the worker's thread.

    Args:
        config: the `kafka` section.
        group_id: the consumer group (every worker replica uses the same one).
        signals: which topics to read (default traces and logs).
        max_poll_records: cap on one poll's batch (poll's own max_records may lower it).
        max_poll_interval_ms: longest gap between polls before the group evicts this member.
        session_timeout_ms / heartbeat_interval_ms: group liveness.
        fetch_max_wait_ms: how long the broker holds a fetch waiting for data.
        request_timeout_ms: one request's wait for the broker (librdkafka's socket.timeout.ms).
        bootstrap_timeout_ms: the first metadata request's wait at start().
        stale_after_s: not ready when nothing was received from any broker within this.
        on_revoke: called with [(topic, partition)] before partitions leave this member; the worker
            may commit finished work inside it; whatever it does not commit another member
            re-reads (at least once).
        on_assign: called with [(topic, partition)] after an assignment.
    """

    def __init__(
        self,
        config: KafkaConfig,
        *,
        group_id: str,
        signals: Sequence[Signal] = (Signal.TRACES, Signal.LOGS),
        max_poll_records: int = 500,
        max_poll_interval_ms: int = 300_000,
        session_timeout_ms: int = 45_000,
        heartbeat_interval_ms: int = 3_000,
        fetch_max_wait_ms: int = 500,
        request_timeout_ms: int = 30_000,
        bootstrap_timeout_ms: int = 5_000,
        stale_after_s: float = 5.0,
        on_revoke: RevokeCallback | None = None,
        on_assign: RevokeCallback | None = None,
    ) -> None:
        if config.embedded:
            raise ValueError(
                "KafkaConsumerTransport needs kafka.bootstrap_servers; use MemoryTransport instead"
            )
        self.config = config
        self.on_revoke = on_revoke
        self.on_assign = on_assign
        self._signals = {topic_for(config, s): s for s in signals}
        self._max_poll_records = max_poll_records
        self._options: dict[str, Any] = {
            **librdkafka_options(config),
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "max.poll.interval.ms": max_poll_interval_ms,
            "session.timeout.ms": session_timeout_ms,
            "heartbeat.interval.ms": heartbeat_interval_ms,
            "fetch.wait.max.ms": fetch_max_wait_ms,
            "socket.timeout.ms": request_timeout_ms,
            "socket.connection.setup.timeout.ms": max(1_000, bootstrap_timeout_ms),
            "reconnect.backoff.ms": 50,
            "reconnect.backoff.max.ms": 2_000,
            "check.crcs": True,
            "allow.auto.create.topics": False,
            # metadata every 2 s: an idle member still hears from the broker (see health())
            "topic.metadata.refresh.interval.ms": 2_000,
            "statistics.interval.ms": 1_000,
            "stats_cb": self._on_stats,
            "error_cb": self._on_error,
            "logger": _LIBRDKAFKA_LOG,
        }
        self._consumer: Consumer | None = None
        self._admin: AdminClient | None = None  # for lag(): end offsets
        self._closed = False
        self._bootstrap_timeout_s = bootstrap_timeout_ms / 1000
        self._lag_timeout_s = 2.0  # a gauge is not worth holding the poll loop longer
        self._stale_after_s = stale_after_s
        self._last_heard = 0.0  # monotonic time anything was last received from a broker
        self._last_error = "not connected yet (the worker connects on its first poll)"

    def start(self) -> None:
        """Connect and subscribe; raise TransportUnavailable when the broker cannot be reached. Idempotent."""
        if self._consumer is not None:
            return
        if self._closed:
            raise ShuttingDown("the Kafka consumer is shut down")
        servers = self.config.bootstrap_servers
        try:
            consumer = Consumer(self._options)
        except (KafkaException, ValueError) as exc:  # a setting librdkafka refuses (a bad CA file...)
            self._last_error = f"cannot create a Kafka consumer for {servers}: {exc}"
            raise TransportUnavailable(self._last_error) from None
        try:  # librdkafka connects lazily: one metadata answer proves the broker is there
            consumer.list_topics(next(iter(self._signals)), timeout=self._bootstrap_timeout_s)
            consumer.subscribe(list(self._signals), on_assign=self._assigned, on_revoke=self._revoked)
        except KafkaException as exc:
            consumer.close()
            self._last_error = f"cannot reach Kafka at {servers}: {_describe(exc)}"
            raise TransportUnavailable(self._last_error) from None
        self._last_heard = time.monotonic()
        self._consumer = consumer

    def health(self) -> PartHealth:
        """Ready while connected and something (a fetch, a heartbeat, metadata every 2 s) came from a
        broker within stale_after_s, as librdkafka's statistics (every second) say."""
        consumer = self._consumer
        if self._closed:
            return PartHealth(ready=False, reason="the Kafka consumer is shut down")
        if consumer is None:
            return PartHealth(ready=False, reason=self._last_error)
        silent_s = time.monotonic() - self._last_heard
        if silent_s > self._stale_after_s:
            return PartHealth(
                ready=False,
                reason=f"nothing from Kafka at {self.config.bootstrap_servers} for {silent_s:.0f}s "
                f"({self._last_error})",
            )
        return SERVING

    def _on_stats(self, stats_json: str) -> None:
        """librdkafka's statistics: the freshest receive over all brokers (`rxidle`, in µs)."""
        idle_us = [
            broker["rxidle"]
            for broker in json.loads(stats_json).get("brokers", {}).values()
            if broker.get("state") == "UP" and broker.get("rxidle", -1) >= 0
        ]
        if idle_us:
            self._last_heard = max(self._last_heard, time.monotonic() - min(idle_us) / 1e6)

    def _on_error(self, error: KafkaError) -> None:
        """Client-level errors (brokers down, authentication...): the reason health gives."""
        self._last_error = f"{error.name()}: {error.str()}"

    def _assigned(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self.on_assign is not None:
            self.on_assign([(tp.topic, tp.partition) for tp in partitions])

    def _revoked(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self.on_revoke is not None:
            self.on_revoke([(tp.topic, tp.partition) for tp in partitions])

    def poll(self, *, timeout_s: float, max_records: int) -> list[Consumed]:
        """Up to max_records records: returns as soon as one is there, with what else is already fetched."""
        self.start()
        consumer = self._consumer
        assert consumer is not None
        limit = max(1, min(max_records, self._max_poll_records))
        try:
            # consume() would wait for a full batch; poll() returns with the first record
            first = consumer.poll(max(0.0, timeout_s))
            messages = [first] if first is not None else []
            if first is not None and limit > 1:
                messages += consumer.consume(limit - 1, 0)
        except (KafkaException, RuntimeError) as exc:  # a fatal error, or the consumer closed under us
            raise TransportUnavailable(f"poll failed: {_describe(exc)}") from None
        out: list[Consumed] = []
        for message in messages:
            error = message.error()
            if error is not None:
                self._read_error(message, error)
                continue
            topic = message.topic()
            signal = self._signals.get(topic) if topic is not None else None
            if signal is None or topic is None:
                continue
            record = Record(signal, message.key() or b"", message.value() or b"", _headers(message))
            partition, offset = message.partition(), message.offset()
            timestamp_type, timestamp_ms = message.timestamp()
            out.append(
                Consumed(
                    record,
                    topic,
                    partition if partition is not None else 0,
                    offset if offset is not None else 0,
                    timestamp_ms if timestamp_type else 0,
                )
            )
        return out

    def _read_error(self, message: Message, error: KafkaError) -> None:
        """An error read instead of a record: fatal ones end the poll, the rest are logged (a missing
        topic's line is held back by TopicCheck, which says it once with the fix)."""
        if error.fatal():
            self._last_error = f"{error.name()}: {error.str()}"
            raise TransportUnavailable(f"the Kafka consumer failed: {self._last_error}")
        if error.code() == KafkaError._PARTITION_EOF:
            return
        if error.code() not in MISSING_TOPIC_ERRORS:
            self._last_error = f"{error.name()}: {error.str()}"
        _LIBRDKAFKA_LOG.log(
            logging.WARNING, "kafka consumer: %s (%s)", error.str(), message.topic() or error.name()
        )

    def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        """Commit, per (topic, partition), the offset of the next record a restarted member reads."""
        consumer = self._consumer
        if consumer is None or not offsets:
            return
        partitions = [TopicPartition(topic, p, o) for (topic, p), o in offsets.items()]
        try:
            committed = consumer.commit(offsets=partitions, asynchronous=False)
        except (KafkaException, RuntimeError) as exc:
            raise TransportUnavailable(f"offset commit failed: {_describe(exc)}") from None
        failed = [tp for tp in committed or () if tp.error is not None]
        if failed:
            raise TransportUnavailable(
                "offset commit failed: "
                + ", ".join(f"{tp.topic}/{tp.partition}: {_describe(tp.error)}" for tp in failed)
            )

    def lag(self) -> dict[tuple[str, int], int]:
        """end offset - position per assigned (topic, partition); TransportUnavailable if Kafka is away.

        A partition nothing was read from yet counts from its committed offset, else from its start
        (auto.offset.reset=earliest). End offsets come from an admin client of this consumer's: the
        consumer's own connection answers only after the fetch it holds open."""
        consumer = self._consumer
        if consumer is None:
            return {}
        deadline = time.monotonic() + self._lag_timeout_s
        try:
            assigned = consumer.assignment()
            if not assigned:
                return {}
            positions = {(tp.topic, tp.partition): tp.offset for tp in consumer.position(assigned)}
            unknown = [tp for tp in assigned if positions[(tp.topic, tp.partition)] < 0]
            if unknown:
                for tp in consumer.committed(unknown, timeout=self._lag_timeout_s):
                    positions[(tp.topic, tp.partition)] = tp.offset
            ends = self._list_offsets(assigned, _END, deadline)
            unread = [tp for tp in assigned if positions[(tp.topic, tp.partition)] < 0]
            positions.update(self._list_offsets(unread, _START, deadline) if unread else {})
        except (KafkaException, RuntimeError) as exc:
            raise TransportUnavailable(f"consumer lag unknown: {_describe(exc)}") from None
        return {position: max(0, end - positions[position]) for position, end in ends.items()}

    def _list_offsets(
        self, partitions: list[TopicPartition], spec: OffsetSpec, deadline: float
    ) -> dict[tuple[str, int], int]:
        if self._admin is None:
            self._admin = admin_client(self.config)
        self._admin.poll(0)  # serve its queued error events (it has no callback for them)
        left = deadline - time.monotonic()
        if left <= 0:
            raise TransportUnavailable(f"consumer lag unknown within {self._lag_timeout_s:g}s")
        futures = self._admin.list_offsets(
            {TopicPartition(tp.topic, tp.partition): spec for tp in partitions},
            isolation_level=IsolationLevel.READ_COMMITTED,
            request_timeout=left,
        )
        return {(tp.topic, tp.partition): future.result().offset for tp, future in futures.items()}

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Leave the group without committing anything poll() returned but commit() did not. Idempotent."""
        if self._closed:
            return
        self._closed = True
        consumer, self._consumer = self._consumer, None
        self._admin = None
        if consumer is not None:
            try:
                consumer.close()  # auto-commit is off: nothing is committed here
            except Exception as exc:  # the broker may be away
                log.warning("kafka consumer: unclean close: %s: %s", type(exc).__name__, exc)


def _headers(message: Message) -> tuple[tuple[str, bytes], ...]:
    raw: Any = message.headers()  # [(name, value or None)] or None
    return tuple((str(k), v if isinstance(v, bytes) else b"") for k, v in raw or ())


def _describe(error: KafkaException | KafkaError | RuntimeError | None) -> str:
    """A KafkaError's name and text (a KafkaException carries one), else the exception's text."""
    if isinstance(error, KafkaException) and error.args and isinstance(error.args[0], KafkaError):
        error = error.args[0]
    if isinstance(error, KafkaError):
        return f"{error.name()}: {error.str()}"
    return f"{type(error).__name__}: {error}"
