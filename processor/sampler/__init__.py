"""sampler: the whole keep/drop decision of a trace, behind one protocol.

The receiver and the extractor's `select_traces` / `select_logs` only ask; `TraceIdSampler` (bit for
bit the Collector's probabilistic_sampler, `mode: hash_seed`) answers.
"""

from __future__ import annotations

from typing import Protocol

from opentelemetry.proto.trace.v1.trace_pb2 import Span


class Sampler(Protocol):
    """Keep or drop by trace id, with a per-span override (the Collector's `sampling.priority`).

    A span's verdict is `override(span)` when that is not None: False drops that span alone, True
    keeps it and its whole trace; otherwise the span follows its trace's `keep(trace_id)`. Where
    `overrides` is false, `override` always gives None and callers may skip asking.
    """

    @property
    def overrides(self) -> bool: ...

    @property
    def keeps_every_trace(self) -> bool:
        """True when `keep` is True for every trace id (rate 1): no span is dropped by its trace id."""

    def keep(self, trace_id: bytes) -> bool:
        """The hash verdict of a trace (`trace_id`: its 16 raw bytes)."""

    def override(self, span: Span) -> bool | None:
        """The span's own verdict (its priority attribute), None when it has none."""

    def for_request(self, raw: bytes) -> Sampler:
        """The sampler for one serialised request: the same decisions, and `overrides` false when no
        span of these bytes can carry an override (so spans need not be scanned for it)."""

    def describe(self) -> str:
        """One line for the start-up log."""


__all__ = ["Sampler"]
