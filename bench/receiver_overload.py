"""Benchmark: how fast an overloaded receiver says RESOURCE_EXHAUSTED, next to admitted requests.

Reproduce:  .venv/bin/python bench/receiver_overload.py [--clients 96] [--seconds 5] [--ack-ms 50]

A real Receiver (real gRPC, the real extractor's selection) in front of a producer that acknowledges
after --ack-ms, as a slow broker does; --clients threads export the otel-genai-latest-span fixture
(fresh trace ids) back to back for --seconds, more at once than `receiver.grpc.max_concurrent_requests`
(64) admits. Prints latency percentiles of admitted (OK) and refused (RESOURCE_EXHAUSTED) calls,
measured in this one run, and their ratio: refusals must not queue behind admitted requests.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import threading
import time
from collections.abc import Sequence

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from prometheus_client import CollectorRegistry

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from processor.demo.replay import load_flavour, with_fresh_ids  # noqa: E402
from processor.extract.config import SlicesConfig  # noqa: E402
from processor.receiver.config import GrpcConfig, ReceiverConfig  # noqa: E402
from processor.receiver.service import Receiver  # noqa: E402
from processor.sampler.config import SamplingConfig  # noqa: E402
from processor.sampler.trace_id import TraceIdSampler  # noqa: E402
from processor.transport import Record  # noqa: E402


class SlowAcks:
    """Acknowledges every send after a fixed delay (no CPU spent waiting), like a slow broker."""

    def __init__(self, ack_s: float) -> None:
        self.ack_s = ack_s

    def send(self, records: Sequence[Record], *, timeout_s: float) -> None:
        time.sleep(self.ack_s)

    def ready(self) -> bool:
        return True

    def shutdown(self, timeout_s: float = 10.0) -> None:
        pass


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=96)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--ack-ms", type=float, default=50.0)
    args = parser.parse_args()

    request, _ = load_flavour(REPO / "tests" / "fixtures" / "otlp", "otel-genai-latest-span")
    config = ReceiverConfig(grpc=GrpcConfig(endpoint="127.0.0.1:0"))
    receiver = Receiver(
        config,
        TraceIdSampler(SamplingConfig(rate=1.0)),
        SlicesConfig(),
        SlowAcks(args.ack_ms / 1000),
        CollectorRegistry(),
    )
    receiver.start()
    ok: list[float] = []
    refused: list[float] = []
    other: dict[str, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + args.seconds
    channel = grpc.insecure_channel(f"127.0.0.1:{receiver.port}")
    traces = trace_service_pb2_grpc.TraceServiceStub(channel)

    def client() -> None:
        while time.monotonic() < deadline:
            fresh = with_fresh_ids(request, None)[0]
            started = time.perf_counter()
            try:
                traces.Export(fresh, timeout=30)
                bucket: list[float] | None = ok
            except grpc.RpcError as exc:
                bucket = refused if exc.code() is grpc.StatusCode.RESOURCE_EXHAUSTED else None
                if bucket is None:
                    with lock:
                        other[exc.code().name] = other.get(exc.code().name, 0) + 1
            elapsed = time.perf_counter() - started
            if bucket is not None:
                with lock:
                    bucket.append(elapsed)

    cpu_started = time.process_time()
    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu_s = time.process_time() - cpu_started
    channel.close()
    receiver.shutdown(timeout_s=5)

    ms = 1000.0
    print(
        f"{args.clients} clients for {args.seconds:g}s, acks after {args.ack_ms:g} ms, "
        f"max_concurrent_requests {config.grpc.max_concurrent_requests}, process CPU {cpu_s:.1f}s"
    )
    print(
        f"  admitted (OK):        {len(ok):6d}  p50 {percentile(ok, 0.5) * ms:7.1f} ms  "
        f"p99 {percentile(ok, 0.99) * ms:7.1f} ms"
    )
    print(
        f"  refused (EXHAUSTED):  {len(refused):6d}  p50 {percentile(refused, 0.5) * ms:7.1f} ms  "
        f"p99 {percentile(refused, 0.99) * ms:7.1f} ms"
    )
    if other:
        print(f"  other statuses: {other}")
    if ok and refused:
        print(
            f"  refusal p50 / admitted p50 = {statistics.median(refused) / statistics.median(ok):.2f} "
            "(refusals answered without waiting behind admitted requests when well below 1)"
        )
    print("reproduce: .venv/bin/python bench/receiver_overload.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
