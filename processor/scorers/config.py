"""ScorersConfig: the `scorers` section: which scorers run, their parameters and pass thresholds.

scorers:
  enabled:
    - name: relevance            # a built-in scorer
      threshold: 0.6             # passed = score >= threshold
    - name: judge                # expensive by default: runs on worker.tiers' per-slice subsample
      params: {base_url: "http://localhost:8000/v1", model: gpt-4o-mini, api_key_env: OPENAI_API_KEY}
    - name: brand_voice          # a custom scorer: same signature as the built-ins
      function: mypkg.scorers:brand_voice
      tier: expensive            # opt in to the subsample (default: cheap, on every case)
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

TIERS = ("cheap", "expensive")
#: Built-ins that are expensive unless their spec says `tier: cheap`: one paid request per case.
EXPENSIVE_BUILTINS = frozenset({"judge"})


@dataclass(frozen=True)
class ScorerSpec:
    name: str = ""
    threshold: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    function: str = ""  # module:function for a custom scorer
    builtin: str = ""  # the built-in to run when `name` is your own label (two `regex` checks, say)
    tier: str = ""  # cheap (every case) | expensive (worker.tiers' subsample); empty: the scorer's default

    @property
    def expensive(self) -> bool:
        """Runs on the expensive tier: `tier: expensive`, or a judge without a `tier`."""
        if self.tier:
            return self.tier == "expensive"
        return not self.function and (self.builtin or self.name) in EXPENSIVE_BUILTINS

    def validate(self, path: str) -> list[str]:
        problems: list[str] = []
        if not self.name:
            problems.append(f"{path}.name: every scorer needs a name")
        if self.threshold is not None and (math.isnan(self.threshold) or not 0.0 <= self.threshold <= 1.0):
            problems.append(f"{path}.threshold: must be between 0 and 1, got {self.threshold}")
        if self.function and ":" not in self.function:
            problems.append(f"{path}.function: must be module:function, got {self.function!r}")
        if self.function and self.builtin:
            problems.append(f"{path}: set either builtin or function, not both")
        if self.tier and self.tier not in TIERS:
            problems.append(f"{path}.tier: must be one of {', '.join(TIERS)}, got {self.tier!r}")
        return problems


#: What runs when the configuration has no `scorers` section: the one list the workers, the offline
#: runner and the alert-rule generator all read. Each spec takes its scorer's default threshold.
#: `groundedness` sees a wrong figure or policy version; `language_match` an answer in the wrong
#: language; both skip cases they cannot judge (no context, too short). `semantic_relevance` scores
#: relevance better but costs 1.5-5 ms of CPU per case, growing with the answer's length: too much
#: for the 500 cases per CPU-second a worker must sustain (see README, Which relevance signal).
DEFAULT_ENABLED: tuple[ScorerSpec, ...] = (
    ScorerSpec(name="relevance"),
    ScorerSpec(name="context_relevance"),
    ScorerSpec(name="groundedness"),
    ScorerSpec(name="language_match"),
)


def _default_enabled() -> list[ScorerSpec]:
    return copy.deepcopy(list(DEFAULT_ENABLED))  # a config's specs are its own, params dicts included


@dataclass(frozen=True)
class ScorersConfig:
    enabled: list[ScorerSpec] = field(default_factory=_default_enabled)

    def validate(self, path: str) -> list[str]:
        names = [s.name for s in self.enabled]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            return [f"{path}.enabled: scorer names must be unique, repeated: {', '.join(duplicates)}"]
        return []
