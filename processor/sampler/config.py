"""SamplingConfig: the `sampling` section (consistent per-trace sampling)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class SamplingConfig:
    # fraction of traces kept, 0..1 (the Collector's sampling_percentage / 100). Every LLM call of a
    # kept trace gets the cheap scorers, so 1.0: a slice with 2 % of 1,000 calls an hour still gets
    # its 20 cases an hour; the judge sees a per-slice subsample (worker.tiers)
    rate: float = 1.0
    hash_seed: int = 0  # the Collector's hash_seed: give every replica (and Collector) the same one
    priority_attribute: str = "sampling.priority"  # 0 drops, > 0 keeps; empty disables the override

    def validate(self, path: str) -> list[str]:
        problems: list[str] = []
        if math.isnan(self.rate) or not 0.0 <= self.rate <= 1.0:
            problems.append(f"{path}.rate: must be between 0 and 1, got {self.rate}")
        if not 0 <= self.hash_seed <= 0xFFFFFFFF:
            problems.append(f"{path}.hash_seed: must be an unsigned 32-bit integer, got {self.hash_seed}")
        return problems
