"""The one table from evalstream errors to gRPC statuses and OTLP/HTTP status codes; nothing else in
the receiver builds a status.

Consistent with both clients that call us:

- the Collector's OTLP exporter retries UNAVAILABLE always, RESOURCE_EXHAUSTED only when a
  `google.rpc.RetryInfo` detail is attached (it honours `retry_delay`), and drops on anything else;
- the Python SDK's exporter retries the codes in `_RETRYABLE_ERROR_CODES` (UNAVAILABLE and
  RESOURCE_EXHAUSTED among them, INVALID_ARGUMENT / INTERNAL not) and reads the retry delay from the
  `google.rpc.retryinfo-bin` trailer, not from the status details.

So a RetryInfo goes both into `grpc-status-details-bin` (google.rpc.Status, for the Collector and
every grpc-status client) and into the `google.rpc.retryinfo-bin` trailer (for the Python SDK).

UNAVAILABLE carries no RetryInfo on purpose: while Kafka is down, each client's own exponential
back-off spreads the retries better than a fixed delay would.

OTLP/HTTP follows the same rows: 429 and 503 are the retryable codes of the OTLP/HTTP spec, a
`Retry-After` header goes exactly where gRPC attaches RetryInfo, and every other 4xx is permanent.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from processor.errors import (
    InvalidRequest,
    ShuttingDown,
    TooLarge,
    TransportError,
    TransportFull,
    TransportUnavailable,
)

RETRY_INFO_TRAILER = "google.rpc.retryinfo-bin"


@dataclass(frozen=True, slots=True)
class Rule:
    error: type[BaseException]
    code: grpc.StatusCode
    retry_info: bool  # attach RetryInfo (delay from the error's retry_after_s)
    reason: str  # the `reason` label of the refused counters; "" for INTERNAL (failed counter)
    sender_then: str  # for the README table
    http: int  # the OTLP/HTTP status code


# Most specific first; the first rule whose error type matches wins.
TABLE: tuple[Rule, ...] = (
    Rule(
        InvalidRequest,
        grpc.StatusCode.INVALID_ARGUMENT,
        False,
        "invalid",
        "drops the data (not retryable)",
        400,
    ),
    Rule(
        TooLarge,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        False,
        "too_large",
        "Collector drops; Python SDK retries a few times, then drops",
        413,
    ),
    Rule(
        TransportFull,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        True,
        "full",
        "retries after the RetryInfo delay",
        429,
    ),
    Rule(
        TransportUnavailable, grpc.StatusCode.UNAVAILABLE, False, "unavailable", "retries with back-off", 503
    ),
    Rule(
        ShuttingDown,
        grpc.StatusCode.UNAVAILABLE,
        False,
        "shutting_down",
        "retries with back-off (reaches another replica)",
        503,
    ),
    Rule(TransportError, grpc.StatusCode.UNAVAILABLE, False, "unavailable", "retries with back-off", 503),
)

INTERNAL_MESSAGE = "internal error in the evalstream receiver (logged there); the data was not accepted"


def rule_for(error: BaseException) -> Rule | None:
    """The table row for an error; None means our own bug (INTERNAL)."""
    for rule in TABLE:
        if isinstance(error, rule.error):
            return rule
    return None


@dataclass(frozen=True, slots=True)
class HttpReply:
    """An OTLP/HTTP error reply: status code, a google.rpc.Status for the body, Retry-After seconds."""

    code: int
    status: status_pb2.Status
    retry_after_s: float | None


def code_name(error: BaseException) -> str:
    """The gRPC code's name for `error` (the `code` label of the requests counter, for both servers)."""
    rule = rule_for(error)
    return str(rule.code.name if rule else grpc.StatusCode.INTERNAL.name)


def http_reply_for(error: BaseException) -> HttpReply:
    """The OTLP/HTTP reply for `error`: the same row of the table as `status_for`."""
    rule = rule_for(error)
    if rule is None:
        return HttpReply(
            500, status_pb2.Status(code=grpc.StatusCode.INTERNAL.value[0], message=INTERNAL_MESSAGE), None
        )
    delay = getattr(error, "retry_after_s", 1.0) if rule.retry_info else None
    message = str(error) or type(error).__name__
    return HttpReply(rule.http, status_pb2.Status(code=rule.code.value[0], message=message), delay)


def status_for(error: BaseException) -> grpc.Status:
    """The gRPC status to abort with for `error` (message, RetryInfo detail and trailer included)."""
    rule = rule_for(error)
    if rule is None:
        return _status(grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)
    delay = getattr(error, "retry_after_s", 1.0) if rule.retry_info else None
    return _status(rule.code, str(error) or type(error).__name__, retry_after_s=delay)


def _status(code: grpc.StatusCode, message: str, *, retry_after_s: float | None = None) -> grpc.Status:
    rich = status_pb2.Status(code=code.value[0], message=message)
    trailers: list[tuple[str, bytes]] = []
    if retry_after_s is not None:
        seconds = int(retry_after_s)
        info = error_details_pb2.RetryInfo(
            retry_delay=duration_pb2.Duration(seconds=seconds, nanos=int((retry_after_s - seconds) * 1e9))
        )
        detail = any_pb2.Any()
        detail.Pack(info)
        rich.details.append(detail)
        trailers.append((RETRY_INFO_TRAILER, info.SerializeToString()))
    status = rpc_status.to_status(rich)
    if not trailers:
        return status
    return _Status(status.code, status.details, (*status.trailing_metadata, *trailers))


class _Status(
    collections.namedtuple("_Status", ("code", "details", "trailing_metadata")),
    grpc.Status,  # type: ignore[misc]
):
    """A grpc.Status as `context.abort_with_status` expects it (the same shape grpc_status builds)."""
