"""deploy/local/kafka.sh and the broker fixture, against real brokers."""

from __future__ import annotations

import collections
import pathlib
import subprocess
import tempfile

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from tests.kafka_broker import KAFKA_SH, kafka_broker, start_broker, stop_broker

pytestmark = pytest.mark.kafka


def test_round_trip_keeps_every_record_and_key_partitioning(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}-roundtrip"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    admin.close()

    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
    sent = {}
    for i in range(1000):
        key, value = f"key-{i % 97}".encode(), f"value-{i}".encode()
        sent[value] = key
        producer.send(topic, key=key, value=value)
    producer.flush(timeout=60)
    producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{topic_prefix}-group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=15000,
    )
    received = {}
    partitions_of_key: dict[bytes, set[int]] = collections.defaultdict(set)
    for message in consumer:
        received[message.value] = message.key
        partitions_of_key[message.key].add(message.partition)
        if len(received) == len(sent):
            break
    consumer.commit()
    consumer.close()

    assert received == sent
    assert all(len(p) == 1 for p in partitions_of_key.values()), "a key was spread over partitions"
    assert len({p for ps in partitions_of_key.values() for p in ps}) == 3, (
        "97 keys should use all 3 partitions"
    )


def test_fixture_reuses_kafka_bootstrap_servers(tmp_path: pathlib.Path) -> None:
    # A script that fails loudly proves nothing was started when the variable is set.
    tripwire = tmp_path / "kafka.sh"
    tripwire.write_text("#!/bin/sh\necho started >> " + str(tmp_path / "calls") + "\nexit 1\n")
    tripwire.chmod(0o755)
    with kafka_broker({"KAFKA_BOOTSTRAP_SERVERS": "broker-a:9092,broker-b:9092"}, script=tripwire) as address:
        assert address == "broker-a:9092,broker-b:9092"
    assert not (tmp_path / "calls").exists()
    with pytest.raises(RuntimeError, match="start failed"), kafka_broker({}, script=tripwire):
        pass
    assert (tmp_path / "calls").read_text() == "started\n"


def _java_pids_for(run_dir: pathlib.Path) -> list[str]:
    done = subprocess.run(["pgrep", "-f", str(run_dir)], capture_output=True, text=True, check=False)
    return done.stdout.split()


def test_start_twice_gives_two_brokers_and_stop_leaves_no_java() -> None:
    run_dir = pathlib.Path(tempfile.mkdtemp(prefix="evalstream-kafka-twice-"))
    try:
        first = start_broker(run_dir)
        second = start_broker(run_dir)
        assert first != second
        for address in (first, second):
            producer = KafkaProducer(bootstrap_servers=address, acks="all")
            metadata = producer.send("twice", b"hello").get(timeout=30)
            assert metadata.offset >= 0
            producer.close()
        assert len(_java_pids_for(run_dir)) == 2
    finally:
        stop_broker(run_dir)
    assert _java_pids_for(run_dir) == []
    assert list(run_dir.iterdir()) == []
    assert KAFKA_SH.exists()
