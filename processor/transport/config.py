"""KafkaConfig: the `kafka` section. No bootstrap servers means the embedded in-process queue."""

from __future__ import annotations

from dataclasses import dataclass, field

from processor.endpoint import split_host_port


@dataclass(frozen=True)
class TopicsConfig:
    traces: str = "evalstream_spans"  # OTLP ExportTraceServiceRequest per trace, key = trace id hex
    logs: str = "evalstream_logs"  # OTLP ExportLogsServiceRequest per trace (content events)
    results: str = "evalstream_results"  # evalstream.v1.EvalResult per score
    dead_letter: str = "evalstream_dlq"  # records the worker could not decode, reason in a header


@dataclass(frozen=True)
class KafkaConfig:
    bootstrap_servers: str = ""  # "host:port,host:port"; empty: embedded in-process queue
    client_id: str = "evalstream"
    topics: TopicsConfig = field(default_factory=TopicsConfig)
    create_topics: bool = False  # create missing topics at start-up (partitions below)
    partitions: int = 6
    replication_factor: int = 1
    # none, gzip, snappy, lz4, zstd; lz4: the least producer and consumer CPU of the codecs that
    # compress, ~20 % more bytes than zstd or gzip (README: Benchmarks)
    compression: str = "lz4"
    # how long the producer waits to batch records before sending. A reply waits for its records'
    # ack, so this adds to every export's latency. 2 ms: at rate 1 (many records a request) the CPU
    # of 5 ms for ~12 % more bytes; at 5 % (~1 record a request) less CPU and half the reply time
    # (README: Benchmarks)
    linger_ms: int = 2
    security_protocol: str = "PLAINTEXT"  # PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: str = ""
    ssl_cafile: str = ""
    memory_queue_size: int = 10000  # embedded mode: records held before the receiver says UNAVAILABLE
    memory_queue_bytes: int = 128 * 1024 * 1024  # embedded mode: and bytes held (keys + values)

    @property
    def embedded(self) -> bool:
        return not self.bootstrap_servers.strip()

    @property
    def servers(self) -> list[str]:
        return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]

    def validate(self, path: str) -> list[str]:
        problems: list[str] = []
        for server in self.servers:
            split_host_port(server, f"{path}.bootstrap_servers", problems)
        if self.compression not in ("none", "gzip", "snappy", "lz4", "zstd"):
            problems.append(
                f"{path}.compression: must be one of none, gzip, snappy, lz4, zstd, got {self.compression!r}"
            )
        if not 0 <= self.linger_ms <= 900_000:
            problems.append(
                f"{path}.linger_ms: must be between 0 and 900000 (librdkafka's range), got {self.linger_ms}"
            )
        if self.security_protocol not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
            problems.append(f"{path}.security_protocol: unknown protocol {self.security_protocol!r}")
        if self.partitions < 1:
            problems.append(f"{path}.partitions: must be at least 1, got {self.partitions}")
        if self.replication_factor < 1:
            problems.append(f"{path}.replication_factor: must be at least 1, got {self.replication_factor}")
        if self.memory_queue_size < 1:
            problems.append(f"{path}.memory_queue_size: must be at least 1, got {self.memory_queue_size}")
        if self.memory_queue_bytes < 1024 * 1024:
            problems.append(
                f"{path}.memory_queue_bytes: must be at least 1048576 (1 MiB), got {self.memory_queue_bytes}"
            )
        return problems
