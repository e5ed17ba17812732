"""Missing Kafka topics, against the real broker: one clear line naming the topic and both fixes, not
ready while missing, exports refused at once with that message, ready once the topics exist."""

from __future__ import annotations

import logging
import pathlib
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kafka import KafkaAdminClient

from processor.transport import Record, Signal
from processor.transport.config import KafkaConfig, TopicsConfig
from processor.transport.topics import TopicCheck, TopicCheckedProducer
from tests.kafka_broker import kafka_section
from tests.processes import http_get, run_processor, wait_for
from tests.receiver.helpers import Stubs, random_trace_id, trace_request

pytestmark = pytest.mark.kafka

LIBRDKAFKA = "processor.transport.librdkafka"  #: the logger our clients give librdkafka
MISSING_LINE = "kafka consumer: Subscribed topic not available: %s: Broker: Unknown topic or partition"


def kafka_config(bootstrap: str, prefix: str) -> KafkaConfig:
    topics = TopicsConfig(
        traces=f"{prefix}_spans",
        logs=f"{prefix}_logs",
        results=f"{prefix}_results",
        dead_letter=f"{prefix}_dlq",
    )
    return KafkaConfig(bootstrap_servers=bootstrap, topics=topics)


def create(bootstrap: str, partitions: dict[str, int]) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics(
            {name: {"num_partitions": n, "replication_factor": 1} for name, n in partitions.items()},
            wait_for_metadata=True,
        )
    finally:
        admin.close()


class _NeverCalled:
    max_record_bytes = 1000

    def send(self, records, *, timeout_s):  # type: ignore[no-untyped-def]
        raise AssertionError("a send to a missing topic must not reach the Kafka producer")

    def ready(self) -> bool:
        return True

    def shutdown(self, timeout_s: float = 10.0) -> None:
        pass


def test_missing_topics_are_named_once_with_both_fixes_then_found_once_created(
    kafka_bootstrap: str, topic_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = kafka_config(kafka_bootstrap, topic_prefix)
    check = TopicCheck(config, (Signal.TRACES, Signal.LOGS), recheck_interval_s=0.2)
    producer = TopicCheckedProducer(_NeverCalled(), check, (Signal.TRACES, Signal.LOGS))
    assert not producer.ready()  # not checked yet: not ready
    with caplog.at_level(logging.INFO):
        check.start()
        try:
            assert check.wait_checked(30)
            assert check.missing == {f"{topic_prefix}_spans", f"{topic_prefix}_logs"}
            assert not check.ready() and not producer.ready()
            started = time.monotonic()
            with pytest.raises(Exception) as refused:
                producer.send([Record(Signal.TRACES, b"k", b"v")], timeout_s=10)
            assert time.monotonic() - started < 0.5  # at once, not after librdkafka's metadata wait
            message = str(refused.value)
            assert type(refused.value).__name__ == "TransportUnavailable"
            assert (
                f"Kafka topic {topic_prefix}_spans (kafka.topics.traces) does not exist at {kafka_bootstrap}"
                in message
            )
            assert "kafka.create_topics: true" in message and "kafka-topics.sh --create" in message
            # librdkafka's repeated line about a topic we reported is hidden; others pass
            logging.getLogger(LIBRDKAFKA).warning(MISSING_LINE, f"{topic_prefix}_spans")
            logging.getLogger(LIBRDKAFKA).warning(MISSING_LINE, "some_other_topic")
            time.sleep(0.6)  # a few re-checks: the missing-topic line must still be there only once

            create(kafka_bootstrap, {f"{topic_prefix}_spans": 3, f"{topic_prefix}_logs": 2})
            wait_for(check.ready, timeout_s=30, what="the check to see the created topics")
            assert producer.ready()
        finally:
            check.shutdown(5)
    lines = [r.getMessage() for r in caplog.records]
    missing_lines = [line for line in lines if "do not exist" in line or "does not exist" in line]
    assert len(missing_lines) == 1, missing_lines
    assert missing_lines[0].startswith(f"Kafka topics {topic_prefix}_logs, {topic_prefix}_spans ")
    assert "Subscribed topic not available" not in "\n".join(line for line in lines if topic_prefix in line)
    assert MISSING_LINE % "some_other_topic" in lines
    assert check.partitions == {f"{topic_prefix}_spans": 3, f"{topic_prefix}_logs": 2}
    assert any(
        f"{topic_prefix}_spans has 3 partitions but {topic_prefix}_logs has 2" in line for line in lines
    ), "unequal partition counts must be warned about"


def _role_config(kafka_bootstrap: str, topic_prefix: str) -> dict[str, object]:
    return {
        "kafka": kafka_section(kafka_bootstrap, topic_prefix),
        "sampling": {"rate": 1},
    }


def test_receiver_without_topics_is_not_serving_and_refuses_exports_at_once(
    tmp_path: pathlib.Path, kafka_bootstrap: str, topic_prefix: str
) -> None:
    config = _role_config(kafka_bootstrap, topic_prefix)
    with run_processor(tmp_path, config, role="receiver", wait_ready=False) as receiver:
        wait_for(
            lambda: "does not exist" in receiver.log() or "do not exist" in receiver.log(),
            timeout_s=30,
            what="the topic line",
        )
        status, _ = http_get(receiver.metrics_url + "/readyz")
        assert status == 503
        port = int(receiver.grpc_endpoint.rsplit(":", 1)[1])
        stubs = Stubs(port)
        health = health_pb2_grpc.HealthStub(stubs.channel)
        wait_for(
            lambda: (
                health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status
                == health_pb2.HealthCheckResponse.NOT_SERVING
            ),
            timeout_s=10,
            what="gRPC health NOT_SERVING",
        )
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as refused:
            stubs.traces.Export(trace_request([random_trace_id()]), timeout=15)
        took = time.monotonic() - started
        stubs.channel.close()
        time.sleep(1.5)  # let librdkafka refresh its metadata a few times
        log = receiver.log()
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    assert f"Kafka topic {topic_prefix}_spans (kafka.topics.traces) does not exist" in refused.value.details()
    assert "kafka.create_topics: true" in refused.value.details()
    assert took < 2.0, f"refused after {took:.1f}s, not at once"
    topic_lines = [line for line in log.splitlines() if topic_prefix in line]
    assert len(topic_lines) == 1, topic_lines  # one clear line, nothing from librdkafka
    assert "ERROR processor.transport.topics: Kafka topics" in topic_lines[0]
    assert "(--set kafka.create_topics=true)" in topic_lines[0]


def test_worker_without_topics_says_so_once_and_is_not_ready(
    tmp_path: pathlib.Path, kafka_bootstrap: str, topic_prefix: str
) -> None:
    config = _role_config(kafka_bootstrap, topic_prefix)
    with run_processor(tmp_path, config, role="worker", wait_ready=False) as worker:
        wait_for(lambda: "do not exist" in worker.log(), timeout_s=30, what="the topic line")
        time.sleep(3)  # the consumer's group join and metadata refreshes would log about the topics now
        assert http_get(worker.metrics_url + "/readyz")[0] == 503
        log = worker.log()
    topic_lines = [line for line in log.splitlines() if topic_prefix in line]
    assert len(topic_lines) == 1, topic_lines
    for topic in ("spans", "logs", "results", "dlq"):
        assert f"{topic_prefix}_{topic}" in topic_lines[0]
    assert "kafka.topics.dead_letter" in topic_lines[0]


def test_librdkafka_lines_about_our_topics_are_held_back_until_the_first_answer() -> None:
    """The consumer can read "Subscribed topic not available" before the check's first answer; that
    line must not slip through then, nor once the topic is known to be missing, and must pass once it
    exists. librdkafka's other lines always pass."""
    config = kafka_config("127.0.0.1:1", "early")
    check = TopicCheck(config, [Signal.TRACES])
    librdkafka = logging.getLogger(LIBRDKAFKA)
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    handler = Collect()
    librdkafka.addHandler(handler)
    check_filter = check._filter
    librdkafka.addFilter(check_filter)
    try:
        librdkafka.warning(MISSING_LINE, "early_spans")  # before any answer
        librdkafka.warning(MISSING_LINE, "someone_elses")  # not ours
        librdkafka.warning("%s [%s] %s", "FAIL", "rdkafka#consumer-1", "early_spans: broker down")  # other
        check.missing = frozenset({"early_spans"})
        check._checked.set()
        librdkafka.warning(MISSING_LINE, "early_spans")  # known missing
        librdkafka.warning(MISSING_LINE, "early_spans_2")  # a longer name is another topic
        check.missing = frozenset()
        librdkafka.warning(MISSING_LINE, "early_spans")  # exists now
    finally:
        librdkafka.removeFilter(check_filter)
        librdkafka.removeHandler(handler)
    assert seen == [
        MISSING_LINE % "someone_elses",
        "FAIL [rdkafka#consumer-1] early_spans: broker down",
        MISSING_LINE % "early_spans_2",
        MISSING_LINE % "early_spans",
    ]
