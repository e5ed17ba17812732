"""The in-process transport: bounded queue, and bounded memory for what nothing in-process consumes."""

from __future__ import annotations

import tracemalloc

import pytest

from processor.errors import TooLarge, TransportFull
from processor.transport import Record, Signal
from processor.transport.memory import KEEP_SENT, MAX_RECORD_BYTES, MemoryTransport


def test_results_and_dead_letters_are_kept_bounded_not_forever() -> None:
    """20,000 results of 20 KB (400 MB if all were kept) cost at most KEEP_SENT of them."""
    transport = MemoryTransport(max_records=10)
    tracemalloc.start()
    try:
        for i in range(20_000):
            value = i.to_bytes(4, "big") * 5_000  # 20 KB, a fresh object each time
            signal = Signal.RESULTS if i % 10 else Signal.DEAD_LETTER
            transport.send([Record(signal, b"0" * 32, value)], timeout_s=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(transport.sent) == KEEP_SENT
    assert transport.dropped == 20_000 - KEEP_SENT
    assert transport.sent[-1].value[:4] == (19_999).to_bytes(4, "big")  # the newest are kept
    assert peak < (KEEP_SENT + 100) * 20_000 * 1.2
    assert transport.lag() == {("memory", 0): 0}  # none of them was queued for the worker


def test_the_queue_is_bounded_in_bytes_not_only_records() -> None:
    transport = MemoryTransport(max_records=10_000, max_bytes=2 * 1024 * 1024, max_record_bytes=1024 * 1024)
    big = Record(Signal.TRACES, b"0" * 32, b"x" * 700_000)
    transport.send([big, big], timeout_s=1)
    with pytest.raises(TransportFull, match="bytes"):
        transport.send([big], timeout_s=1)  # 3 x 700 KB > 2 MiB although 3 records are far from 10,000
    assert not transport.ready()
    assert len(transport.poll(timeout_s=1, max_records=1)) == 1
    transport.send([big], timeout_s=1)  # room again once the worker polled
    assert transport.lag() == {("memory", 0): 2}


def test_a_record_over_the_record_limit_is_too_large_as_with_kafka() -> None:
    transport = MemoryTransport()
    assert transport.max_record_bytes == MAX_RECORD_BYTES == 1_048_576  # the Kafka producer's default
    with pytest.raises(TooLarge, match="exceeds the in-process limit"):
        transport.send([Record(Signal.TRACES, b"0" * 32, b"x" * MAX_RECORD_BYTES)], timeout_s=1)
    assert transport.lag() == {("memory", 0): 0}
