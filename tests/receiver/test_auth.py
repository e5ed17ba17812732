"""Bearer-token auth on both servers: the bearertokenauth extension's header rules, refusals counted."""

from __future__ import annotations

import logging
import os
import pathlib
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry

from processor.config import parse
from processor.errors import ConfigError
from processor.receiver.auth import TokenAuth
from processor.receiver.config import AuthConfig, GrpcConfig, HttpConfig, ReceiverConfig
from processor.receiver.http import HttpReceiver
from processor.receiver.service import Receiver
from tests.receiver.helpers import Stubs, random_trace_id, rpc_error, trace_request
from tests.receiver.test_http import post, serving, status_of

TOKEN = "s3cret-token-1"
OTHER = "s3cret-token-2"


def refused(registry: CollectorRegistry, reason: str) -> float:
    return registry.get_sample_value("evalstream_receiver_refused_requests_total", {"reason": reason}) or 0.0


# --- TokenAuth ---------------------------------------------------------------------------------------


def test_header_value_must_be_scheme_space_token() -> None:
    reasons: list[str] = []
    auth = TokenAuth(AuthConfig(tokens=[TOKEN, OTHER]), reasons.append)
    assert auth.refusal(f"Bearer {TOKEN}") is None
    assert auth.refusal(f"Bearer {OTHER}".encode()) is None
    assert auth.refusal(None) == "missing"
    assert auth.refusal("") == "missing"
    assert auth.refusal(TOKEN) == "invalid"  # no scheme
    assert auth.refusal(f"Basic {TOKEN}") == "invalid"
    assert auth.refusal(f"Bearer {TOKEN}x") == "invalid"
    assert reasons == ["missing", "missing", "invalid", "invalid", "invalid"]


def test_empty_scheme_takes_the_bare_token_and_the_header_is_configurable() -> None:
    auth = TokenAuth(AuthConfig(tokens=[TOKEN], scheme="", header="X-Api-Key"))
    assert auth.header == "X-Api-Key"
    assert auth.refusal(TOKEN) is None
    assert auth.refusal(f"Bearer {TOKEN}") == "invalid"


def test_tokens_file_is_reread_when_it_changes(tmp_path: pathlib.Path) -> None:
    file = tmp_path / "tokens"
    file.write_text(f"{TOKEN}\n\n")
    auth = TokenAuth(AuthConfig(tokens_file=str(file)))
    assert auth.refusal(f"Bearer {TOKEN}") is None
    # a rotated Kubernetes secret: the new file is swapped in under the same name
    rotated = tmp_path / "tokens.new"
    rotated.write_text(f"  {OTHER}  \n")
    os.replace(rotated, file)
    assert auth.refusal(f"Bearer {OTHER}") is None
    assert auth.refusal(f"Bearer {TOKEN}") == "invalid"
    file.unlink()  # unreadable: the last good tokens stay
    assert auth.refusal(f"Bearer {OTHER}") is None


def test_config_checks_never_echo_a_token(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse(
            {
                "receiver": {
                    "auth": {
                        "tokens": ["   "],
                        "tokens_file": str(tmp_path / "missing"),
                        "header": "Bad Header",
                    }
                }
            },
            environ={},
        )
    found = info.value.problems
    assert "receiver.auth: set either tokens or tokens_file, not both" in found
    assert "receiver.auth.tokens[0]: empty token" in found
    assert any(p.startswith("receiver.auth.tokens_file: cannot read") for p in found)
    assert "receiver.auth.header: must be an HTTP header name, got 'Bad Header'" in found
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match="holds no token"):
        parse({"receiver": {"auth": {"tokens_file": str(empty)}}}, environ={})


def test_tokens_from_the_environment() -> None:
    config = parse(
        {"receiver": {"auth": {"tokens": ["${env:EVALSTREAM_TOKEN}"]}}}, environ={"EVALSTREAM_TOKEN": TOKEN}
    )
    assert config.receiver.auth.tokens == [TOKEN]


# --- both servers ------------------------------------------------------------------------------------


@pytest.fixture
def servers(registry: CollectorRegistry) -> Iterator[tuple[Receiver, HttpReceiver]]:
    config = ReceiverConfig(
        grpc=GrpcConfig(endpoint="127.0.0.1:0"),
        http=HttpConfig(endpoint="127.0.0.1:0"),
        auth=AuthConfig(tokens=[TOKEN]),
    )
    with serving(config, registry) as servers:
        yield servers


def test_grpc_refuses_with_unauthenticated_and_no_detail(
    servers: tuple[Receiver, HttpReceiver], registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver, _ = servers
    assert receiver.port
    stubs = Stubs(receiver.port)
    try:
        request = trace_request([random_trace_id()])
        ok = stubs.traces.Export(request, metadata=[("authorization", f"Bearer {TOKEN}")], timeout=10)
        assert not ok.HasField("partial_success")
        missing = rpc_error(stubs.traces.Export, request, timeout=10)
        wrong = rpc_error(
            stubs.logs.Export, request, metadata=[("authorization", f"Bearer {OTHER}")], timeout=10
        )
        for error in (missing, wrong):
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED
            assert error.details() == "unauthenticated"
        # the health service stays open for Kubernetes' probe
        health = health_pb2_grpc.HealthStub(stubs.channel)
        reply = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        stubs.close()
    assert refused(registry, "missing") == 1 and refused(registry, "invalid") == 1
    assert OTHER not in caplog.text and TOKEN not in caplog.text


def test_http_refuses_with_401_and_no_detail(
    servers: tuple[Receiver, HttpReceiver], registry: CollectorRegistry
) -> None:
    _, http_receiver = servers
    body = trace_request([random_trace_id()]).SerializeToString()
    assert post(http_receiver, body, headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
    for headers in ({}, {"Authorization": f"Bearer {OTHER}"}, {"Authorization": TOKEN}):
        code, reply_headers, reply = post(http_receiver, body, headers=headers)
        assert code == 401
        assert reply_headers["www-authenticate"] == "Bearer"
        assert status_of(reply).message == "Unauthorized"
    # refused before anything else is looked at: a wrong path or method learns nothing either
    assert post(http_receiver, b"", path="/nope", method="GET")[0] == 401
    assert refused(registry, "missing") == 2 and refused(registry, "invalid") == 2
    assert (
        registry.get_sample_value("evalstream_receiver_requests_total", {"signal": "traces", "code": "OK"})
        == 1
    )
