"""One self-rewriting status line for long offline runs: cases done, failures so far, ETA.

Only on a terminal: when the stream is not a TTY (CI logs, pipes) nothing is written at all, so logs
hold the report and nothing else. Runs that finish within `delay_s` print nothing either.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TextIO


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """`advance()` from any thread as cases finish; `close()` ends the line.

    Args:
        what: the phase, e.g. "outputs" or "scoring".
        total: cases in the phase.
        stream: where the line goes (a terminal's stderr).
        enabled: None: only when `stream.isatty()`.
        delay_s: nothing is shown before this much time has passed (short runs stay silent).
        interval_s: the least time between two redraws.
    """

    def __init__(
        self,
        what: str,
        total: int,
        stream: TextIO,
        *,
        enabled: bool | None = None,
        delay_s: float = 1.0,
        interval_s: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.total = total
        self.done = 0
        self.failed = 0
        self.erred = 0
        self._stream = stream
        self._enabled = stream.isatty() if enabled is None else enabled
        self._clock = clock
        self._started = clock()
        self._show_after = self._started + delay_s
        self._interval_s = interval_s
        self._next_draw = 0.0
        self._drawn = False
        self._lock = threading.Lock()

    def advance(self, *, failed: bool = False, erred: bool = False) -> None:
        with self._lock:
            self.done += 1
            self.failed += failed
            self.erred += erred
            now = self._clock()
            if (
                self._enabled
                and now >= self._show_after
                and (now >= self._next_draw or self.done == self.total)
            ):
                self._next_draw = now + self._interval_s
                self._draw(now)

    def line(self, now: float) -> str:
        elapsed = now - self._started
        parts = [f"{self.what}: {self.done}/{self.total} cases"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.erred:
            parts.append(f"{self.erred} erred")
        if self.done >= self.total:
            parts.append(f"done in {_duration(elapsed)}")
        elif self.done:
            parts.append(f"ETA {_duration(elapsed / self.done * (self.total - self.done))}")
        return ", ".join(parts)

    def _draw(self, now: float) -> None:
        self._stream.write(f"\r\x1b[2K{self.line(now)}")
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Finish the line (only if one was drawn)."""
        with self._lock:
            if self._drawn:
                self._draw(self._clock())
                self._stream.write("\n")
                self._stream.flush()
                self._drawn = False
