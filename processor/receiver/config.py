"""ReceiverConfig: the `receiver` section (OTLP gRPC server)."""

from __future__ import annotations

from dataclasses import dataclass, field

from processor.endpoint import split_host_port


@dataclass(frozen=True)
class GrpcConfig:
    endpoint: str = "localhost:4317"  # loopback by default; the Kubernetes config says 0.0.0.0:4317
    max_recv_msg_size_mib: int = 64  # the OTLP spec's suggestion; grpc's own default is 4 MiB
    max_concurrent_requests: int = 64  # above this, RESOURCE_EXHAUSTED with RetryInfo
    workers: int = 8  # gRPC server threads

    def validate(self, path: str) -> list[str]:
        problems: list[str] = []
        split_host_port(self.endpoint, f"{path}.endpoint", problems)
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
class ReceiverConfig:
    grpc: GrpcConfig = field(default_factory=GrpcConfig)
    send_timeout_s: float = 10.0  # longest wait for the broker's ack before replying UNAVAILABLE

    def validate(self, path: str) -> list[str]:
        if self.send_timeout_s <= 0:
            return [f"{path}.send_timeout_s: must be positive, got {self.send_timeout_s}"]
        return []
