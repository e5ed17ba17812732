"""The seam between receiver and workers: records keyed by trace id, on Kafka or an in-process queue.

A `Producer` sends and returns only once every record is durable (Kafka: acked with acks=all);
a `Consumer` polls batches and commits offsets after their results are recorded (at least once).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class Signal(enum.Enum):
    """Which topic a record belongs to; the names match `kafka.topics` keys."""

    TRACES = "traces"
    LOGS = "logs"
    RESULTS = "results"
    DEAD_LETTER = "dead_letter"


@dataclass(frozen=True, slots=True)
class Record:
    """One message. `key` is the trace id as 32 lowercase hex characters (ASCII bytes)."""

    signal: Signal
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class Consumed:
    """A record read back, with where it came from (for commits and dead-lettering)."""

    record: Record
    topic: str
    partition: int
    offset: int
    timestamp_ms: int = 0


class Producer(Protocol):
    def send(self, records: Sequence[Record], *, timeout_s: float) -> None:
        """Block until every record is durable; raise TransportUnavailable or TransportFull otherwise."""

    def ready(self) -> bool:
        """True when a send would be attempted now (broker reachable, queue not full)."""

    def shutdown(self, timeout_s: float = 10.0) -> None: ...


class Consumer(Protocol):
    def poll(self, *, timeout_s: float, max_records: int) -> list[Consumed]:
        """Up to `max_records` records from the traces and logs topics."""

    def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        """Commit, per (topic, partition), the offset of the next record to read after a restart."""

    def lag(self) -> dict[tuple[str, int], int]:
        """Records not yet consumed, per (topic, partition), where known."""

    def shutdown(self, timeout_s: float = 10.0) -> None: ...


def trace_key(trace_id: bytes) -> bytes:
    """The record key for a trace: 32 lowercase hex characters, as the Collector kafka exporter writes."""
    return trace_id.hex().encode("ascii")
