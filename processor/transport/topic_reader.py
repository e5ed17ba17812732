"""Read a whole topic once, from the beginning to the end offsets seen at start (harvest's input).

No consumer group is joined and nothing is committed, so reading never moves the workers' offsets.
Values come back as raw bytes: what they hold (EvalResult, OTLP) is the caller's business.
"""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from processor.errors import TransportUnavailable
from processor.transport.config import KafkaConfig
from processor.transport.kafka import client_options


class TopicNotFound(LookupError):
    """The broker answered and has no topic of that name."""


def read_topic(config: KafkaConfig, topic: str, *, timeout_s: float, client_id: str) -> list[bytes]:
    """Every record value of every partition of `topic`, up to the end offsets at start.

    Raises TopicNotFound when the topic does not exist, TransportUnavailable when the broker cannot be
    reached or the end is not reached within `timeout_s`.
    """
    servers = ",".join(config.servers)
    try:
        consumer = KafkaConsumer(
            **{**client_options(config), "client_id": client_id},
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            bootstrap_timeout_ms=int(timeout_s * 1000),
            request_timeout_ms=int(max(timeout_s, 10) * 1000) + 5000,
        )
    except KafkaError as exc:
        raise TransportUnavailable(f"no broker reachable at {servers}: {exc}") from None
    try:
        deadline = time.monotonic() + timeout_s
        partitions = consumer.partitions_for_topic(topic)
        while not partitions and time.monotonic() < deadline:
            if topic not in consumer.topics():
                raise TopicNotFound(f"topic {topic!r} does not exist on {servers}")
            time.sleep(0.2)
            partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise TransportUnavailable(f"no partition metadata for {topic!r} within {timeout_s:g}s")
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        end = consumer.end_offsets(assigned)
        values: list[bytes] = []
        pending = {tp for tp in assigned if consumer.position(tp) < end[tp]}
        while pending:
            if time.monotonic() > deadline:
                raise TransportUnavailable(f"{topic!r} not read to its end within {timeout_s:g}s")
            for tp, records in consumer.poll(timeout_ms=500).items():
                values.extend(record.value or b"" for record in records if record.offset < end[tp])
            pending = {tp for tp in pending if consumer.position(tp) < end[tp]}
        return values
    except KafkaError as exc:
        raise TransportUnavailable(f"reading {topic!r} failed: {exc}") from None
    finally:
        consumer.close()
