"""OTLP/HTTP on `receiver.http.endpoint`: POST /v1/traces and /v1/logs, served as the Collector serves them.

Only the HTTP specifics live here: routing, content types, `Content-Encoding`, the OTLP JSON mapping
and the size limit. The request itself goes through `Receiver.handle`, the same path the gRPC
servicer takes (in-flight limit, decode, extractor + sampler, transport send, wait for the acks),
and errors are mapped by the one table in `status.py`.

The server is cheroot (the CherryPy project's threaded WSGI server): thread-based like the gRPC
server, so `Receiver.handle` blocks a worker thread while Kafka acknowledges, exactly as on gRPC;
it serves TLS from our own `ssl.SSLContext` (minimum version, client certificates).

    request                                   reply
    POST, auth ok, known type and encoding    200 + Export*ServiceResponse (partial success inside)
    missing or wrong bearer token             401, no detail
    another path                              404
    another method                            405 (Allow: POST)
    another Content-Type                      415
    unknown Content-Encoding, bad body        400
    over max_request_body_mib decompressed    413
    busy / Kafka down / shutting down         429 with Retry-After / 503 (see status.py)

Replies come in the request's content type; error bodies are a google.rpc.Status as OTLP/HTTP asks.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import threading
import zlib
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

import cramjam
import grpc
import lz4.frame
import snappy
import zstandard
from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from processor.endpoint import join_host_port, parse_host_port
from processor.errors import InvalidRequest, TooLarge
from processor.receiver import status
from processor.receiver.config import HttpConfig
from processor.receiver.limits import check_json_objects
from processor.receiver.service import Receiver
from processor.tls import server_context

log = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
PATHS = {"/v1/traces": "traces", "/v1/logs": "logs"}
REQUEST_TYPES: dict[str, type[Message]] = {
    "traces": ExportTraceServiceRequest,
    "logs": ExportLogsServiceRequest,
}
#: What the Collector's confighttp accepts: each decoded with an output cap.
ENCODINGS = ("gzip", "x-gzip", "deflate", "zlib", "zstd", "snappy", "x-snappy-framed", "lz4")
_SNAPPY_FRAMED = b"\xff\x06\x00\x00sNaPpY"  # the stream identifier of the framing format
_CHUNK = 64 * 1024

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


# --- bodies -----------------------------------------------------------------------------------------
def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """The body decoded per `Content-Encoding`, never more than `limit` bytes of output (else TooLarge).

    Decompression streams with an output cap, so a small bomb cannot allocate its full size.
    """
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        out = body
    elif encoding in ("gzip", "x-gzip"):
        out = _inflate(body, 31, limit, "gzip")
    elif encoding in ("deflate", "zlib"):
        # HTTP's "deflate" is zlib-wrapped (RFC 9110); some clients send raw deflate anyway
        try:
            out = _inflate(body, 15, limit, encoding)
        except InvalidRequest:
            out = _inflate(body, -15, limit, encoding)
    elif encoding == "zstd":
        out = _unzstd(body, limit)
    elif encoding == "lz4":
        out = _unlz4(body, limit)
    elif encoding in ("snappy", "x-snappy-framed"):
        # like the Collector: "snappy" is a raw block unless the body starts with the framing header
        framed = encoding == "x-snappy-framed" or body.startswith(_SNAPPY_FRAMED)
        out = _unsnappy_framed(body, limit) if framed else _unsnappy_raw(body, limit)
    else:
        raise InvalidRequest(
            f"unsupported Content-Encoding {encoding!r}; supported: identity, {', '.join(ENCODINGS)}"
        )
    if len(out) > limit:
        raise TooLarge(f"request body is over the {limit // (1024 * 1024)} MiB limit (after decompression)")
    return out


def _inflate(body: bytes, wbits: int, limit: int, name: str) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidRequest(f"body is not valid {name}: {exc}") from None
    if len(out) > limit:
        raise TooLarge(f"request body is over the {limit // (1024 * 1024)} MiB limit (after decompression)")
    if not inflater.eof:
        raise InvalidRequest(f"body is not valid {name}: the stream is truncated")
    return out


def _unzstd(body: bytes, limit: int) -> bytes:
    out = bytearray()
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body), read_across_frames=True)
        while chunk := reader.read(_CHUNK):
            out += chunk
            if len(out) > limit:
                raise TooLarge(
                    f"request body is over the {limit // (1024 * 1024)} MiB limit (after decompression)"
                )
    except zstandard.ZstdError as exc:
        raise InvalidRequest(f"body is not valid zstd: {exc}") from None
    return bytes(out)


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"request body is over the {limit // (1024 * 1024)} MiB limit (after decompression)")


def _unlz4(body: bytes, limit: int) -> bytes:
    decompressor = lz4.frame.LZ4FrameDecompressor()
    try:
        out: bytes = decompressor.decompress(body, max_length=limit + 1)
    except RuntimeError as exc:  # python-lz4 reports corrupt frames as RuntimeError
        raise InvalidRequest(f"body is not valid lz4: {exc}") from None
    if len(out) > limit:
        raise _too_large(limit)
    if not decompressor.eof:
        raise InvalidRequest("body is not valid lz4: the frame is truncated")
    return out


def _unsnappy_raw(body: bytes, limit: int) -> bytes:
    try:
        if cramjam.snappy.decompress_raw_len(body) > limit:  # the block states its size up front
            raise _too_large(limit)
        return bytes(cramjam.snappy.decompress_raw(body))
    except cramjam.DecompressionError as exc:
        raise InvalidRequest(f"body is not valid snappy: {exc}") from None


def _unsnappy_framed(body: bytes, limit: int) -> bytes:
    # Fed a slice at a time: a frame's chunks hold at most 64 KiB each, so the output is checked
    # against the cap every few hundred KiB instead of after inflating the whole body.
    decompressor = snappy.StreamDecompressor()
    out = bytearray()
    try:
        for start in range(0, len(body), _CHUNK):
            out += decompressor.decompress(body[start : start + _CHUNK])
            if len(out) > limit:
                raise _too_large(limit)
    except (cramjam.DecompressionError, snappy.UncompressError) as exc:
        raise InvalidRequest(f"body is not valid snappy: {exc}") from None
    if decompressor.remains:
        raise InvalidRequest("body is not valid snappy: the stream is truncated")
    return bytes(out)


# OTLP JSON carries trace and span ids as hex, where protobuf's JSON mapping expects base64.
_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def _hex_ids_to_base64(item: Any, where: str) -> None:
    if not isinstance(item, dict):
        return
    for key in _ID_FIELDS:
        value = item.get(key)
        if isinstance(value, str) and value:
            try:
                item[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
            except ValueError:
                raise InvalidRequest(f"{where}.{key}: not a hex id: {value[:40]!r}") from None


def _items(container: Any, *keys: str) -> Iterable[tuple[int, Any]]:
    if not isinstance(container, dict):
        return ()
    for key in keys:
        value = container.get(key)
        if isinstance(value, list):
            return enumerate(value)
    return ()


def _convert_ids(data: Any, signal: str) -> None:
    if signal == "traces":
        for r, resource in _items(data, "resourceSpans", "resource_spans"):
            for s, scope in _items(resource, "scopeSpans", "scope_spans"):
                for i, span in _items(scope, "spans"):
                    where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]"
                    _hex_ids_to_base64(span, where)
                    for j, link in _items(span, "links"):
                        _hex_ids_to_base64(link, f"{where}.links[{j}]")
    else:
        for r, resource in _items(data, "resourceLogs", "resource_logs"):
            for s, scope in _items(resource, "scopeLogs", "scope_logs"):
                for i, record in _items(scope, "logRecords", "log_records"):
                    _hex_ids_to_base64(record, f"resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}]")


def json_to_protobuf(body: bytes, signal: str) -> bytes:
    """An OTLP JSON request (hex ids, lowerCamelCase, enums as numbers) as serialized protobuf."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequest(f"body must be a JSON object, got {type(data).__name__}")
    _convert_ids(data, signal)
    message = REQUEST_TYPES[signal]()
    try:  # the OTLP spec: receivers ignore unknown fields
        json_format.ParseDict(data, message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise InvalidRequest(f"body is not an OTLP JSON {signal} request: {exc}") from None
    serialized: bytes = message.SerializeToString()
    return serialized


def encode(message: Message, content_type: str) -> bytes:
    """A reply in the request's content type (OTLP JSON: enums as numbers, int64 as strings)."""
    if content_type == JSON:
        text: str = json_format.MessageToJson(message, use_integers_for_enums=True, indent=None)
        return text.encode()
    serialized: bytes = message.SerializeToString()
    return serialized


# --- the server ---------------------------------------------------------------------------------------
def _log_server_error(msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
    """cheroot's own reports (failed TLS handshakes, dropped clients): DEBUG unless it says worse."""
    log.log(
        level if level >= logging.WARNING else logging.DEBUG,
        "receiver: OTLP/HTTP: %s",
        msg,
        exc_info=traceback,
    )


class HttpReceiver:
    """The OTLP/HTTP server in front of a `Receiver`. start()/shutdown(timeout_s) are idempotent."""

    def __init__(self, receiver: Receiver, config: HttpConfig) -> None:
        self.config = config
        self._receiver = receiver
        self._limit = config.max_request_body_mib * 1024 * 1024
        self._server: wsgi.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._lock = threading.Lock()

    @property
    def port(self) -> int | None:
        return self._port

    @property
    def endpoint(self) -> str:
        host, port = parse_host_port(self.config.endpoint)
        return join_host_port(host, self._port if self._port is not None else port)

    def start(self) -> None:
        """Bind and serve. Raises OSError when the endpoint cannot be bound."""
        with self._lock:
            if self._server is not None:
                return
            host, port = parse_host_port(self.config.endpoint)  # validated with the config
            if port == 0 and self._port is not None:
                port = self._port
            server = wsgi.Server(
                (host, port), self.app, numthreads=self.config.workers, server_name="evalstream"
            )
            server.max_request_body_size = 0  # ours, checked after decompression
            server.error_log = _log_server_error  # type: ignore[method-assign]  # cheroot: stderr
            tls = self.config.tls
            if tls.enabled:
                adapter = BuiltinSSLAdapter(tls.cert_file, tls.key_file)
                adapter.context = server_context(tls)  # our minimum version and client-CA policy
                server.ssl_adapter = adapter
            try:
                server.prepare()
            except OSError as exc:
                raise OSError(f"receiver.http.endpoint: cannot bind {host}:{port}: {exc}") from None
            self._port = int(server.bind_addr[1])
            self._server = server
            self._thread = threading.Thread(target=server.serve, name="otlp-http", daemon=True)
            self._thread.start()
        security = ("mTLS" if tls.mutual else "TLS") if tls.enabled else "plaintext"
        log.info(
            "receiver: OTLP/HTTP (/v1/traces, /v1/logs) on %s:%d (%s%s); max body %d MiB",
            host,
            self._port,
            security,
            ", bearer tokens" if self._receiver.auth is not None else "",
            self.config.max_request_body_mib,
        )

    def shutdown(self, timeout_s: float = 10.0) -> None:
        with self._lock:
            server, self._server = self._server, None
        if server is None:
            return
        server.shutdown_timeout = timeout_s
        server.stop()
        if self._thread is not None:
            self._thread.join(timeout_s)
        log.info("receiver: OTLP/HTTP stopped (port %s)", self._port)

    # --- WSGI ----------------------------------------------------------------------------------------
    def app(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        content_type = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
        reply_type = content_type if content_type in (PROTOBUF, JSON) else ""
        auth = self._receiver.auth
        if auth is not None:
            header = "HTTP_" + auth.header.upper().replace("-", "_")
            if auth.refusal(environ.get(header)) is not None:
                return self._error(
                    start_response,
                    401,
                    grpc.StatusCode.UNAUTHENTICATED,
                    "Unauthorized",
                    reply_type,
                    [("WWW-Authenticate", "Bearer")],
                )
        signal = PATHS.get(environ.get("PATH_INFO", ""))
        if signal is None:
            return self._error(
                start_response,
                404,
                grpc.StatusCode.NOT_FOUND,
                "not found: POST to /v1/traces or /v1/logs",
                reply_type,
            )
        if environ.get("REQUEST_METHOD") != "POST":
            return self._error(
                start_response,
                405,
                grpc.StatusCode.UNIMPLEMENTED,
                "method not allowed: use POST",
                reply_type,
                [("Allow", "POST")],
            )
        if not reply_type:
            return self._error(
                start_response,
                415,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"unsupported Content-Type {content_type!r}; use {PROTOBUF} or {JSON}",
                "",
            )
        encoding = environ.get("HTTP_CONTENT_ENCODING", "")
        stream = environ["wsgi.input"]
        length = environ.get("CONTENT_LENGTH") or ""

        def load() -> bytes:
            if length.isdigit() and int(length) > self._limit:
                raise TooLarge(f"request body is over the {self.config.max_request_body_mib} MiB limit")
            try:
                raw = stream.read(int(length)) if length.isdigit() else stream.read(self._limit + 1)
            except (OSError, ValueError) as exc:  # the client's doing: cut off, slow, bad chunking
                raise InvalidRequest(f"could not read the request body: {exc}") from None
            if len(raw) > self._limit:
                raise TooLarge(f"request body is over the {self.config.max_request_body_mib} MiB limit")
            body = decompress(raw, encoding, self._limit)
            if reply_type != JSON:
                return body
            check_json_objects(body, self._receiver.config.max_entries_per_request)
            return json_to_protobuf(body, signal)

        response, failure = self._receiver.handle(signal, load)
        if failure is None:
            return self._reply(start_response, 200, encode(response, reply_type), reply_type)
        reply = status.http_reply_for(failure)
        extra = []
        if reply.retry_after_s is not None:
            extra.append(("Retry-After", str(max(1, math.ceil(reply.retry_after_s)))))
        return self._reply(start_response, reply.code, encode(reply.status, reply_type), reply_type, extra)

    def _error(
        self,
        start_response: StartResponse,
        code: int,
        grpc_code: grpc.StatusCode,
        message: str,
        reply_type: str,
        extra: list[tuple[str, str]] | None = None,
    ) -> list[bytes]:
        if reply_type:
            body = encode(status_pb2.Status(code=grpc_code.value[0], message=message), reply_type)
        else:
            body, reply_type = (message + "\n").encode(), "text/plain; charset=utf-8"
        return self._reply(start_response, code, body, reply_type, extra)

    @staticmethod
    def _reply(
        start_response: StartResponse,
        code: int,
        body: bytes,
        content_type: str,
        extra: list[tuple[str, str]] | None = None,
    ) -> list[bytes]:
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *(extra or [])]
        start_response(f"{code} {HTTPStatus(code).phrase}", headers)
        return [body]
