"""A fuzz run against a real receiver (real gRPC, the real extractor's selection, the in-process queue):
a few thousand mutations of the bundled fixtures, each answered with a status of the README's table,
never INTERNAL, never a crash, and nothing undecodable put on the transport."""

from __future__ import annotations

import pathlib
import random
from collections.abc import Callable, Iterator

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from prometheus_client import CollectorRegistry

from processor.extract.config import SlicesConfig
from processor.receiver.config import GrpcConfig, ReceiverConfig
from processor.receiver.service import Receiver
from processor.sampler.config import SamplingConfig
from processor.sampler.trace_id import TraceIdSampler
from processor.transport import codec
from processor.transport.memory import MemoryTransport
from tests.receiver.helpers import Stubs

RUNS = 3000
SEED = 20261130
#: Statuses the table allows for client input (UNAVAILABLE would mean the transport, not the input).
ALLOWED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED}

Mutation = Callable[[random.Random, bytes, list[bytes]], bytes]


def flip_bytes(rng: random.Random, body: bytes, _: list[bytes]) -> bytes:
    out = bytearray(body)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def truncate(rng: random.Random, body: bytes, _: list[bytes]) -> bytes:
    return body[: rng.randrange(len(body))]


def insert_random(rng: random.Random, body: bytes, _: list[bytes]) -> bytes:
    at = rng.randrange(len(body) + 1)
    return body[:at] + rng.randbytes(rng.randint(1, 32)) + body[at:]


def duplicate_chunk(rng: random.Random, body: bytes, _: list[bytes]) -> bytes:
    start = rng.randrange(len(body))
    chunk = body[start : start + rng.randint(1, 200)]
    at = rng.randrange(len(body) + 1)
    return body[:at] + chunk * rng.randint(1, 20) + body[at:]


def splice(rng: random.Random, body: bytes, corpus: list[bytes]) -> bytes:
    other = rng.choice(corpus)
    return body[: rng.randrange(len(body) + 1)] + other[rng.randrange(len(other) + 1) :]


def concatenate(rng: random.Random, body: bytes, corpus: list[bytes]) -> bytes:
    return body + rng.choice(corpus) * rng.randint(1, 3)  # a valid protobuf merge of several requests


def structured(rng: random.Random, body: bytes, _: list[bytes]) -> bytes:
    """Well-formed protobuf with hostile values: odd id lengths, over-deep attributes, zero ids."""
    try:
        request: ExportTraceServiceRequest | ExportLogsServiceRequest = ExportTraceServiceRequest.FromString(
            body
        )
        items = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    except Exception:
        return body
    if not items:
        request = ExportLogsServiceRequest.FromString(body)
        items = [r for rl in request.resource_logs for sl in rl.scope_logs for r in sl.log_records]
    if not items:
        return body
    item = rng.choice(items)
    choice = rng.randrange(5)
    if choice == 0:
        item.trace_id = rng.randbytes(rng.choice([0, 1, 15, 16, 17, 32]))
    elif choice == 1:
        item.span_id = rng.randbytes(rng.choice([0, 7, 8, 9]))
    elif choice == 2:
        item.trace_id = b"\0" * 16
    else:
        value = AnyValue(string_value="leaf")
        for _ in range(rng.randint(20, 60)):
            outer = AnyValue()
            if choice == 3:
                outer.kvlist_value.values.add(key="k").value.CopyFrom(value)
            else:
                outer.array_value.values.add().CopyFrom(value)
            value = outer
        item.attributes.add(key=rng.choice(["gen_ai.prompt", "tool.arguments", "x"])).value.CopyFrom(value)
    return request.SerializeToString()


MUTATIONS: list[Mutation] = [
    flip_bytes,
    truncate,
    insert_random,
    duplicate_chunk,
    splice,
    concatenate,
    structured,
]


@pytest.fixture
def receiver_and_queue() -> Iterator[tuple[Receiver, MemoryTransport, CollectorRegistry]]:
    memory = MemoryTransport(max_records=100_000)
    registry = CollectorRegistry()
    receiver = Receiver(
        ReceiverConfig(grpc=GrpcConfig(endpoint="127.0.0.1:0")),
        TraceIdSampler(SamplingConfig(rate=1.0)),
        SlicesConfig(),
        memory,
        registry,
    )
    receiver.start()
    yield receiver, memory, registry
    receiver.shutdown(timeout_s=2)


def test_mutated_fixtures_get_only_table_statuses_and_never_crash(
    receiver_and_queue: tuple[Receiver, MemoryTransport, CollectorRegistry], otlp_fixtures: pathlib.Path
) -> None:
    receiver, memory, registry = receiver_and_queue
    traces = [p.read_bytes() for p in sorted(otlp_fixtures.glob("*.traces.pb"))]
    logs = [p.read_bytes() for p in sorted(otlp_fixtures.glob("*.logs.pb"))]
    rng = random.Random(SEED)
    assert receiver.port
    stubs = Stubs(receiver.port)
    codes: dict[grpc.StatusCode, int] = {}
    try:
        for run in range(RUNS):
            is_logs = rng.random() < 0.3
            corpus = logs if is_logs else traces
            body = rng.choice(MUTATIONS)(rng, rng.choice(corpus), corpus)
            call = stubs.raw_logs if is_logs else stubs.raw_traces
            try:
                call(body, timeout=10)
                code = grpc.StatusCode.OK
            except grpc.RpcError as exc:
                code = exc.code()
            codes[code] = codes.get(code, 0) + 1
            assert code in ALLOWED, f"run {run} (seed {SEED}): {code} for {body!r}"
            if run % 200 == 0:
                for consumed in memory.poll(timeout_s=0.01, max_records=100_000):
                    kind = codec.REQUEST_TYPE[consumed.record.signal]
                    codec.decode(consumed.record.value, kind)  # nothing the worker cannot read was accepted
    finally:
        stubs.close()
    print(f"{RUNS} mutated requests (seed {SEED}): { ({c.name: n for c, n in codes.items()}) }")
    assert codes.get(grpc.StatusCode.OK, 0) > RUNS // 10, codes  # the mutations did not all break decoding
    assert codes.get(grpc.StatusCode.INVALID_ARGUMENT, 0) > RUNS // 10, codes
    assert registry.get_sample_value("evalstream_receiver_failed_spans_total") == 0
    assert registry.get_sample_value("evalstream_receiver_failed_log_records_total") == 0
