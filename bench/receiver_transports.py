"""Benchmark: the receiver's CPU per request over OTLP gRPC vs OTLP/HTTP, plaintext vs TLS + token.

Reproduce:  .venv/bin/python bench/receiver_transports.py [--requests 300]

The receiver (both servers, in-process transport, sampling 5%) runs in this process; the client
runs in a child process, so the CPU measured here (all of this process's threads) is the server's
alone. Each variant sends the same 100-span requests (20 traces x 5 spans) one after another on one
connection; the table prints spans per server CPU-second and the ratio to plain gRPC measured in
this same run.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import os
import pathlib
import random
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from bench.receiver_select import make_request

TOKEN = "bench-token"
VARIANTS = ("grpc", "http-protobuf", "http-protobuf-gzip", "http-json", "grpc-tls-token", "https-token")


def client(mode: str, port: int, count: int, ca: str) -> None:
    """Child process: send `count` requests the way `mode` says, one at a time."""
    import grpc
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from processor.demo.replay import otlp_json

    rng = random.Random(7)
    payloads = [make_request(rng) for _ in range(count)]
    token = [("authorization", f"Bearer {TOKEN}")]
    if mode.startswith("grpc"):
        if "tls" in mode:
            credentials = grpc.ssl_channel_credentials(root_certificates=pathlib.Path(ca).read_bytes())
            channel = grpc.secure_channel(f"localhost:{port}", credentials)
        else:
            channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        for payload in payloads:
            export(payload, timeout=30, metadata=token if "token" in mode else None)
        channel.close()
        return
    if mode.startswith("https"):
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            "localhost", port, context=ssl.create_default_context(cafile=ca), timeout=30
        )
    else:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for payload in payloads:
        headers = {"Content-Type": "application/x-protobuf"}
        body = payload
        if mode == "http-json":
            headers["Content-Type"] = "application/json"
            body = otlp_json(ExportTraceServiceRequest.FromString(payload))  # hex ids, as on the wire
        if mode.endswith("gzip"):
            headers["Content-Encoding"] = "gzip"
            body = gzip.compress(body)
        if "token" in mode:
            headers["Authorization"] = f"Bearer {TOKEN}"
        connection.request("POST", "/v1/traces", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"{mode}: HTTP {response.status}")
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--client", nargs=4, metavar=("MODE", "PORT", "COUNT", "CA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        mode, port, count, ca = args.client
        client(mode, int(port), int(count), ca)
        return

    from prometheus_client import CollectorRegistry

    from processor.extract.config import SlicesConfig
    from processor.receiver.config import AuthConfig, GrpcConfig, HttpConfig, ReceiverConfig
    from processor.receiver.http import HttpReceiver
    from processor.receiver.service import Receiver
    from processor.sampler.config import SamplingConfig
    from processor.sampler.trace_id import TraceIdSampler
    from processor.tls import TLSConfig
    from processor.transport.memory import MemoryTransport
    from tests.tls_certs import make_certs

    with tempfile.TemporaryDirectory() as tmp:
        certs = make_certs(pathlib.Path(tmp))
        tls = TLSConfig(cert_file=str(certs.server_cert), key_file=str(certs.server_key))
        results: dict[str, float] = {}
        for secure in (False, True):
            config = ReceiverConfig(
                grpc=GrpcConfig(endpoint="127.0.0.1:0", tls=tls if secure else TLSConfig()),
                http=HttpConfig(endpoint="127.0.0.1:0", tls=tls if secure else TLSConfig()),
                auth=AuthConfig(tokens=[TOKEN] if secure else []),
            )
            transport = MemoryTransport(max_records=1_000_000)
            receiver = Receiver(
                config,
                TraceIdSampler(SamplingConfig(rate=0.05)),
                SlicesConfig(),
                transport,
                CollectorRegistry(),
            )
            http_receiver = HttpReceiver(receiver, config.http)
            receiver.start()
            http_receiver.start()
            try:
                for mode in VARIANTS:
                    if (("tls" in mode) or mode.startswith("https")) != secure:
                        continue
                    port = receiver.port if mode.startswith("grpc") else http_receiver.port
                    command = [
                        sys.executable,
                        __file__,
                        "--client",
                        mode,
                        str(port),
                        str(args.requests),
                        str(certs.ca),
                    ]
                    started = time.process_time()
                    subprocess.run(command, check=True, timeout=600)
                    results[mode] = time.process_time() - started
            finally:
                http_receiver.shutdown(5)
                receiver.shutdown(5)
    spans = 100 * args.requests
    print(
        f"{args.requests} requests x 100 spans per variant, sampling 5%, server CPU only, pid {os.getpid()}"
    )
    for mode in VARIANTS:
        seconds = results[mode]
        per_request_ms = 1000 * seconds / args.requests
        print(
            f"  {mode:22s} {spans / seconds:12,.0f} spans/CPU-s  {per_request_ms:6.2f} ms CPU/request"
            f"   x{results['grpc'] / seconds:5.2f} of plain gRPC"
        )
    print(f"reproduce: .venv/bin/python bench/receiver_transports.py --requests {args.requests}")


if __name__ == "__main__":
    main()
