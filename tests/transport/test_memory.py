"""The in-process transport: bounded queue, and bounded memory for what nothing in-process consumes."""

from __future__ import annotations

import tracemalloc

from processor.transport import Record, Signal
from processor.transport.memory import KEEP_SENT, MemoryTransport


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
