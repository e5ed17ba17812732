"""KafkaProducerTransport / KafkaConsumerTransport against a real broker (and against no broker at all)."""

from __future__ import annotations

import ast
import logging
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import KafkaException, Producer
from kafka import KafkaAdminClient
from kafka.partitioner.default import murmur2
from prometheus_client import CollectorRegistry

from processor.errors import ShuttingDown, TooLarge, TransportUnavailable
from processor.transport import Consumed, Record, Signal, codec, trace_key
from processor.transport.config import KafkaConfig, TopicsConfig
from processor.transport.kafka import (
    KafkaConsumerTransport,
    KafkaProducerTransport,
    _RepeatLimitedLog,
    create_topics,
    librdkafka_options,
)
from tests.tls_certs import make_certs


def kafka_config(bootstrap: str, prefix: str, **overrides: object) -> KafkaConfig:
    topics = TopicsConfig(
        traces=f"{prefix}_spans",
        logs=f"{prefix}_logs",
        results=f"{prefix}_results",
        dead_letter=f"{prefix}_dlq",
    )
    options: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "topics": topics,
        "create_topics": True,
        "partitions": 4,
    }
    options.update(overrides)
    return KafkaConfig(**options)  # type: ignore[arg-type]


def consume_all(consumer: KafkaConsumerTransport, count: int, *, max_polls: int = 120) -> list[Consumed]:
    """Poll until `count` records arrived (each poll waits up to 1 s for data; no timed assertion)."""
    got: list[Consumed] = []
    for _ in range(max_polls):
        got += consumer.poll(timeout_s=1.0, max_records=1000)
        if len(got) >= count:
            break
    return got


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def config(kafka_bootstrap: str, topic_prefix: str) -> KafkaConfig:
    config = kafka_config(kafka_bootstrap, topic_prefix)
    create_topics(config)  # what the pipeline's start-up does with kafka.create_topics
    return config


@pytest.fixture
def producer(config: KafkaConfig) -> Iterator[KafkaProducerTransport]:
    p = KafkaProducerTransport(config, registry=CollectorRegistry())
    p.start()
    assert p.wait_ready(60), "the producer did not connect to the development broker"
    yield p
    p.shutdown(timeout_s=5)


def records_for(trace_ids: list[bytes], signal: Signal = Signal.TRACES) -> list[Record]:
    return [Record(signal, trace_key(t), b"value-" + t) for t in trace_ids]


@pytest.mark.kafka
def test_send_blocks_until_acked_and_consumer_reads_every_record(
    config: KafkaConfig, producer: KafkaProducerTransport, topic_prefix: str
) -> None:
    tids = [os.urandom(16) for _ in range(50)]
    producer.send(records_for(tids) + records_for(tids[:5], Signal.LOGS), timeout_s=30)
    assert producer.ready()
    assert producer.health().ready, producer.health().reason
    consumer = KafkaConsumerTransport(config, group_id=f"{topic_prefix}-g")
    try:
        got = consume_all(consumer, 55)
    finally:
        consumer.shutdown(timeout_s=5)
    traces = [c for c in got if c.record.signal is Signal.TRACES]
    logs = [c for c in got if c.record.signal is Signal.LOGS]
    assert {c.record.key for c in traces} == {trace_key(t) for t in tids}
    assert {c.record.key for c in logs} == {trace_key(t) for t in tids[:5]}
    assert {c.topic for c in traces} == {config.topics.traces}
    for c in got:
        assert c.record.value == b"value-" + codec.decode_key(c.record.key)


@pytest.mark.kafka
@pytest.mark.parametrize("compression", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_the_consumer_reads_what_the_producer_compressed_with_each_codec(
    kafka_bootstrap: str, topic_prefix: str, compression: str
) -> None:
    config = kafka_config(kafka_bootstrap, topic_prefix, compression=compression)
    create_topics(config)
    producer = KafkaProducerTransport(config, registry=CollectorRegistry())
    producer.start()
    tids = [os.urandom(16) for _ in range(100)]
    # span-like values that compress well, so librdkafka keeps the compressed batch
    records = [Record(Signal.TRACES, trace_key(t), b"value-" + t + b"gen_ai.prompt " * 100) for t in tids]
    try:
        assert producer.wait_ready(60)
        producer.send(records, timeout_s=30)
    finally:
        producer.shutdown(timeout_s=5)
    consumer = KafkaConsumerTransport(config, group_id=f"{topic_prefix}-g", signals=(Signal.TRACES,))
    try:
        got = consume_all(consumer, len(records))
    finally:
        consumer.shutdown(timeout_s=5)
    assert sorted((c.record.key, c.record.value) for c in got) == sorted((r.key, r.value) for r in records)
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        stored = sum(
            partition["partition_size"]
            for broker in admin.describe_log_dirs()
            for log_dir in broker["log_dirs"]
            for entry in log_dir["topics"]
            if entry["name"] == config.topics.traces
            for partition in entry["partitions"]
        )
    finally:
        admin.close()
    raw = sum(len(r.key) + len(r.value) for r in records)
    # the batches on the broker were written with the codec (none: the raw bytes plus framing)
    assert stored > raw if compression == "none" else stored < raw / 5


@pytest.mark.kafka
def test_a_traces_records_share_one_partition_chosen_by_murmur2(
    config: KafkaConfig, producer: KafkaProducerTransport, topic_prefix: str
) -> None:
    tid = os.urandom(16)
    producer.send(records_for([tid] * 5), timeout_s=30)
    consumer = KafkaConsumerTransport(config, group_id=f"{topic_prefix}-g", signals=(Signal.TRACES,))
    try:
        got = consume_all(consumer, 5)
    finally:
        consumer.shutdown(timeout_s=5)
    assert len(got) == 5
    # murmur2 of the key: what a Collector with `partitioner: murmur2` would pick as well
    expected = (murmur2(trace_key(tid)) & 0x7FFFFFFF) % config.partitions
    assert {c.partition for c in got} == {expected}


@pytest.mark.kafka
def test_commit_commits_exactly_the_given_offsets(
    config: KafkaConfig, producer: KafkaProducerTransport, topic_prefix: str
) -> None:
    group = f"{topic_prefix}-g"
    producer.send(records_for([os.urandom(16) for _ in range(10)]), timeout_s=30)
    first = KafkaConsumerTransport(config, group_id=group, signals=(Signal.TRACES,))
    try:
        assert len(consume_all(first, 10)) == 10  # polled, never committed
    finally:
        first.shutdown(timeout_s=5)
    second = KafkaConsumerTransport(config, group_id=group, signals=(Signal.TRACES,))
    try:
        again = consume_all(second, 10)
        assert len(again) == 10  # at least once: uncommitted records are read again
        last = {}
        for c in again:
            last[(c.topic, c.partition)] = max(last.get((c.topic, c.partition), -1), c.offset)
        second.commit({position: offset + 1 for position, offset in last.items()})
        assert sum(second.lag().values()) == 0
    finally:
        second.shutdown(timeout_s=5)
    third = KafkaConsumerTransport(config, group_id=group, signals=(Signal.TRACES,))
    try:
        producer.send(records_for([b"\x07" * 16]), timeout_s=30)
        rest = consume_all(third, 1)
    finally:
        third.shutdown(timeout_s=5)
    assert [c.record.key for c in rest] == [trace_key(b"\x07" * 16)]


@pytest.mark.kafka
def test_lag_counts_unread_records_per_partition(
    config: KafkaConfig, producer: KafkaProducerTransport, topic_prefix: str
) -> None:
    consumer = KafkaConsumerTransport(
        config, group_id=f"{topic_prefix}-g", signals=(Signal.TRACES,), max_poll_records=1
    )
    try:
        producer.send(records_for([b"\x01" * 16] * 4), timeout_s=30)
        got = consume_all(consumer, 1)
        assert len(got) == 1
        lag = consumer.lag()
        assert lag[(config.topics.traces, got[0].partition)] == 3
        assert set(lag) == {(config.topics.traces, p) for p in range(config.partitions)}
    finally:
        consumer.shutdown(timeout_s=5)


@pytest.mark.kafka
def test_on_revoke_is_called_when_a_second_member_joins(
    config: KafkaConfig, producer: KafkaProducerTransport, topic_prefix: str
) -> None:
    revoked: list[list[tuple[str, int]]] = []
    group = f"{topic_prefix}-g"
    first = KafkaConsumerTransport(config, group_id=group, signals=(Signal.TRACES,), on_revoke=revoked.append)
    second = KafkaConsumerTransport(config, group_id=group, signals=(Signal.TRACES,))
    try:
        producer.send(records_for([os.urandom(16) for _ in range(20)]), timeout_s=30)
        consume_all(first, 1)
        for _ in range(60):  # both members poll until the group rebalanced onto them
            second.poll(timeout_s=0.5, max_records=100)
            first.poll(timeout_s=0.5, max_records=100)
            if revoked:
                break
    finally:
        second.shutdown(timeout_s=5)
        first.shutdown(timeout_s=5)
    assert revoked, "the first member was never asked to give partitions up"
    assert all(topic == config.topics.traces for batch in revoked for topic, _ in batch)


@pytest.mark.kafka
def test_dead_letters_go_to_the_dlq_topic_with_the_reason(
    config: KafkaConfig, producer: KafkaProducerTransport, topic_prefix: str
) -> None:
    (original,) = records_for([os.urandom(16)])
    dead = codec.dead_letter_record(Consumed(original, config.topics.traces, 0, 7), "undecodable")
    producer.send([dead], timeout_s=30)
    consumer = KafkaConsumerTransport(config, group_id=f"{topic_prefix}-g", signals=(Signal.DEAD_LETTER,))
    try:
        (got,) = consume_all(consumer, 1)
    finally:
        consumer.shutdown(timeout_s=5)
    assert got.topic == config.topics.dead_letter
    assert dict(got.record.headers)[codec.DEAD_LETTER_REASON] == b"undecodable"
    assert got.record.key == original.key


@pytest.mark.kafka
def test_create_topics_creates_only_missing_ones(kafka_bootstrap: str, topic_prefix: str) -> None:
    config = kafka_config(kafka_bootstrap, topic_prefix, partitions=2)
    assert sorted(create_topics(config)) == sorted(
        f"{topic_prefix}_{s}" for s in ("spans", "logs", "results", "dlq")
    )
    assert create_topics(config) == []
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        described = admin.describe_topics([config.topics.traces])
    finally:
        admin.close()
    assert len(described[0]["partitions"]) == 2


@pytest.mark.kafka
def test_producer_never_creates_topics(kafka_bootstrap: str, topic_prefix: str) -> None:
    # not even with kafka.create_topics: that is the pipeline's start-up (pipeline._CreateTopics)
    config = kafka_config(kafka_bootstrap, topic_prefix, create_topics=True)
    producer = KafkaProducerTransport(config, max_block_ms=2000)
    producer.start()
    try:
        assert producer.wait_ready(60)
        with pytest.raises(TransportUnavailable):
            producer.send(records_for([os.urandom(16)]), timeout_s=5)
    finally:
        producer.shutdown(timeout_s=5)
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        assert config.topics.traces not in admin.list_topics()
    finally:
        admin.close()


@pytest.mark.kafka
def test_oversize_record_raises_too_large_and_sends_nothing(config: KafkaConfig, topic_prefix: str) -> None:
    registry = CollectorRegistry()
    producer = KafkaProducerTransport(config, registry=registry, max_request_size=10_000)
    producer.start()
    try:
        assert producer.wait_ready(60)
        assert producer.max_record_bytes == 10_000
        with pytest.raises(TooLarge, match="exceeds"):
            producer.send([Record(Signal.TRACES, b"k" * 32, b"x" * 20_000)], timeout_s=5)
    finally:
        producer.shutdown(timeout_s=5)
    assert registry.get_sample_value("evalstream_transport_send_errors_total", {"reason": "too_large"}) == 1


@pytest.mark.kafka
def test_sent_records_are_counted_per_topic(config: KafkaConfig) -> None:
    registry = CollectorRegistry()
    producer = KafkaProducerTransport(config, registry=registry)
    producer.start()
    try:
        assert producer.wait_ready(60)
        producer.send(records_for([os.urandom(16) for _ in range(3)]), timeout_s=30)
    finally:
        producer.shutdown(timeout_s=5)
    assert (
        registry.get_sample_value("evalstream_transport_sent_records_total", {"topic": config.topics.traces})
        == 3
    )


def test_unreachable_broker_never_raises_at_start_and_send_is_unavailable() -> None:
    config = KafkaConfig(bootstrap_servers=f"127.0.0.1:{free_port()}")
    registry = CollectorRegistry()
    producer = KafkaProducerTransport(config, registry=registry, bootstrap_timeout_ms=500)
    producer.start()
    try:
        assert not producer.wait_ready(1.0)
        assert not producer.ready()
        health = producer.health()
        assert health.live and "not connected to Kafka at 127.0.0.1:" in health.reason
        with pytest.raises(TransportUnavailable, match="not connected to Kafka"):
            producer.send(records_for([os.urandom(16)]), timeout_s=1)
        producer.send([], timeout_s=1)  # nothing to send: nothing to wait for
    finally:
        producer.shutdown(timeout_s=5)
    assert registry.get_sample_value("evalstream_transport_send_errors_total", {"reason": "unavailable"}) == 1
    with pytest.raises(ShuttingDown):
        producer.send(records_for([os.urandom(16)]), timeout_s=1)


def test_lifecycle_shutdown_before_start_and_twice() -> None:
    producer = KafkaProducerTransport(KafkaConfig(bootstrap_servers=f"127.0.0.1:{free_port()}"))
    producer.shutdown(timeout_s=1)
    producer.shutdown(timeout_s=1)
    producer.start()  # after shutdown: stays stopped
    assert not producer.ready()
    consumer = KafkaConsumerTransport(KafkaConfig(bootstrap_servers="127.0.0.1:1"), group_id="g")
    consumer.shutdown(timeout_s=1)
    consumer.shutdown(timeout_s=1)


def test_consumer_reports_an_unreachable_broker_as_unavailable() -> None:
    consumer = KafkaConsumerTransport(
        KafkaConfig(bootstrap_servers=f"127.0.0.1:{free_port()}"), group_id="g", bootstrap_timeout_ms=500
    )
    try:
        assert "not connected yet" in consumer.health().reason
        with pytest.raises(TransportUnavailable, match="cannot reach Kafka"):
            consumer.poll(timeout_s=0.1, max_records=1)
        assert consumer.lag() == {}
        assert not consumer.health().ready and "cannot reach Kafka" in consumer.health().reason
    finally:
        consumer.shutdown(timeout_s=1)


def test_embedded_config_is_refused() -> None:
    with pytest.raises(ValueError, match="bootstrap_servers"):
        KafkaProducerTransport(KafkaConfig())
    with pytest.raises(ValueError, match="bootstrap_servers"):
        KafkaConsumerTransport(KafkaConfig(), group_id="g")


@pytest.mark.kafka
def test_consumer_does_not_create_topics(kafka_bootstrap: str, topic_prefix: str) -> None:
    config = kafka_config(kafka_bootstrap, topic_prefix, create_topics=False)
    consumer = KafkaConsumerTransport(config, group_id=f"{topic_prefix}-g", signals=(Signal.TRACES,))
    try:
        for _ in range(3):
            consumer.poll(timeout_s=0.5, max_records=10)
    finally:
        consumer.shutdown(timeout_s=5)
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        assert config.topics.traces not in admin.list_topics()
    finally:
        admin.close()


class CountingProducer(Producer):
    """A real producer that counts the records handed to it."""

    produced = 0

    def produce(self, *args: Any, **kwargs: Any) -> None:
        super().produce(*args, **kwargs)
        self.produced += 1


def test_shutdown_fails_unacknowledged_sends_and_reports_them(caplog: pytest.LogCaptureFixture) -> None:
    # The broker is away while a send waits for its ack: shutdown flushes for its timeout, then purges
    # what is left, so the waiting sender gets ShuttingDown (never OK) and one warning names the count.
    transport = KafkaProducerTransport(
        KafkaConfig(bootstrap_servers=f"127.0.0.1:{free_port()}"), bootstrap_timeout_ms=200
    )
    transport.start()
    transport._producer = producer = CountingProducer(transport._options)  # connected, then the broker left
    outcome: list[BaseException] = []

    def send() -> None:
        try:
            transport.send(records_for([os.urandom(16) for _ in range(3)]), timeout_s=60)
        except BaseException as exc:
            outcome.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    for _ in range(200):  # until the three records are handed to librdkafka (bounded: 10 s)
        if producer.produced == 3:
            break
        sender.join(0.05)
    assert producer.produced == 3, outcome
    transport.shutdown(timeout_s=1)
    sender.join(30)
    assert not sender.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], ShuttingDown)
    assert "3 records not acknowledged within" in caplog.text, (outcome, caplog.text)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_security_settings_reach_the_producer(tmp_path: pathlib.Path, mechanism: str) -> None:
    certs = make_certs(tmp_path)
    config = KafkaConfig(
        bootstrap_servers="127.0.0.1:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism=mechanism,
        sasl_username="evalstream",
        sasl_password="secret",
        ssl_cafile=str(certs.ca),
    )
    options = librdkafka_options(config)
    assert options == {
        "bootstrap.servers": "127.0.0.1:9093",
        "client.id": "evalstream",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": mechanism,
        "sasl.username": "evalstream",
        "sasl.password": "secret",
        "ssl.ca.location": str(certs.ca),
    }
    Producer(options)  # librdkafka accepts them (it refuses unknown or inconsistent settings here)
    with pytest.raises(KafkaException):
        Producer({**options, "ssl.ca.location": str(tmp_path / "missing.pem")})


def test_the_package_imports_one_kafka_client_library() -> None:
    """kafka-python is the tests' independent client only: no module of the package imports it."""
    code = (
        "import importlib, pkgutil, sys, processor\n"
        "for module in pkgutil.walk_packages(processor.__path__, 'processor.'):\n"
        "    importlib.import_module(module.name)\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('kafka', 'confluent_kafka')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    imported = ast.literal_eval(done.stdout)
    assert "confluent_kafka" in imported
    assert not [name for name in imported if name.split(".")[0] == "kafka"], imported


def test_librdkafka_lines_repeated_while_a_broker_is_away_are_passed_on_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """librdkafka logs a failed connect tens of times a second during an outage: one line per distinct
    text per interval reaches the log, the next one says how many were held back."""
    limited = _RepeatLimitedLog(logging.getLogger("processor.transport.librdkafka"), 0.3)
    failed = "%s [%s] %s"
    args = ("FAIL", "evalstream#consumer-1", "127.0.0.1:9/bootstrap: Connect to ipv4#127.0.0.1:9 failed")
    with caplog.at_level(logging.INFO, logger="processor.transport.librdkafka"):
        for _ in range(50):
            limited.log(logging.ERROR, failed, *args)
        limited.log(logging.ERROR, failed, "FAIL", "evalstream#producer-1", "another text")
        limited.log(logging.DEBUG, "below the logger's level: %s", "dropped, not counted")
        time.sleep(0.35)
        limited.log(logging.ERROR, failed, *args)
    lines = [r.getMessage() for r in caplog.records]
    text = failed % args
    assert lines[:2] == [text, "FAIL [evalstream#producer-1] another text"]
    assert len(lines) == 3 and lines[2].startswith(f"{text} (and 49 times more in "), lines
