"""The frozen types every part speaks: one eval case in, one score out."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

#: Slice labels every deployment has unless configured otherwise (metric label names).
DEFAULT_SLICE_LABELS: tuple[str, ...] = ("service", "model", "prompt_version", "tenant", "locale")

#: The value a slice label takes when nothing in the trace carries it.
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message, flattened to text (tool calls and blobs are described, not inlined)."""

    role: str
    content: str


@dataclass(frozen=True, slots=True)
class EvalCase:
    """One LLM call to score: built by `processor.extract` (online) or `processor.offline.golden` (CI).

    `input` is the question (the last user message), `output` the answer. `has_content` is False when
    the instrumentation recorded metadata only: such a case is counted, never scored as empty text.
    """

    input: str
    output: str
    expected: str | None = None
    context: tuple[str, ...] = ()
    messages: tuple[Message, ...] = ()
    system_instructions: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    # provenance
    id: str = ""
    trace_id: str = ""
    span_id: str = ""
    source: str = ""
    # what the LLM call itself reported
    model: str = ""
    request_model: str = ""
    provider: str = ""
    response_id: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    error: str = ""
    has_content: bool = True

    def label(self, name: str) -> str:
        """The slice label's value, or `unknown`."""
        return self.labels.get(name) or UNKNOWN


class Outcome(enum.Enum):
    """What a scorer did with a case. An error is not a low score, and a skip is not a failure."""

    SCORED = "scored"
    SKIPPED = "skipped"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Score:
    """A scorer's verdict. `value` is in [0, 1] when `outcome` is SCORED, else None (`run_scorers` checks).

    `reason` is short and low-cardinality (a metric label: `no_context`, `timeout`, `http_503`...);
    `explanation` is free text for people. `tokens` counts judge tokens spent producing it.
    """

    name: str
    outcome: Outcome
    value: float | None = None
    passed: bool | None = None
    threshold: float | None = None
    reason: str = ""
    explanation: str = ""
    tokens: int = 0

    @classmethod
    def scored(
        cls,
        name: str,
        value: float,
        *,
        threshold: float | None = None,
        explanation: str = "",
        tokens: int = 0,
    ) -> Score:
        # Not clamped: NaN or 1.5 is a scorer bug, and `run_scorers` reports it as `bad_return`.
        value = float(value)
        passed = None if threshold is None else value >= threshold
        return cls(name, Outcome.SCORED, value, passed, threshold, "", explanation, tokens)

    @classmethod
    def skipped(cls, name: str, reason: str, explanation: str = "") -> Score:
        return cls(name, Outcome.SKIPPED, reason=reason, explanation=explanation)

    @classmethod
    def errored(cls, name: str, reason: str, explanation: str = "", tokens: int = 0) -> Score:
        return cls(name, Outcome.ERROR, reason=reason, explanation=explanation, tokens=tokens)
