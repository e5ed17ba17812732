"""evalstream: score LLM calls from the OpenTelemetry trace stream (online) and golden files (offline)."""

from __future__ import annotations

from processor.model import EvalCase, Outcome, Score

__version__ = "0.1.0"

__all__ = ["EvalCase", "Outcome", "Score", "__version__"]
