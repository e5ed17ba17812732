"""ReceiverConfig: the `receiver` section (OTLP gRPC and OTLP/HTTP servers, TLS, bearer-token auth)."""

from __future__ import annotations

from dataclasses import dataclass, field

from processor.endpoint import split_host_port
from processor.receiver import cpu
from processor.tls import TLSConfig


@dataclass(frozen=True)
class GrpcConfig:
    endpoint: str = "localhost:4317"  # loopback by default; the Kubernetes config says 0.0.0.0:4317
    max_recv_msg_size_mib: int = 64  # the OTLP spec's suggestion; grpc's own default is 4 MiB
    max_concurrent_requests: int = 64  # above this, RESOURCE_EXHAUSTED with RetryInfo
    workers: int = 8  # gRPC server threads
    tls: TLSConfig = field(default_factory=TLSConfig)

    def validate(self, path: str) -> list[str]:
        problems: list[str] = []
        split_host_port(self.endpoint, f"{path}.endpoint", problems)
        if self.tls.min_version == "1.3":  # grpcio has no setting for it; its TLS is 1.2 or 1.3 anyway
            problems.append(
                f"{path}.tls.min_version: grpcio cannot enforce a minimum TLS version; "
                f'only "1.2" (its floor) is accepted here, got {self.tls.min_version!r}'
            )
        if not 1 <= self.max_recv_msg_size_mib <= 2047:
            problems.append(f"{path}.max_recv_msg_size_mib: must be 1-2047, got {self.max_recv_msg_size_mib}")
        if self.max_concurrent_requests < 1:
            problems.append(
                f"{path}.max_concurrent_requests: must be at least 1, got {self.max_concurrent_requests}"
            )
        if self.workers < 1:
            problems.append(f"{path}.workers: must be at least 1, got {self.workers}")
        return problems


@dataclass(frozen=True)
class HttpConfig:
    endpoint: str = "localhost:4318"  # empty switches OTLP/HTTP off
    max_request_body_mib: int = 64  # checked after decompression: 413 above it
    workers: int = 8  # HTTP server threads
    tls: TLSConfig = field(default_factory=TLSConfig)

    def validate(self, path: str) -> list[str]:
        problems: list[str] = []
        if self.endpoint:
            split_host_port(self.endpoint, f"{path}.endpoint", problems)
        if not 1 <= self.max_request_body_mib <= 2047:
            problems.append(f"{path}.max_request_body_mib: must be 1-2047, got {self.max_request_body_mib}")
        if self.workers < 1:
            problems.append(f"{path}.workers: must be at least 1, got {self.workers}")
        return problems


def read_tokens_file(name: str) -> list[str]:
    """The non-empty, stripped lines of the file (raises OSError when it cannot be read):
    how validation checks `tokens_file` and how the receiver re-reads it when it changes."""
    with open(name, encoding="utf-8") as file:
        return [line.strip() for line in file if line.strip()]


@dataclass(frozen=True)
class AuthConfig:
    """Bearer tokens as the Collector's bearertokenauth extension checks them; no tokens = no auth."""

    tokens: list[str] = field(default_factory=list)  # `${env:VAR}` is expanded by the config loader
    tokens_file: str = ""  # one token a line; re-read when it changes (a rotated Kubernetes secret)
    header: str = "Authorization"
    scheme: str = "Bearer"  # empty: the header holds the bare token

    @property
    def enabled(self) -> bool:
        return bool(self.tokens or self.tokens_file)

    def validate(self, path: str) -> list[str]:
        problems: list[str] = []
        if self.tokens and self.tokens_file:
            problems.append(f"{path}: set either tokens or tokens_file, not both")
        for i, token in enumerate(self.tokens):
            if not token.strip():  # never echo a token, not even a bad one
                problems.append(f"{path}.tokens[{i}]: empty token")
        if self.tokens_file:
            try:
                if not read_tokens_file(self.tokens_file):
                    problems.append(f"{path}.tokens_file: {self.tokens_file!r} holds no token")
            except OSError as exc:
                problems.append(
                    f"{path}.tokens_file: cannot read {self.tokens_file!r}: {exc.strerror or exc}"
                )
        if not self.header or any(c in self.header for c in " :\r\n"):
            problems.append(f"{path}.header: must be an HTTP header name, got {self.header!r}")
        return problems


@dataclass(frozen=True)
class ReceiverConfig:
    grpc: GrpcConfig = field(default_factory=GrpcConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    send_timeout_s: float = 10.0  # longest wait for the broker's ack before replying UNAVAILABLE
    # spans or log records (with their scopes and resources) a request may hold: decoding costs
    # ~170 bytes per entry however small it is on the wire, so this bounds a request's memory
    max_entries_per_request: int = 100_000
    # the process's threads on one CPU while one is enough (receiver role); none; or a CPU list
    cpu_affinity: str = cpu.AUTO

    def validate(self, path: str) -> list[str]:
        problems = cpu.validate(self.cpu_affinity, f"{path}.cpu_affinity")
        if self.send_timeout_s <= 0:
            problems.append(f"{path}.send_timeout_s: must be positive, got {self.send_timeout_s}")
        if self.max_entries_per_request < 1000:
            problems.append(
                f"{path}.max_entries_per_request: must be at least 1000, got {self.max_entries_per_request}"
            )
        return problems
