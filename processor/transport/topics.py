"""Do our Kafka topics exist, with which partition counts? Checked as soon as the broker answers.

A missing topic on its own gets a produce that fails after librdkafka's metadata wait, and an error
the consumer reads ("Subscribed topic not available") on every subscription, neither of which names
the fix. `TopicCheck` asks once, says it once (naming the topic and both fixes), makes the parts that
need the topic not ready, holds back librdkafka's own lines about that topic, and lets a
`TopicCheckedProducer` refuse sends at once with that message (UNAVAILABLE, so clients retry and
succeed once the topic is created; the check keeps looking until it is).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicCollection

from processor.errors import TransportUnavailable
from processor.transport import Record, Signal
from processor.transport.config import KafkaConfig
from processor.transport.kafka import LIBRDKAFKA_LOGGER, MISSING_TOPIC_ERRORS, admin_client, topic_for

log = logging.getLogger(__name__)

#: librdkafka's answers meaning "no broker (yet)": retried quietly, the transports report those
_NOT_CONNECTED = frozenset({KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN})


def missing_topics_message(config: KafkaConfig, missing: Sequence[str]) -> str:
    """One sentence naming the missing topics and the two fixes."""
    names = ", ".join(missing)
    keys = ", ".join(f"kafka.topics.{s.value}" for s in Signal if topic_for(config, s) in missing)
    return (
        f"Kafka topic{'s' if len(missing) > 1 else ''} {names} ({keys}) "
        f"{'do' if len(missing) > 1 else 'does'} not exist at {config.bootstrap_servers}: "
        f"create {'them' if len(missing) > 1 else 'it'} (e.g. kafka-topics.sh --create --topic "
        f"{missing[0]} --partitions {config.partitions}), or set kafka.create_topics: true "
        "(--set kafka.create_topics=true) to let evalstream create missing topics at start-up"
    )


def describe_topics(admin: Any, names: Sequence[str], *, timeout_s: float = 10.0) -> dict[str, int | None]:
    """Partition count per topic name; None for a topic the broker does not know.

    Raises TransportUnavailable when the broker answers with another error, KafkaException when it
    does not answer."""
    counts: dict[str, int | None] = {}
    futures = admin.describe_topics(TopicCollection(list(names)), request_timeout=timeout_s)
    for name, future in futures.items():
        try:
            counts[name] = len(future.result().partitions)
        except KafkaException as exc:
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            if error is not None and error.code() in MISSING_TOPIC_ERRORS:
                counts[name] = None
            elif error is None or error.code() in _NOT_CONNECTED:
                raise
            else:
                raise TransportUnavailable(
                    f"Kafka cannot describe topic {name}: {error.name()}: {error.str()}"
                ) from None
    return counts


#: librdkafka's lines about a missing topic (the logger every client of ours gives it): repeated on
#: every subscription and metadata refresh, e.g. "Subscribed topic not available: evalstream_spans:
#: Broker: Unknown topic or partition".
_LIBRDKAFKA_LOGGERS = (LIBRDKAFKA_LOGGER,)
_MISSING_TOPIC_LINE = re.compile(r"unknown topic|topic not available|unknown_topic", re.IGNORECASE)
_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]+")


class _HideRepeatedMissingTopicLines(logging.Filter):
    """Drops librdkafka's lines about a topic the check reports (once, with the fix) or has not
    answered for yet; every other line passes."""

    def __init__(self, check: TopicCheck) -> None:
        super().__init__()
        self._check = check

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not _MISSING_TOPIC_LINE.search(message):
            return True
        hidden = self._check.not_known_to_exist()
        return not any(word in hidden for word in _TOPIC_NAME.findall(message))


class TopicCheck:
    """A pipeline part: checks that `signals`' topics exist once the broker answers, then re-checks
    every `recheck_interval_s` while any is missing. Never blocks start-up (an unreachable broker is
    the transports' to report).

    Args:
        config: the `kafka` section.
        signals: the topics this role reads or writes.
        recheck_interval_s: pause between checks while a topic is missing.
        connect_retry_s: pause between attempts while the broker does not answer.
    """

    def __init__(
        self,
        config: KafkaConfig,
        signals: Sequence[Signal],
        *,
        recheck_interval_s: float = 5.0,
        connect_retry_s: float = 1.0,
    ) -> None:
        self.config = config
        self.names = tuple(dict.fromkeys(topic_for(config, s) for s in signals))
        self._recheck_interval_s = recheck_interval_s
        self._connect_retry_s = connect_retry_s
        self._checked = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._filter = _HideRepeatedMissingTopicLines(self)
        self._compared_partitions = False
        self.missing: frozenset[str] = frozenset()
        self.partitions: dict[str, int] = {}

    # pipeline part
    def start(self) -> None:
        if self._thread is None:
            for name in _LIBRDKAFKA_LOGGERS:
                logging.getLogger(name).addFilter(self._filter)
            self._thread = threading.Thread(target=self._run, name="kafka-topic-check", daemon=True)
            self._thread.start()

    def shutdown(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        for name in _LIBRDKAFKA_LOGGERS:
            logging.getLogger(name).removeFilter(self._filter)

    # state
    def wait_checked(self, timeout_s: float) -> bool:
        """Block until the broker answered the first check (or timeout)."""
        return self._checked.wait(timeout_s)

    def problem(self, names: Sequence[str] | None = None) -> str | None:
        """Why `names` (default: all checked topics) cannot be used now; None when they exist."""
        wanted = dict.fromkeys(names if names is not None else self.names)
        missing = [n for n in wanted if n in self.missing]
        return missing_topics_message(self.config, missing) if missing else None

    def not_known_to_exist(self) -> frozenset[str]:
        """The missing topics; before the first answer, every checked topic (the consumer's group join
        can race the first check and log about a topic before we know it is missing)."""
        return self.missing if self._checked.is_set() else frozenset(self.names)

    def ready(self, names: Sequence[str] | None = None) -> bool:
        """Checked, and none of `names` missing."""
        return self._checked.is_set() and self.problem(names) is None

    def check_now(self, admin: Any) -> None:
        """One check with a connected admin client: update state, log what changed."""
        counts = describe_topics(admin, self.names)
        missing = frozenset(n for n in self.names if counts.get(n) is None)
        present = {n: c for n, c in counts.items() if c is not None}
        first = not self._checked.is_set()
        if missing and missing != self.missing:
            log.error("%s", missing_topics_message(self.config, sorted(missing)))
        elif not missing and (first or self.missing):
            log.info(
                "kafka topics: %s",
                ", ".join(f"{name} (partitions: {present[name]})" for name in self.names),
            )
        self.missing, self.partitions = missing, present
        self._warn_unequal_partitions()
        self._checked.set()

    def _warn_unequal_partitions(self) -> None:
        traces = topic_for(self.config, Signal.TRACES)
        logs = topic_for(self.config, Signal.LOGS)
        counts = self.partitions
        if self._compared_partitions or traces not in counts or logs not in counts:
            return
        self._compared_partitions = True
        if counts[traces] != counts[logs]:
            log.warning(
                "kafka.topics: %s has %d partitions but %s has %d: records are keyed by trace id, so a "
                "trace's spans and its log records reach the same worker only when both topics have "
                "the same partition count; give them the same count",
                traces,
                counts[traces],
                logs,
                counts[logs],
            )

    def _run(self) -> None:
        admin = admin_client(self.config, **{"socket.timeout.ms": 10_000})
        last_error = ""
        while not self._stop.is_set():
            try:
                admin.poll(0)  # serve its queued error events (it has no callback for them)
                self.check_now(admin)
            except TransportUnavailable as exc:  # the broker answered with an error: say it once
                if str(exc) != last_error:
                    last_error = str(exc)
                    log.warning("kafka topic check: %s; retrying", exc)
                self._stop.wait(self._recheck_interval_s)
                continue
            except Exception as exc:  # no broker yet, or it went away: librdkafka reconnects; ask again
                log.debug("kafka topic check: %s: %s", type(exc).__name__, exc)
                self._stop.wait(self._connect_retry_s)
                continue
            if not self.missing:
                return  # all there; a topic deleted later is the transports' to report
            self._stop.wait(self._recheck_interval_s)


class TopicCheckedProducer:
    """A Producer that refuses at once, with the check's message, while its topics are missing."""

    def __init__(self, producer: Any, check: TopicCheck, signals: Sequence[Signal]) -> None:
        self._producer = producer
        self._check = check
        self._names = tuple(topic_for(check.config, s) for s in signals)

    @property
    def max_record_bytes(self) -> int | None:
        return getattr(self._producer, "max_record_bytes", None)

    def send(self, records: Sequence[Record], *, timeout_s: float) -> None:
        problem = self._check.problem([topic_for(self._check.config, r.signal) for r in records])
        if problem is not None:
            raise TransportUnavailable(problem)
        self._producer.send(records, timeout_s=timeout_s)

    def ready(self) -> bool:
        return self._check.ready(self._names) and bool(self._producer.ready())

    def shutdown(self, timeout_s: float = 10.0) -> None:
        self._producer.shutdown(timeout_s)
