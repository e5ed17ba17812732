"""The in-process queue: joins receiver and worker in the embedded mode; stands in for Kafka in unit tests."""

from __future__ import annotations

import collections
import queue
import threading
from collections.abc import Sequence

from processor.errors import ShuttingDown, TransportFull
from processor.transport import Consumed, Record, Signal

#: What the worker consumes; results and dead letters are kept in `sent` instead.
_CONSUMED = frozenset({Signal.TRACES, Signal.LOGS})

#: Results and dead letters kept for inspection (tests, debugging); older ones are dropped.
KEEP_SENT = 1000


class MemoryTransport:
    """A bounded FIFO with Producer and Consumer faces. Full means refuse, never drop what was accepted."""

    def __init__(self, *, max_records: int = 10000, keep_sent: int = KEEP_SENT) -> None:
        self._queue: queue.Queue[Consumed] = queue.Queue(maxsize=max_records)
        self._lock = threading.Lock()
        self._offset = 0
        self._closed = False
        # Results and dead letters, which nothing in-process consumes: only the newest `keep_sent`, so
        # a long-running embedded process does not keep every score it ever produced.
        self.sent: collections.deque[Record] = collections.deque(maxlen=keep_sent)
        self.dropped = 0  # results and dead letters pushed out of `sent`
        self.max_records = max_records
        self.max_batch_records = max_records  # a bigger send can never fit (the receiver refuses it for good)

    # Producer
    def send(self, records: Sequence[Record], *, timeout_s: float) -> None:
        if self._closed:
            raise ShuttingDown("the in-process queue is shut down")
        queued = [r for r in records if r.signal in _CONSUMED]
        with self._lock:
            if self._queue.qsize() + len(queued) > self.max_records:
                raise TransportFull(
                    f"in-process queue full ({self._queue.qsize()} of {self.max_records} records)",
                    retry_after_s=1.0,
                )
            for record in queued:
                self._queue.put_nowait(Consumed(record, record.signal.value, 0, self._offset))
                self._offset += 1
            kept = [r for r in records if r.signal not in _CONSUMED]
            assert self.sent.maxlen is not None
            self.dropped += max(0, len(self.sent) + len(kept) - self.sent.maxlen)
            self.sent.extend(kept)

    def ready(self) -> bool:
        return not self._closed and self._queue.qsize() < self.max_records

    # Consumer
    def poll(self, *, timeout_s: float, max_records: int) -> list[Consumed]:
        batch: list[Consumed] = []
        try:
            batch.append(self._queue.get(timeout=timeout_s))
            while len(batch) < max_records:
                batch.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        return batch

    def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        """Nothing to do: a record leaves the queue when polled (the embedded mode is best effort)."""

    def lag(self) -> dict[tuple[str, int], int]:
        return {("memory", 0): self._queue.qsize()}

    def shutdown(self, timeout_s: float = 10.0) -> None:
        self._closed = True
