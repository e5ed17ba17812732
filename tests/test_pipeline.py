"""The pipeline as a whole: supervision (a dead part's thread ends the process with 1) and shutdown in
flow order (every request answered OK before SIGTERM is scored), embedded and through Kafka."""

from __future__ import annotations

import pathlib
import re
import signal
import threading
import time
from collections.abc import Callable

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from processor.config import parse
from processor.demo.replay import load_flavour, trace_ids, with_fresh_ids
from processor.model import EvalCase, Score
from processor.pipeline import build, supervise
from tests.conftest import FIXTURES
from tests.kafka_broker import kafka_section, topic_keys
from tests.processes import http_get, run_processor, wait_for

#: Two traces, one LLM call each, in every request.
FIXTURE_TRACES, _ = load_flavour(FIXTURES, "otel-genai-latest-span")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_part_thread_fails_liveness_first_and_the_supervisor_exits_1() -> None:
    config = parse(
        {
            "receiver": {"grpc": {"endpoint": "127.0.0.1:0"}},
            "metrics": {"endpoint": "127.0.0.1:0"},
            "worker": {"poll_timeout_s": 0.1},
        }
    )
    pipeline = build(config)
    pipeline.start()
    try:
        healthz = f"http://127.0.0.1:{pipeline.metrics_server.port}/healthz"
        wait_for(lambda: http_get(healthz)[0] == 200, timeout_s=10, what="alive")
        healthy = threading.Event()
        threading.Timer(0.3, healthy.set).start()
        assert supervise(pipeline, healthy, interval_s=0.05) == 0  # all live: only the stop ends it

        def a_bug() -> int:
            raise RuntimeError("a bug outside every guard")

        pipeline.worker.step = a_bug  # the loop's next turn kills its thread
        _, body = wait_for(
            lambda: (r := http_get(healthz))[0] == 503 and r, timeout_s=10, what="/healthz to fail"
        )
        assert "worker: the worker thread exited" in body
        stop = threading.Event()
        started = time.monotonic()
        assert supervise(pipeline, stop, interval_s=0.05) == 1
        assert time.monotonic() - started < 5
    finally:
        pipeline.stop()


def test_parts_start_back_to_front_and_every_one_is_shut_down_in_flow_order() -> None:
    config = parse(
        {
            "receiver": {"grpc": {"endpoint": "127.0.0.1:0"}, "http": {"endpoint": "127.0.0.1:0"}},
            "metrics": {"endpoint": "127.0.0.1:0"},
            "worker": {"stamp_endpoint": "127.0.0.1:1", "poll_timeout_s": 0.1},
        }
    )
    pipeline = build(config)
    names = [name for name, _ in pipeline.parts]
    assert names == [
        "cpu-affinity",  # first, so the threads the others start inherit its placement
        "metrics",
        "flow-summary",
        "memory-queue",
        "score-stamper",
        "worker",
        "receiver",
        "receiver-http",
    ]
    stopped: list[str] = []
    for name, part in pipeline.parts:
        real = part.shutdown

        def shutdown(name: str = name, real: Callable[[], None] = real) -> None:
            stopped.append(name)
            real()

        part.shutdown = shutdown  # type: ignore[method-assign]
    pipeline.start()
    pipeline.stop()
    assert stopped == names[::-1]
    assert pipeline.worker is not None and pipeline.worker.stamper is not None
    with pytest.raises(ValueError, match="closed"):  # the score-event channel is closed
        pipeline.worker.stamper.export([(EvalCase(input="q", output="a"), Score.skipped("s", "r"))])
    assert not pipeline.worker.consumer.ready()  # the in-process queue is closed


def send_until_refused(endpoint: str, accepted: list[bytes], stop: threading.Event) -> None:
    """Export fixture requests (fresh trace ids) back to back; record the trace ids answered OK; end at
    the first error."""
    with grpc.insecure_channel(endpoint) as channel:
        traces = trace_service_pb2_grpc.TraceServiceStub(channel)
        while not stop.is_set():
            request = with_fresh_ids(FIXTURE_TRACES, None)[0]
            sent_ids = trace_ids(request)
            try:
                traces.Export(request, timeout=10)
            except grpc.RpcError:
                return
            accepted.extend(sent_ids)


def sigterm_under_load(processor: object, *, senders: int = 4, load_s: float = 2.0) -> list[bytes]:
    """Load the processor from `senders` threads, SIGTERM it mid-stream, return the trace ids answered OK."""
    accepted: list[bytes] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=send_until_refused, args=(processor.grpc_endpoint, accepted, stop))  # type: ignore[attr-defined]
        for _ in range(senders)
    ]
    for t in threads:
        t.start()
    time.sleep(load_s)
    processor.process.send_signal(signal.SIGTERM)  # type: ignore[attr-defined]
    time.sleep(3)  # the senders meet the grace period, then refusals
    stop.set()
    for t in threads:
        t.join(30)
    processor.process.wait(timeout=60)  # type: ignore[attr-defined]
    return accepted


def test_sigterm_embedded_every_request_answered_ok_is_scored(tmp_path: pathlib.Path) -> None:
    # A long assembly window: at SIGTERM nearly every accepted trace is still open or queued.
    config = {"sampling": {"rate": 1.0}, "worker": {"assembly_window_s": 30.0}}
    with run_processor(tmp_path, config) as processor:
        accepted = sigterm_under_load(processor)
    assert processor.process.returncode == 0
    assert len(accepted) > 20, "the load should have been accepted for a while"
    scored = re.findall(r"worker: stopped; (\d+) cases scored since start", processor.log())
    assert scored, processor.log()[-3000:]
    # one LLM call per trace: every trace answered OK became a scored case
    assert int(scored[0]) >= len(accepted), f"{scored[0]} cases scored, {len(accepted)} requests accepted"


@pytest.mark.kafka
def test_sigterm_kafka_every_request_answered_ok_is_scored(
    tmp_path: pathlib.Path, kafka_bootstrap: str, topic_prefix: str
) -> None:
    config = {
        "sampling": {"rate": 1.0},
        "kafka": kafka_section(kafka_bootstrap, topic_prefix, create_topics=True, partitions=3),
        "worker": {"group_id": f"{topic_prefix}-workers", "assembly_window_s": 30.0},
    }
    with run_processor(tmp_path, config) as processor:
        accepted = sigterm_under_load(processor)
    assert processor.process.returncode == 0, processor.log()[-3000:]
    assert len(accepted) > 20
    scored = topic_keys(
        kafka_bootstrap, f"{topic_prefix}_results", expect={t.hex() for t in accepted}, timeout_s=60
    )
    missing = {t.hex() for t in accepted} - scored
    assert not missing, f"{len(missing)} of {len(accepted)} accepted traces were not scored"
