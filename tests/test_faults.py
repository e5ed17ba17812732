"""Fault tests through real processes and a broker of their own (never the shared one), bounded in time:
a broker stopped and restarted on the same address with its data under load, and a 2-minute outage
for an idle worker.

Each test takes minutes (the faults are slow by nature); both share one broker.
"""

from __future__ import annotations

import pathlib
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from processor.demo.replay import load_flavour, trace_ids, with_fresh_ids
from tests.conftest import FIXTURES
from tests.kafka_broker import own_broker, restart_broker, stop_broker, topic_keys
from tests.processes import RunningProcessor, http_get, run_processor, wait_for

pytestmark = pytest.mark.kafka

#: Two traces, one LLM call each, per request.
FIXTURE_TRACES, _ = load_flavour(FIXTURES, "otel-genai-latest-span")
OUTAGE_UNDER_LOAD_S = 35.0  # longer than the producer's delivery timeout (30 s): batches expire
IDLE_OUTAGE_S = 120.0
RECOVERY_LIMIT_S = 30.0
HEALTH_LIMIT_S = 6.0  # 5 s without an ack or a metadata refresh, plus the probe's granularity


@dataclass
class Broker:
    address: str
    run_dir: pathlib.Path

    @property
    def port(self) -> str:
        return self.address.rpartition(":")[2]

    def stop(self) -> None:
        stop_broker(self.run_dir, self.port, keep_data=True)

    def restart(self) -> None:
        restart_broker(self.run_dir, self.port)


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    with own_broker() as (address, run_dir):
        yield Broker(address, run_dir)


def config_for(address: str, prefix: str) -> dict[str, Any]:
    return {
        "sampling": {"rate": 1.0},
        "kafka": {
            "bootstrap_servers": address,
            "create_topics": True,
            "partitions": 3,
            "topics": {
                "traces": f"{prefix}_spans",
                "logs": f"{prefix}_logs",
                "results": f"{prefix}_results",
                "dead_letter": f"{prefix}_dlq",
            },
        },
        "worker": {"group_id": f"{prefix}-workers", "assembly_window_s": 1.0},
    }


@dataclass
class Load:
    """Paced exports from a few threads: which traces were answered OK, and when."""

    endpoint: str
    accepted: list[bytes] = field(default_factory=list)
    ok_times: list[float] = field(default_factory=list)
    codes: dict[str, int] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self, senders: int = 2, pause_s: float = 0.02) -> None:
        for _ in range(senders):
            thread = threading.Thread(target=self._send, args=(pause_s,))
            thread.start()
            self.threads.append(thread)

    def _send(self, pause_s: float) -> None:
        with grpc.insecure_channel(self.endpoint) as channel:
            traces = trace_service_pb2_grpc.TraceServiceStub(channel)
            while not self.stop.is_set():
                request = with_fresh_ids(FIXTURE_TRACES, None)[0]
                sent_ids = trace_ids(request)
                try:
                    traces.Export(request, timeout=15)
                    code = "OK"
                    self.accepted.extend(sent_ids)
                    self.ok_times.append(time.monotonic())
                except grpc.RpcError as exc:
                    code = exc.code().name
                    self.stop.wait(0.2)  # a client backs off
                self.codes[code] = self.codes.get(code, 0) + 1
                self.stop.wait(pause_s)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


def readiness(processor: RunningProcessor) -> int:
    return http_get(processor.metrics_url + "/readyz", timeout=2)[0]


def wait_until_ready_again(processor: RunningProcessor, timeout_s: float = 30) -> None:
    """Wait for /readyz to pass; on time-out, say which part was not ready, and the log's tail."""
    last_answer = ""

    def ready() -> bool:
        nonlocal last_answer
        status, body = http_get(processor.metrics_url + "/readyz", timeout=2)
        last_answer = f"{status} {body!r}"
        return status == 200

    try:
        wait_for(ready, timeout_s=timeout_s, what="/readyz to pass again")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; it last said {last_answer}\n{processor.log()[-4000:]}") from None


def time_until_not_ready(processor: RunningProcessor) -> float:
    """Seconds from now (the broker just stopped) until /readyz says 503."""
    started = time.monotonic()
    wait_for(lambda: readiness(processor) == 503, timeout_s=30, what="/readyz to fail", interval_s=0.1)
    return time.monotonic() - started


def test_broker_restart_under_load_loses_nothing_accepted_and_recovers_within_30s(
    tmp_path: pathlib.Path, broker: Broker
) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    with run_processor(tmp_path, config_for(broker.address, prefix)) as processor:
        load = Load(processor.grpc_endpoint)
        load.start()
        try:
            wait_for(lambda: len(load.accepted) >= 50, timeout_s=60, what="some load accepted")
            broker.stop()
            stopped = time.monotonic()
            health_delay_s = time_until_not_ready(processor)
            time.sleep(max(0.0, OUTAGE_UNDER_LOAD_S - (time.monotonic() - stopped)))
            broker.restart()
            back = time.monotonic()
            wait_for(
                lambda: any(t > back for t in load.ok_times),
                timeout_s=RECOVERY_LIMIT_S + 30,
                what="an export answered OK after the broker came back",
            )
            recovery_s = min(t for t in load.ok_times if t > back) - back
            wait_until_ready_again(processor)
            time.sleep(3)  # some load after recovery
        finally:
            load.finish()
        accepted = {t.hex() for t in load.accepted}
        on_topic = topic_keys(broker.address, f"{prefix}_spans", expect=accepted)
        scored = topic_keys(broker.address, f"{prefix}_results", expect=accepted)
    log = processor.log()
    print(
        f"accepted {len(accepted)} traces, on topic {len(accepted & on_topic)}, "
        f"scored {len(accepted & scored)}; /readyz failed {health_delay_s:.1f}s after the broker stopped; "
        f"recovery {recovery_s:.1f}s after the broker was back; "
        f"statuses {load.codes}"
    )
    assert recovery_s <= RECOVERY_LIMIT_S
    assert health_delay_s <= HEALTH_LIMIT_S
    assert accepted - on_topic == set(), "traces answered OK are missing from the topic"
    assert accepted - scored == set(), "traces answered OK were not scored"
    # retryable answers only (a client deadline may pass on a busy machine: also retried)
    assert set(load.codes) <= {"OK", "UNAVAILABLE", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED"}, load.codes
    assert "Traceback" not in log, log[-5000:]


def test_an_idle_worker_survives_a_two_minute_outage_and_scores_the_next_case(
    tmp_path: pathlib.Path, broker: Broker
) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    with run_processor(tmp_path, config_for(broker.address, prefix)) as processor:
        channel = grpc.insecure_channel(processor.grpc_endpoint)
        traces = trace_service_pb2_grpc.TraceServiceStub(channel)
        try:
            before = with_fresh_ids(FIXTURE_TRACES, None)[0]
            before_ids = trace_ids(before)
            traces.Export(before, timeout=15)
            topic_keys(broker.address, f"{prefix}_results", expect={t.hex() for t in before_ids})
            broker.stop()
            health_delay_s = time_until_not_ready(processor)
            print(f"/readyz failed {health_delay_s:.1f}s after the broker stopped")
            deadline = time.monotonic() + IDLE_OUTAGE_S
            while time.monotonic() < deadline:  # alive all along: no thread died, no exit
                assert processor.process.poll() is None, processor.log()[-5000:]
                assert http_get(processor.metrics_url + "/healthz", timeout=2)[0] == 200
                time.sleep(5)
            broker.restart()
            after = with_fresh_ids(FIXTURE_TRACES, None)[0]
            after_ids = trace_ids(after)

            def exported() -> bool:
                try:
                    traces.Export(after, timeout=15)
                except grpc.RpcError:
                    return False
                return True

            wait_for(
                exported, timeout_s=RECOVERY_LIMIT_S + 30, what="the export after the outage", interval_s=1
            )
            assert health_delay_s <= HEALTH_LIMIT_S
            expect = {t.hex() for t in after_ids}
            assert expect <= topic_keys(broker.address, f"{prefix}_results", expect=expect, timeout_s=120)
            wait_until_ready_again(processor)
        finally:
            channel.close()
    assert "Traceback" not in processor.log(), processor.log()[-5000:]
