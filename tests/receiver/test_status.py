"""The status table: each error to its gRPC status, consistent with the Collector and the Python SDK."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.exporter import _RETRYABLE_ERROR_CODES

from processor.errors import (
    EvalstreamError,
    InvalidRequest,
    ShuttingDown,
    TooLarge,
    TransportError,
    TransportFull,
    TransportUnavailable,
)
from processor.receiver import status

# The Collector's OTLP exporter: these always retry; RESOURCE_EXHAUSTED only with RetryInfo.
COLLECTOR_ALWAYS_RETRIES = {
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS,
}


def rich(s: grpc.Status) -> status_pb2.Status:
    details = dict(s.trailing_metadata)["grpc-status-details-bin"]
    return status_pb2.Status.FromString(details)


def retry_info(s: grpc.Status) -> error_details_pb2.RetryInfo | None:
    for detail in rich(s).details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return info
    return None


def collector_retries(s: grpc.Status) -> bool:
    if s.code is grpc.StatusCode.RESOURCE_EXHAUSTED:
        return retry_info(s) is not None
    return s.code in COLLECTOR_ALWAYS_RETRIES


@pytest.mark.parametrize(
    ("error", "code", "has_retry_info"),
    [
        (
            InvalidRequest("request body is not a valid ExportTraceServiceRequest: x"),
            grpc.StatusCode.INVALID_ARGUMENT,
            False,
        ),
        (TooLarge("too big"), grpc.StatusCode.RESOURCE_EXHAUSTED, False),
        (TransportFull("full", retry_after_s=2.5), grpc.StatusCode.RESOURCE_EXHAUSTED, True),
        (TransportUnavailable("no ack"), grpc.StatusCode.UNAVAILABLE, False),
        (ShuttingDown("stopping"), grpc.StatusCode.UNAVAILABLE, False),
        (TransportError("other transport trouble"), grpc.StatusCode.UNAVAILABLE, False),
        (ZeroDivisionError("a bug"), grpc.StatusCode.INTERNAL, False),
    ],
)
def test_each_error_has_its_status(error: BaseException, code: grpc.StatusCode, has_retry_info: bool) -> None:
    s = status.status_for(error)
    assert s.code is code
    assert rich(s).code == code.value[0]
    assert (retry_info(s) is not None) is has_retry_info
    assert (status.RETRY_INFO_TRAILER in dict(s.trailing_metadata)) is has_retry_info
    if code is grpc.StatusCode.INTERNAL:
        assert "a bug" not in s.details
    else:
        assert s.details == str(error)


def test_retry_info_carries_the_delay_in_details_and_in_the_sdk_trailer() -> None:
    s = status.status_for(TransportFull("full", retry_after_s=2.5))
    info = retry_info(s)
    assert info is not None
    assert (info.retry_delay.seconds, info.retry_delay.nanos) == (2, 500_000_000)
    trailer = error_details_pb2.RetryInfo.FromString(dict(s.trailing_metadata)[status.RETRY_INFO_TRAILER])
    assert trailer == info


@pytest.mark.parametrize(
    "error",
    [
        InvalidRequest("x"),
        TransportFull("x"),
        TransportUnavailable("x"),
        ShuttingDown("x"),
        TransportError("x"),
    ],
)
def test_retryable_errors_are_retried_by_both_clients_and_the_rest_by_neither(error: EvalstreamError) -> None:
    s = status.status_for(error)
    assert collector_retries(s) is error.retryable
    assert (s.code in _RETRYABLE_ERROR_CODES) is error.retryable


def test_too_large_is_final_for_the_collector_and_the_known_sdk_exception() -> None:
    # The Python SDK retries RESOURCE_EXHAUSTED even without RetryInfo (a few times, then drops):
    # nothing a server can change; the README says so.
    s = status.status_for(TooLarge("x"))
    assert not collector_retries(s)
    assert s.code in _RETRYABLE_ERROR_CODES


def test_internal_is_final_for_both_clients() -> None:
    s = status.status_for(RuntimeError("bug"))
    assert not collector_retries(s)
    assert s.code not in _RETRYABLE_ERROR_CODES


def test_every_row_has_a_refusal_reason_known_to_the_metrics() -> None:
    from processor.metrics.instruments import REFUSAL_REASONS

    assert {rule.reason for rule in status.TABLE} <= set(REFUSAL_REASONS)


def test_http_codes_follow_the_grpc_rows() -> None:
    """OTLP/HTTP retries 429, 502, 503 and 504 only: the rows the Collector's gRPC exporter retries."""
    for rule in status.TABLE:
        grpc_retried = rule.code == grpc.StatusCode.UNAVAILABLE or (
            rule.code == grpc.StatusCode.RESOURCE_EXHAUSTED and rule.retry_info
        )
        assert (rule.http in (429, 502, 503, 504)) == grpc_retried, rule
        assert (rule.http == 429) == rule.retry_info, rule  # Retry-After exactly where RetryInfo goes
    reply = status.http_reply_for(TransportFull("busy", retry_after_s=2.0))
    assert (reply.code, reply.retry_after_s, reply.status.code) == (
        429,
        2.0,
        grpc.StatusCode.RESOURCE_EXHAUSTED.value[0],
    )
    internal = status.http_reply_for(RuntimeError("bug"))
    assert internal.code == 500 and internal.status.message == status.INTERNAL_MESSAGE
