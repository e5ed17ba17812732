"""Scorers: registry name -> scorer; custom `module:function` imported at start-up; run them on a case.

A scorer is a pure function of one `EvalCase` and the parameters bound at build time:

    from processor.scorers import build_scorers, run_scorers
    scorers = build_scorers(config.scorers.enabled)      # ConfigError lists every problem
    scores = run_scorers(scorers, case)                  # one Score per scorer, never raises
    per_case = run_scorers_batch(scorers, cases)         # the same, model scorers encode in one pass

The offline runner and the online worker call exactly these; the worker calls `run_scorers` from
a bounded thread pool, so scorers are thread-safe (the judge bounds its own concurrency).
"""

from __future__ import annotations

from processor.scorers.chat import ChatClient, ChatReply, HttpxChatClient
from processor.scorers.registry import (
    BUILTIN,
    BatchScorer,
    Scorer,
    build_scorer,
    build_scorers,
    run_scorers,
    run_scorers_batch,
)

__all__ = [
    "BUILTIN",
    "BatchScorer",
    "ChatClient",
    "ChatReply",
    "HttpxChatClient",
    "Scorer",
    "build_scorer",
    "build_scorers",
    "run_scorers",
    "run_scorers_batch",
]
