"""A periodic one-line log of the flow (received -> sampled -> scored), read from the registry.

The counters already exist for Prometheus; this only reads them, so the log and `/metrics` never
disagree. At a 5 % rate a newcomer who sends 48 traces sees one score: the line says how many
were received and sampled, at which rate, and how to change it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from processor.metrics.instruments import counter_sample

log = logging.getLogger("evalstream")

#: (what, counter sample name) in flow order; a part that does not run in this role has no sample.
FLOW: tuple[tuple[str, str], ...] = (
    ("received", counter_sample("receiver", "received_traces")),
    ("sampled", counter_sample("sampler", "kept_traces")),
    ("llm_calls", counter_sample("receiver", "llm_calls")),
    ("scored", counter_sample("worker", "cases")),
)


@dataclass(frozen=True)
class FlowCounts:
    received: float | None = None
    sampled: float | None = None
    llm_calls: float | None = None
    scored: float | None = None

    @classmethod
    def read(cls, registry: CollectorRegistry) -> FlowCounts:
        return cls(**{what: registry.get_sample_value(sample) for what, sample in FLOW})

    def minus(self, earlier: FlowCounts) -> FlowCounts:
        def delta(now: float | None, then: float | None) -> float | None:
            return None if now is None else now - (then or 0.0)

        return FlowCounts(
            received=delta(self.received, earlier.received),
            sampled=delta(self.sampled, earlier.sampled),
            llm_calls=delta(self.llm_calls, earlier.llm_calls),
            scored=delta(self.scored, earlier.scored),
        )


def describe_flow(counts: FlowCounts, sampling_rate: float | None) -> str:
    """`48 traces received, 2 sampled (sampling.rate=0.05), 2 LLM calls forwarded, 2 scored`."""
    parts: list[str] = []
    if counts.received is not None:
        parts.append(f"{counts.received:.0f} traces received")
    if counts.sampled is not None:
        rate = f" (sampling.rate={sampling_rate:g})" if sampling_rate is not None else ""
        parts.append(f"{counts.sampled:.0f} sampled{rate}")
    if counts.llm_calls is not None:
        parts.append(f"{counts.llm_calls:.0f} LLM calls in them")
    if counts.scored is not None:
        parts.append(f"{counts.scored:.0f} LLM calls scored")
    return ", ".join(parts) if parts else "nothing to count in this role"


def sampling_hint(sampling_rate: float) -> str:
    """What the rate means for a first try, and how to change it."""
    if sampling_rate >= 1.0:
        return "sampling.rate=1: every trace is scored"
    if sampling_rate <= 0.0:
        return (
            "sampling.rate=0: only traces with sampling.priority > 0 are scored; "
            "change with --set sampling.rate=1"
        )
    return (
        f"sampling.rate={sampling_rate:g}: about 1 trace in {1 / sampling_rate:.0f} is scored; "
        "to score every trace while trying evalstream out: --set sampling.rate=1"
    )


class FlowSummary:
    """Logs `describe_flow` for the last interval (and since start) every `interval_s` seconds.

    A pipeline part: start() begins the thread, shutdown() stops it and logs the totals once more.
    """

    def __init__(
        self, registry: CollectorRegistry, *, interval_s: float, sampling_rate: float | None
    ) -> None:
        self._registry = registry
        self._interval_s = interval_s
        self._sampling_rate = sampling_rate
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last = FlowCounts()

    def start(self) -> None:
        if self._thread is None and self._interval_s > 0:
            self._last = FlowCounts.read(self._registry)
            self._thread = threading.Thread(target=self._run, name="flow-summary", daemon=True)
            self._thread.start()

    def shutdown(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
            log.info("since start: %s", describe_flow(FlowCounts.read(self._registry), self._sampling_rate))

    def log_once(self) -> None:
        now = FlowCounts.read(self._registry)
        recent, self._last = now.minus(self._last), now
        log.info(
            "last %gs: %s | since start: %s",
            self._interval_s,
            describe_flow(recent, self._sampling_rate),
            describe_flow(now, None),
        )

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.log_once()
