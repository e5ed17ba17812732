"""Read a whole topic once, from the beginning to the end offsets seen at start (harvest's input).

No consumer group is joined (partitions are assigned, not subscribed) and nothing is committed, so
reading never moves the workers' offsets. Values come back as raw bytes: what they hold
(EvalResult, OTLP) is the caller's business.
"""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from processor.errors import TransportUnavailable
from processor.transport.config import KafkaConfig
from processor.transport.kafka import MISSING_TOPIC_ERRORS, librdkafka_options


class TopicNotFound(LookupError):
    """The broker answered and has no topic of that name."""


def read_topic(config: KafkaConfig, topic: str, *, timeout_s: float, client_id: str) -> list[bytes]:
    """Every record value of every partition of `topic`, up to the end offsets at start.

    Raises TopicNotFound when the topic does not exist, TransportUnavailable when the broker cannot be
    reached or the end is not reached within `timeout_s`.
    """
    servers = ",".join(config.servers)
    consumer = Consumer(
        {
            **librdkafka_options(config),
            "client.id": client_id,
            # librdkafka wants a group id even for assign(); this one is never joined nor committed to
            "group.id": f"{client_id}-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,  # each partition says when it reached its end
            "allow.auto.create.topics": False,
            "socket.connection.setup.timeout.ms": max(1_000, int(timeout_s * 1000)),
        }
    )
    try:
        deadline = time.monotonic() + timeout_s
        try:
            metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        except KafkaException as exc:
            raise TransportUnavailable(f"no broker reachable at {servers}: {exc.args[0].str()}") from None
        if metadata is None or (metadata.error is not None and metadata.error.code() in MISSING_TOPIC_ERRORS):
            raise TopicNotFound(f"topic {topic!r} does not exist on {servers}")
        if metadata.error is not None or not metadata.partitions:
            raise TransportUnavailable(f"no partition metadata for {topic!r}: {metadata.error}")
        end: dict[int, int] = {}
        assigned: list[TopicPartition] = []
        for partition in sorted(metadata.partitions):
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=max(0.1, deadline - time.monotonic())
            )
            if high > low:
                end[partition] = high
                assigned.append(TopicPartition(topic, partition, low))
        consumer.assign(assigned)
        values: list[bytes] = []
        while end:
            if time.monotonic() > deadline:
                raise TransportUnavailable(f"{topic!r} not read to its end within {timeout_s:g}s")
            for message in consumer.consume(1000, 0.5):
                partition, offset = message.partition(), message.offset()
                if partition not in end or offset is None:
                    continue
                error = message.error()
                if error is not None and error.code() != KafkaError._PARTITION_EOF:
                    raise TransportUnavailable(f"reading {topic!r} failed: {error.str()}")
                if error is None and offset < end[partition]:
                    values.append(message.value() or b"")
                if offset + (1 if error is None else 0) >= end[partition]:  # an EOF's offset is the end
                    del end[partition]
        return values
    except KafkaException as exc:
        raise TransportUnavailable(f"reading {topic!r} failed: {exc}") from None
    finally:
        consumer.close()
