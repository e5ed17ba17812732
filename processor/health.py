"""Liveness and readiness of the running parts, each with a reason, for /healthz, /readyz and the supervisor.

A part is *live* while the thread that does its job runs (dead: the process must exit non-zero so
the orchestrator restarts it) and *ready* while it can do its job now (the producer heard from
Kafka lately, the worker polled lately, ...). Parts register a check returning a `PartHealth`;
nothing else decides what healthy means.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PartHealth:
    """One part's state; `reason` says what is wrong (empty when live and ready)."""

    live: bool = True
    ready: bool = True
    reason: str = ""


SERVING = PartHealth()

Check = Callable[[], PartHealth]


class Health:
    """Named checks, asked on demand (every probe sees the state of now). Thread-safe."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}
        self._lock = threading.Lock()

    def add(self, name: str, check: Check) -> None:
        """Register (or replace) the check of part `name`."""
        with self._lock:
            self._checks[name] = check

    def parts(self) -> dict[str, PartHealth]:
        """Every part's state now; a check that raises makes its part not ready (not dead)."""
        with self._lock:
            checks = list(self._checks.items())
        out: dict[str, PartHealth] = {}
        for name, check in checks:
            try:
                out[name] = check()
            except Exception as exc:
                out[name] = PartHealth(
                    ready=False, reason=f"health check failed: {type(exc).__name__}: {exc}"
                )
        return out

    def live(self) -> tuple[bool, list[str]]:
        """(every part live, "part: reason" for each dead one)."""
        dead = [f"{name}: {h.reason}" for name, h in self.parts().items() if not h.live]
        return not dead, dead

    def ready(self) -> tuple[bool, list[str]]:
        """(every part live and ready, "part: reason" for each that is not)."""
        waiting = [f"{name}: {h.reason}" for name, h in self.parts().items() if not (h.live and h.ready)]
        return not waiting, waiting


def thread_health(thread: threading.Thread | None, what: str) -> PartHealth:
    """Live unless `thread` was started and has exited."""
    if thread is not None and thread.ident is not None and not thread.is_alive():
        return PartHealth(live=False, ready=False, reason=f"the {what} thread exited")
    return SERVING
