"""processor.tls: start-up validation of each `tls:` block, and TLS / mTLS on gRPC, OTLP/HTTP and /metrics."""

from __future__ import annotations

import http.client
import pathlib
import ssl
from collections.abc import Iterator

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from prometheus_client import CollectorRegistry

from processor.config import parse
from processor.errors import ConfigError
from processor.metrics.server import MetricsServer
from processor.receiver.config import GrpcConfig, HttpConfig, ReceiverConfig
from processor.receiver.http import HttpReceiver
from processor.receiver.service import Receiver
from processor.tls import TLSConfig
from tests.receiver.helpers import random_trace_id, trace_request
from tests.receiver.test_http import serving
from tests.tls_certs import Certs, make_certs


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(data, environ={})
    return info.value.problems


# --- validation --------------------------------------------------------------------------------------


def test_a_valid_block_passes_everywhere(certs: Certs) -> None:
    tls = {
        "cert_file": str(certs.server_cert),
        "key_file": str(certs.server_key),
        "client_ca_file": str(certs.ca),
    }
    config = parse(
        {
            "receiver": {"grpc": {"tls": tls}, "http": {"tls": {**tls, "min_version": "1.3"}}},
            "metrics": {"tls": tls},
        },
        environ={},
    )
    assert config.receiver.grpc.tls.mutual and config.receiver.http.tls.min_version == "1.3"
    assert config.metrics.tls.enabled


def test_missing_files_are_named_with_their_key(certs: Certs, tmp_path: pathlib.Path) -> None:
    missing = str(tmp_path / "nope.crt")
    found = problems(
        {"receiver": {"http": {"tls": {"cert_file": missing, "key_file": str(certs.server_key)}}}}
    )
    assert found == [f"receiver.http.tls.cert_file: no such file {missing!r}"]


def test_a_key_that_does_not_match_the_certificate(certs: Certs) -> None:
    tls = {"cert_file": str(certs.server_cert), "key_file": str(certs.other_key)}
    (found,) = problems({"metrics": {"tls": tls}})
    assert found.startswith("metrics.tls.key_file:") and "does not match cert_file" in found


def test_cert_without_key_and_ca_without_cert(certs: Certs) -> None:
    found = problems(
        {
            "receiver": {
                "grpc": {"tls": {"cert_file": str(certs.server_cert)}},
                "http": {"tls": {"client_ca_file": str(certs.ca)}},
            }
        }
    )
    assert "receiver.grpc.tls.key_file: cert_file and key_file go together; key_file is not set" in found
    assert any(p.startswith("receiver.http.tls.client_ca_file: client certificates need TLS") for p in found)


def test_a_ca_file_without_certificates(certs: Certs, tmp_path: pathlib.Path) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("not a certificate\n")
    tls = {
        "cert_file": str(certs.server_cert),
        "key_file": str(certs.server_key),
        "client_ca_file": str(empty),
    }
    (found,) = problems({"receiver": {"http": {"tls": tls}}})
    assert found.startswith("receiver.http.tls.client_ca_file: cannot load")


def test_min_version(certs: Certs) -> None:
    base = {"cert_file": str(certs.server_cert), "key_file": str(certs.server_key)}
    assert problems({"receiver": {"http": {"tls": {**base, "min_version": "1.1"}}}}) == [
        "receiver.http.tls.min_version: must be one of 1.2, 1.3, got '1.1'"
    ]
    (grpc_problem,) = problems({"receiver": {"grpc": {"tls": {**base, "min_version": "1.3"}}}})
    assert grpc_problem.startswith("receiver.grpc.tls.min_version: grpcio cannot enforce")


# --- servers -----------------------------------------------------------------------------------------


def server_tls(certs: Certs, *, mutual: bool, min_version: str = "1.2") -> TLSConfig:
    return TLSConfig(
        cert_file=str(certs.server_cert),
        key_file=str(certs.server_key),
        client_ca_file=str(certs.ca) if mutual else "",
        min_version=min_version,
    )


@pytest.fixture
def tls_receivers(certs: Certs, request: pytest.FixtureRequest) -> Iterator[tuple[Receiver, HttpReceiver]]:
    mutual = request.param
    config = ReceiverConfig(
        grpc=GrpcConfig(endpoint="127.0.0.1:0", tls=server_tls(certs, mutual=mutual)),
        http=HttpConfig(endpoint="127.0.0.1:0", tls=server_tls(certs, mutual=mutual, min_version="1.3")),
    )
    with serving(config, CollectorRegistry()) as servers:
        yield servers


def grpc_export(port: int, certs: Certs, *, client_cert: bool) -> None:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=certs.ca.read_bytes(),
        private_key=certs.client_key.read_bytes() if client_cert else None,
        certificate_chain=certs.client_cert.read_bytes() if client_cert else None,
    )
    with grpc.secure_channel(f"localhost:{port}", credentials) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        stub.Export(trace_request([random_trace_id()]), timeout=10)


def https_post(
    port: int, certs: Certs, *, client_cert: bool, max_version: ssl.TLSVersion | None = None
) -> int:
    context = ssl.create_default_context(cafile=str(certs.ca))
    if client_cert:
        context.load_cert_chain(str(certs.client_cert), str(certs.client_key))
    if max_version is not None:
        context.maximum_version = max_version
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        body = trace_request([random_trace_id()]).SerializeToString()
        connection.request(
            "POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"}
        )
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.parametrize("tls_receivers", [False], indirect=True)
def test_tls_on_both_ports(tls_receivers: tuple[Receiver, HttpReceiver], certs: Certs) -> None:
    receiver, http_receiver = tls_receivers
    assert receiver.port and http_receiver.port
    grpc_export(receiver.port, certs, client_cert=False)
    assert https_post(http_receiver.port, certs, client_cert=False) == 200
    # min_version 1.3 on HTTP: a TLS 1.2-only client cannot handshake
    with pytest.raises(ssl.SSLError):
        https_post(http_receiver.port, certs, client_cert=False, max_version=ssl.TLSVersion.TLSv1_2)
    # plaintext against a TLS port gets nowhere
    plain = http.client.HTTPConnection("127.0.0.1", http_receiver.port, timeout=5)
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        plain.request("POST", "/v1/traces", body=b"", headers={"Content-Type": "application/x-protobuf"})
        plain.getresponse()
    plain.close()


@pytest.mark.parametrize("tls_receivers", [True], indirect=True)
def test_mtls_refuses_clients_without_a_certificate(
    tls_receivers: tuple[Receiver, HttpReceiver], certs: Certs
) -> None:
    receiver, http_receiver = tls_receivers
    assert receiver.port and http_receiver.port
    grpc_export(receiver.port, certs, client_cert=True)
    assert https_post(http_receiver.port, certs, client_cert=True) == 200
    with pytest.raises(grpc.RpcError) as refused:
        grpc_export(receiver.port, certs, client_cert=False)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE  # the handshake fails: no RPC at all
    with pytest.raises((ssl.SSLError, ConnectionError)):
        https_post(http_receiver.port, certs, client_cert=False)


def test_metrics_over_https_with_client_certificates(certs: Certs) -> None:
    server = MetricsServer("127.0.0.1", 0, CollectorRegistry(), tls=server_tls(certs, mutual=True))
    server.start()
    try:
        context = ssl.create_default_context(cafile=str(certs.ca))
        context.load_cert_chain(str(certs.client_cert), str(certs.client_key))
        connection = http.client.HTTPSConnection("localhost", server.port, context=context, timeout=10)
        connection.request("GET", "/readyz")
        assert connection.getresponse().status == 200
        connection.close()
        anonymous = http.client.HTTPSConnection(
            "localhost", server.port, context=ssl.create_default_context(cafile=str(certs.ca)), timeout=10
        )
        with pytest.raises((ssl.SSLError, ConnectionError)):
            anonymous.request("GET", "/metrics")
            anonymous.getresponse()
        anonymous.close()
        # a failed handshake does not take the server down
        connection = http.client.HTTPSConnection("localhost", server.port, context=context, timeout=10)
        connection.request("GET", "/healthz")
        assert connection.getresponse().status == 200
        connection.close()
    finally:
        server.shutdown()
