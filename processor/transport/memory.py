"""The in-process queue: joins receiver and worker in the embedded mode; stands in for Kafka in unit tests."""

from __future__ import annotations

import collections
import queue
import threading
from collections.abc import Sequence

from processor.errors import ShuttingDown, TooLarge, TransportFull
from processor.transport import Consumed, Record, Signal

#: What the worker consumes; results and dead letters are kept in `sent` instead.
_CONSUMED = frozenset({Signal.TRACES, Signal.LOGS})

#: Results and dead letters kept for inspection (tests, debugging); older ones are dropped.
KEEP_SENT = 1000

#: The largest record, as the Kafka producer's `max_request_size` default: a trace over it is refused by
#: the receiver (partial success) in either mode, so the worker's cost per record is bounded alike.
MAX_RECORD_BYTES = 1_048_576


def _size(record: Record) -> int:
    return len(record.key) + len(record.value)


class MemoryTransport:
    """A bounded FIFO with Producer and Consumer faces. Full means refuse, never drop what was accepted."""

    def __init__(
        self,
        *,
        max_records: int = 10000,
        max_bytes: int = 128 * 1024 * 1024,
        max_record_bytes: int = MAX_RECORD_BYTES,
        keep_sent: int = KEEP_SENT,
    ) -> None:
        self._queue: queue.Queue[Consumed] = queue.Queue(maxsize=max_records)
        self._lock = threading.Lock()
        self._offset = 0
        # Bytes queued for the worker: a record count alone lets a few huge records take gigabytes.
        self._bytes = 0
        self.max_bytes = max_bytes
        self._record_limit = min(max_record_bytes, max_bytes)
        self.max_record_bytes = self._record_limit  # what the receiver and the worker keep records under
        self._closed = False
        # Results and dead letters, which nothing in-process consumes: only the newest `keep_sent`, so
        # a long-running embedded process does not keep every score it ever produced.
        self.sent: collections.deque[Record] = collections.deque(maxlen=keep_sent)
        self.dropped = 0  # results and dead letters pushed out of `sent`
        self.max_records = max_records
        self.max_batch_records = max_records  # a bigger send can never fit (the receiver refuses it for good)
        self.max_batch_bytes = max_bytes  # likewise in bytes

    # Producer
    def send(self, records: Sequence[Record], *, timeout_s: float) -> None:
        if self._closed:
            raise ShuttingDown("the in-process queue is shut down")
        queued = [r for r in records if r.signal in _CONSUMED]
        size = sum(map(_size, queued))
        for record in queued:
            if _size(record) > self._record_limit:
                raise TooLarge(
                    f"a record of {_size(record)} bytes exceeds the in-process limit of {self._record_limit}"
                )
        with self._lock:
            if self._queue.qsize() + len(queued) > self.max_records or self._bytes + size > self.max_bytes:
                raise TransportFull(
                    f"in-process queue full ({self._queue.qsize()} of {self.max_records} records, "
                    f"{self._bytes} + {size} of {self.max_bytes} bytes)",
                    retry_after_s=1.0,
                )
            for record in queued:
                self._queue.put_nowait(Consumed(record, record.signal.value, 0, self._offset))
                self._offset += 1
            self._bytes += size
            kept = [r for r in records if r.signal not in _CONSUMED]
            assert self.sent.maxlen is not None
            self.dropped += max(0, len(self.sent) + len(kept) - self.sent.maxlen)
            self.sent.extend(kept)

    def ready(self) -> bool:
        room = self._bytes + self._record_limit <= self.max_bytes  # for the largest record
        return not self._closed and self._queue.qsize() < self.max_records and room

    # Consumer
    def poll(self, *, timeout_s: float, max_records: int) -> list[Consumed]:
        batch: list[Consumed] = []
        try:
            batch.append(self._queue.get(timeout=timeout_s))
            while len(batch) < max_records:
                batch.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        if batch:
            with self._lock:
                self._bytes -= sum(_size(consumed.record) for consumed in batch)
        return batch

    def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        """Nothing to do: a record leaves the queue when polled (the embedded mode is best effort)."""

    def lag(self) -> dict[tuple[str, int], int]:
        return {("memory", 0): self._queue.qsize()}

    def shutdown(self, timeout_s: float = 10.0) -> None:
        self._closed = True
