"""read_topic against a real broker: the whole topic up to its end, a missing topic, no broker."""

from __future__ import annotations

import pytest
from kafka import KafkaProducer

from processor.errors import TransportUnavailable
from processor.transport.config import KafkaConfig
from processor.transport.kafka import create_topics
from processor.transport.topic_reader import TopicNotFound, read_topic
from tests.transport.test_kafka import free_port, kafka_config


@pytest.mark.kafka
def test_reads_every_partition_to_the_end(kafka_bootstrap: str, topic_prefix: str) -> None:
    config = kafka_config(kafka_bootstrap, topic_prefix)
    create_topics(config)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    sent = {f"value-{i}".encode() for i in range(40)}
    for i, value in enumerate(sorted(sent)):
        producer.send(config.topics.results, value, key=str(i).encode())
    producer.flush()
    producer.close()
    got = read_topic(config, config.topics.results, timeout_s=30, client_id="test-reader")
    assert sorted(got) == sorted(sent)  # every record once, from all 4 partitions


@pytest.mark.kafka
def test_a_missing_topic_is_named(kafka_bootstrap: str, topic_prefix: str) -> None:
    config = kafka_config(kafka_bootstrap, topic_prefix)
    with pytest.raises(TopicNotFound, match=f"{topic_prefix}_nothing"):
        read_topic(config, f"{topic_prefix}_nothing", timeout_s=10, client_id="test-reader")


def test_no_broker_is_unavailable() -> None:
    config = KafkaConfig(bootstrap_servers=f"127.0.0.1:{free_port()}")
    with pytest.raises(TransportUnavailable, match="no broker reachable"):
        read_topic(config, "anything", timeout_s=2, client_id="test-reader")
