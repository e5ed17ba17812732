"""OTLP/HTTP over a real cheroot server with the in-process transport: every status, encodings, JSON, SDK."""

from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import os
import pathlib
import socket
import subprocess
import zlib
from collections.abc import Iterator
from typing import Any

import cramjam
import lz4.frame
import pytest
import zstandard
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from prometheus_client import CollectorRegistry

from processor.demo.replay import FLAVOURS, load_flavour, otlp_json, replay_http
from processor.errors import ShuttingDown, TransportFull, TransportUnavailable
from processor.extract.config import SlicesConfig
from processor.receiver.config import GrpcConfig, HttpConfig, ReceiverConfig
from processor.receiver.http import REQUEST_TYPES, HttpReceiver, decompress, json_to_protobuf
from processor.receiver.service import Receiver
from processor.sampler.config import SamplingConfig
from processor.sampler.trace_id import TraceIdSampler
from processor.transport import Record, Signal, codec
from processor.transport.memory import MemoryTransport
from tests.processes import run_processor
from tests.receiver import fakes
from tests.receiver.helpers import logs_request, random_trace_id, trace_request
from tests.receiver.test_service import FailingProducer, drain
from tests.test_e2e import assert_fixture_metrics

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


def http_pair(
    config: ReceiverConfig, producer: Any, registry: CollectorRegistry
) -> tuple[Receiver, HttpReceiver]:
    """A Receiver with the fake selections (every trace kept) and its OTLP/HTTP server, neither started."""
    receiver = Receiver(
        config,
        TraceIdSampler(SamplingConfig(rate=1.0)),
        SlicesConfig(),
        producer,
        registry,
        select_traces=fakes.select_traces,
        select_logs=fakes.select_logs,
        health_interval_s=3600,
    )
    return receiver, HttpReceiver(receiver, config.http)


def make_http(
    producer: Any, registry: CollectorRegistry, **http_options: Any
) -> tuple[Receiver, HttpReceiver]:
    config = ReceiverConfig(
        grpc=GrpcConfig(endpoint="127.0.0.1:0"),
        http=HttpConfig(endpoint="127.0.0.1:0", **http_options),
        send_timeout_s=5.0,
    )
    return http_pair(config, producer, registry)


@contextlib.contextmanager
def serving(config: ReceiverConfig, registry: CollectorRegistry) -> Iterator[tuple[Receiver, HttpReceiver]]:
    """Both servers of `config` started over an in-process queue; shut down on leaving."""
    receiver, http_receiver = http_pair(config, MemoryTransport(max_records=100), registry)
    receiver.start()
    http_receiver.start()
    try:
        yield receiver, http_receiver
    finally:
        http_receiver.shutdown(2)
        receiver.shutdown(2)


@pytest.fixture
def server(memory: MemoryTransport, registry: CollectorRegistry) -> Iterator[HttpReceiver]:
    _, http_receiver = make_http(memory, registry, max_request_body_mib=1)
    http_receiver.start()
    yield http_receiver
    http_receiver.shutdown(timeout_s=2)


def post(
    server: HttpReceiver,
    body: bytes,
    *,
    path: str = "/v1/traces",
    content_type: str = PROTOBUF,
    method: str = "POST",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": content_type, **(headers or {})})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def status_of(body: bytes, content_type: str = PROTOBUF) -> status_pb2.Status:
    if content_type == JSON:
        data = json.loads(body)
        return status_pb2.Status(code=data.get("code", 0), message=data.get("message", ""))
    return status_pb2.Status.FromString(body)


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


# --- 200 ---------------------------------------------------------------------------------------------


def test_protobuf_traces_become_one_record_per_trace(
    server: HttpReceiver, memory: MemoryTransport, registry: CollectorRegistry
) -> None:
    tids = [random_trace_id() for _ in range(3)]
    code, headers, body = post(server, trace_request(tids).SerializeToString())
    assert code == 200
    assert headers["content-type"] == PROTOBUF
    assert not ExportTraceServiceResponse.FromString(body).HasField("partial_success")
    records = drain(memory)
    assert sorted(r.key for r in records) == sorted(t.hex().encode() for t in tids)
    assert {r.signal for r in records} == {Signal.TRACES}
    assert sample(registry, "evalstream_receiver_requests_total", signal="traces", code="OK") == 1


def test_json_traces_use_hex_ids_and_get_a_json_reply(server: HttpReceiver, memory: MemoryTransport) -> None:
    tid = random_trace_id()
    request = trace_request([tid])
    body = otlp_json(request)
    assert tid.hex() in body.decode()  # hex on the wire, as the OTLP JSON encoding says
    code, headers, reply = post(server, body, content_type=JSON)
    assert code == 200, reply
    assert headers["content-type"] == JSON
    assert json.loads(reply) == {}
    (record,) = drain(memory)
    assert record.key == tid.hex().encode()
    forwarded = codec.decode(record.value, ExportTraceServiceRequest)
    sent = {s.span_id for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans}
    got = {s.span_id for rs in forwarded.resource_spans for ss in rs.scope_spans for s in ss.spans}
    assert got == sent


def test_json_logs(server: HttpReceiver, memory: MemoryTransport) -> None:
    tid = random_trace_id()
    code, _, reply = post(server, otlp_json(logs_request([tid])), path="/v1/logs", content_type=JSON)
    assert code == 200, reply
    (record,) = drain(memory)
    assert record.signal is Signal.LOGS and record.key == tid.hex().encode()


def test_json_enum_names_int64_strings_and_unknown_fields_are_accepted() -> None:
    tid, sid = random_trace_id(), os.urandom(8)
    body = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": tid.hex().upper(),
                                "spanId": sid.hex(),
                                "name": "x",
                                "kind": 3,
                                "startTimeUnixNano": "1700000000000000000",
                                "status": {"code": "STATUS_CODE_ERROR"},
                                "someFutureField": True,
                            }
                        ]
                    }
                ]
            }
        ]
    }
    parsed = ExportTraceServiceRequest.FromString(json_to_protobuf(json.dumps(body).encode(), "traces"))
    span = parsed.resource_spans[0].scope_spans[0].spans[0]
    assert (span.trace_id, span.span_id, span.kind) == (tid, sid, 3)
    assert span.start_time_unix_nano == 1700000000000000000 and span.status.code == 2


def test_partial_success_is_in_the_body_in_both_encodings(server: HttpReceiver) -> None:
    request = trace_request([random_trace_id()], bad_ids=1)
    code, _, body = post(server, request.SerializeToString())
    assert code == 200
    partial = ExportTraceServiceResponse.FromString(body).partial_success
    assert partial.rejected_spans == 1 and "invalid trace_id" in partial.error_message
    code, _, body = post(server, otlp_json(request), content_type=JSON)
    assert code == 200
    assert json.loads(body)["partialSuccess"]["rejectedSpans"] == "1"  # int64 as a string


@pytest.mark.parametrize(
    "encoding, compress",
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("zlib", zlib.compress),
        ("zstd", lambda data: zstandard.ZstdCompressor().compress(data)),
        ("lz4", lz4.frame.compress),
        ("snappy", lambda data: bytes(cramjam.snappy.compress_raw(data))),
        ("snappy", lambda data: bytes(cramjam.snappy.compress(data))),  # framed, detected by its header
        ("x-snappy-framed", lambda data: bytes(cramjam.snappy.compress(data))),
        ("identity", lambda data: data),
    ],
)
def test_content_encodings(
    server: HttpReceiver, memory: MemoryTransport, encoding: str, compress: Any
) -> None:
    tid = random_trace_id()
    body = compress(logs_request([tid]).SerializeToString())
    code, _, reply = post(server, body, path="/v1/logs", headers={"Content-Encoding": encoding})
    assert code == 200, reply
    assert [r.key for r in drain(memory)] == [tid.hex().encode()]
    assert ExportLogsServiceResponse.FromString(reply) == ExportLogsServiceResponse()


# --- 4xx ---------------------------------------------------------------------------------------------


def test_404_for_other_paths(server: HttpReceiver) -> None:
    code, _, _ = post(server, b"", path="/v1/metrics")
    assert code == 404


def test_405_for_other_methods_names_post(server: HttpReceiver) -> None:
    code, headers, body = post(server, b"", method="GET")
    assert code == 405 and headers["allow"] == "POST"
    assert status_of(body).code == 12  # UNIMPLEMENTED


def test_415_for_other_content_types(server: HttpReceiver, memory: MemoryTransport) -> None:
    code, _, body = post(server, b"hello", content_type="text/plain")
    assert code == 415 and b"application/x-protobuf" in body
    assert drain(memory) == []


@pytest.mark.parametrize(
    "body, content_type, headers, fragment",
    [
        (b"\xff\xff\xff", PROTOBUF, {}, "not a valid ExportTraceServiceRequest"),
        (b"{not json", JSON, {}, "not JSON"),
        (b"[1, 2]", JSON, {}, "must be a JSON object"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', JSON, {}, "not a hex id"),
        (b'{"resourceSpans": 7}', JSON, {}, "not an OTLP JSON traces request"),
        (b"abc", PROTOBUF, {"Content-Encoding": "br"}, "unsupported Content-Encoding 'br'"),
        (b"not gzip at all", PROTOBUF, {"Content-Encoding": "gzip"}, "not valid gzip"),
        (gzip.compress(b"x" * 1000)[:-12], PROTOBUF, {"Content-Encoding": "gzip"}, "truncated"),
        (b"not zstd", PROTOBUF, {"Content-Encoding": "zstd"}, "not valid zstd"),
        (b"not lz4", PROTOBUF, {"Content-Encoding": "lz4"}, "not valid lz4"),
        (b"\x05garbage", PROTOBUF, {"Content-Encoding": "snappy"}, "not valid snappy"),
    ],
)
def test_400_for_bad_bodies(
    server: HttpReceiver,
    registry: CollectorRegistry,
    body: bytes,
    content_type: str,
    headers: dict[str, str],
    fragment: str,
) -> None:
    code, reply_headers, reply = post(server, body, content_type=content_type, headers=headers)
    assert code == 400
    assert reply_headers["content-type"] == content_type
    problem = status_of(reply, content_type)
    assert problem.code == 3 and fragment.lower() in problem.message.lower(), problem.message
    assert (
        sample(registry, "evalstream_receiver_requests_total", signal="traces", code="INVALID_ARGUMENT") == 1
    )


@pytest.mark.parametrize(
    "encoding, compress",
    [
        ("gzip", gzip.compress),
        ("zstd", lambda data: zstandard.ZstdCompressor().compress(data)),
        ("lz4", lz4.frame.compress),
        ("snappy", lambda data: bytes(cramjam.snappy.compress_raw(data))),
        ("x-snappy-framed", lambda data: bytes(cramjam.snappy.compress(data))),
    ],
)
def test_413_is_checked_after_decompression(server: HttpReceiver, encoding: str, compress: Any) -> None:
    body = compress(b"\x00" * (3 * 1024 * 1024))  # 3 MiB of zeros over a 1 MiB limit
    assert len(body) < 1024 * 1024  # a small bomb: only its decompressed size is over
    code, _, reply = post(server, body, headers={"Content-Encoding": encoding})
    assert code == 413
    assert "1 MiB limit" in status_of(reply).message


def test_413_on_content_length_before_the_body_is_read(server: HttpReceiver) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            b"Content-Length: 3145728\r\n\r\n"
        )
        assert sock.recv(64).startswith(b"HTTP/1.1 413 ")


def test_decompression_stops_at_the_cap() -> None:
    """The cap bounds the output buffer: a 1 GiB zstd bomb fails fast without inflating it."""
    bomb = zstandard.ZstdCompressor(level=19).compress(b"\x00" * (256 * 1024 * 1024))
    with pytest.raises(Exception, match="limit"):
        decompress(bomb, "zstd", 1024 * 1024)


# --- 429 / 503 / 500 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error, code, retry_after",
    [
        (TransportFull("too much in flight", retry_after_s=2.5), 429, "3"),
        (TransportUnavailable("broker down"), 503, None),
        (ShuttingDown("stopping"), 503, None),
        (RuntimeError("a bug"), 500, None),
    ],
)
def test_transport_refusals_map_through_the_one_table(
    registry: CollectorRegistry, error: Exception, code: int, retry_after: str | None
) -> None:
    _, http_receiver = make_http(FailingProducer(error), registry)
    http_receiver.start()
    try:
        for content_type in (PROTOBUF, JSON):
            request = trace_request([random_trace_id()])
            body = request.SerializeToString() if content_type == PROTOBUF else otlp_json(request)
            got, headers, reply = post(http_receiver, body, content_type=content_type)
            assert got == code
            assert headers.get("retry-after") == retry_after
            assert headers["content-type"] == content_type
            assert status_of(reply, content_type).message
    finally:
        http_receiver.shutdown(timeout_s=2)


def test_429_when_the_in_flight_limit_is_reached(registry: CollectorRegistry) -> None:
    memory = MemoryTransport(max_records=10)
    receiver, http_receiver = make_http(memory, registry)
    for _ in range(receiver.config.grpc.max_concurrent_requests):
        receiver._inflight.acquire()  # every slot taken, as by slow requests
    http_receiver.start()
    try:
        code, headers, reply = post(http_receiver, trace_request([random_trace_id()]).SerializeToString())
        assert code == 429 and headers["retry-after"] == "1"
        assert "in flight" in status_of(reply).message
    finally:
        http_receiver.shutdown(timeout_s=2)


def test_records_are_only_acknowledged_after_the_transport_took_them(registry: CollectorRegistry) -> None:
    sent: list[list[Record]] = []

    class Recording:
        def send(self, records: list[Record], *, timeout_s: float) -> None:
            sent.append(list(records))

        def ready(self) -> bool:
            return True

    _, http_receiver = make_http(Recording(), registry)
    http_receiver.start()
    try:
        code, _, _ = post(http_receiver, trace_request([random_trace_id()]).SerializeToString())
    finally:
        http_receiver.shutdown(timeout_s=2)
    assert code == 200 and len(sent) == 1


def test_a_taken_port_raises_oserror_naming_the_key(server: HttpReceiver) -> None:
    config = HttpConfig(endpoint=f"127.0.0.1:{server.port}")
    receiver, _ = make_http(MemoryTransport(max_records=1), CollectorRegistry())
    with pytest.raises(OSError, match=r"receiver\.http\.endpoint"):
        HttpReceiver(receiver, config).start()


# --- real clients: the bundled fixtures in OTLP JSON, the SDK's OTLP/HTTP exporters, curl ---------------


def test_the_fixtures_json_renderings_decode_to_their_protobuf(otlp_fixtures: pathlib.Path) -> None:
    """The fixtures' OTLP/JSON renderings (hex ids) decode to exactly the messages of their .pb files."""
    renderings = sorted(otlp_fixtures.glob("*.json"))
    assert len(renderings) == 9  # seven traces, two logs
    for rendering in renderings:
        signal = "logs" if rendering.name.endswith(".logs.json") else "traces"
        decoded = REQUEST_TYPES[signal].FromString(json_to_protobuf(rendering.read_bytes(), signal))
        expected = REQUEST_TYPES[signal].FromString(rendering.with_suffix(".pb").read_bytes())
        assert decoded == expected, rendering.name


def curl_json(url: str, path: pathlib.Path) -> None:
    done = subprocess.run(
        [
            "curl",
            "-sS",
            "--fail-with-body",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            f"@{path}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == {}  # no partial success


@pytest.mark.parametrize("client", ["sdk-http-protobuf", "curl-json"])
def test_http_clients_are_scored_like_grpc(
    tmp_path: pathlib.Path, otlp_fixtures: pathlib.Path, client: str
) -> None:
    """The same fixtures and the same assertions as the gRPC end-to-end test (tests/test_e2e.py)."""
    config = {"sampling": {"rate": 1.0}, "worker": {"assembly_window_s": 1.0}}
    with run_processor(tmp_path, config) as processor:
        base = f"http://{processor.http_endpoint}"
        for flavour in FLAVOURS:
            if client == "curl-json":
                for signal in ("logs", "traces"):
                    rendering = otlp_fixtures / f"{flavour}.{signal}.json"
                    if rendering.exists():
                        curl_json(f"{base}/v1/{signal}", rendering)
            else:
                traces, logs = load_flavour(otlp_fixtures, flavour)
                assert replay_http(base, [traces], [logs] if logs else []) == (True, True), flavour
        assert_fixture_metrics(processor)
    assert "or its otlp_http exporter at" in processor.log()


def test_chunked_bodies_are_read_and_capped(server: HttpReceiver, memory: MemoryTransport) -> None:
    def chunked(data: bytes, size: int = 65536) -> bytes:
        pieces = [data[i : i + size] for i in range(0, len(data), size)]
        return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"

    tids = [random_trace_id() for _ in range(50)]
    for body, expected in (
        (trace_request(tids).SerializeToString(), b" 200 "),
        (b"\x00" * (2 * 1024 * 1024), b" 413 "),
    ):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            head = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            # the server may answer 413 and close before the last chunks are sent
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(body))
            assert expected in sock.recv(64)
    assert len(drain(memory)) == 50


def test_413_for_more_entries_or_json_objects_than_the_cap_before_decoding(
    registry: CollectorRegistry,
) -> None:
    """A request's spans are counted on the wire, a JSON body's objects as bytes, before either is
    decoded (decoding is what costs memory per entry); the reply names the key."""
    config = ReceiverConfig(
        grpc=GrpcConfig(endpoint="127.0.0.1:0"),
        http=HttpConfig(endpoint="127.0.0.1:0"),
        max_entries_per_request=1000,
    )
    memory = MemoryTransport(max_records=10_000)
    receiver = Receiver(config, TraceIdSampler(SamplingConfig(rate=1.0)), SlicesConfig(), memory, registry)
    server = HttpReceiver(receiver, config.http)
    server.start()
    try:
        many = trace_request([random_trace_id() for _ in range(1001)])
        code, _, reply = post(server, many.SerializeToString())
        assert code == 413 and "receiver.max_entries_per_request" in status_of(reply).message
        spans = ",".join(["{}"] * 4000)  # 4,000 empty spans: 4,003 objects and arrays, over 4 x 1,000
        bomb = ('{"resourceSpans":[{"scopeSpans":[{"spans":[' + spans + "]}]}]}").encode()
        code, _, reply = post(
            server, gzip.compress(bomb), content_type=JSON, headers={"Content-Encoding": "gzip"}
        )
        assert code == 413
        assert (
            "objects and arrays, over 4000 (4 x receiver.max_entries_per_request)"
            in status_of(reply, JSON).message
        )
        few = trace_request([random_trace_id() for _ in range(10)])
        assert post(server, few.SerializeToString())[0] == 200
        assert memory.lag() == {("memory", 0): 10}
    finally:
        server.shutdown(timeout_s=2)
