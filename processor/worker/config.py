"""WorkerConfig: the `worker` section (Kafka consumer group, trace assembly, scoring concurrency)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TiersConfig:
    """`worker.tiers`: which cases the expensive scorers (the judge; any scorer with `tier: expensive`)
    see. The cheap scorers score every case the worker assembles.

    Each value of `slice_label` is a slice. A slice gets about `min_per_hour` expensive-tier cases an
    hour first (all of its cases when it has fewer); on top of that every slice's remaining cases are
    included at one shared rate: `rate`, lowered so the expensive scorers' token budget holds. All
    counts are per worker replica: each replica keeps its own quota, rates and budget.

    worker:
      tiers:
        slice_label: locale   # or tenant: any slices.labels name
        min_per_hour: 20      # per slice, per worker replica
        rate: 1.0             # the large slices' share beyond their quota, budget permitting
    """

    slice_label: str = "locale"
    min_per_hour: int = 20
    rate: float = 1.0

    def validate(self, path: str) -> list[str]:
        problems: list[str] = []
        if not self.slice_label:
            problems.append(f"{path}.slice_label: must name a slice label (slices.labels), got ''")
        if self.min_per_hour < 0:
            problems.append(f"{path}.min_per_hour: must be 0 or more, got {self.min_per_hour}")
        if math.isnan(self.rate) or not 0.0 <= self.rate <= 1.0:
            problems.append(f"{path}.rate: must be between 0 and 1, got {self.rate}")
        return problems


@dataclass(frozen=True)
class WorkerConfig:
    group_id: str = "evalstream-workers"
    assembly_window_s: float = 5.0  # wait this long for a trace's late parent spans and log records
    max_poll_records: int = 500
    poll_timeout_s: float = 1.0
    concurrency: int = 8  # scorer calls in flight per worker (judge calls are I/O bound)
    session_timeout_s: float = 45.0  # a member silent this long (crash, SIGKILL) loses its partitions
    drain_timeout_s: float = 20.0  # SIGTERM: finish in-flight work within this, then commit and exit
    stamp_endpoint: str = ""  # OTLP gRPC endpoint (a Collector) for gen_ai.evaluation.result events
    stamp_insecure: bool = True
    publish_results: bool = True  # produce every score to kafka.topics.results
    max_attribute_chars: int = 1_048_576  # longer span/log attribute strings are cut (bounds memory, CPU)
    tiers: TiersConfig = field(default_factory=TiersConfig)  # which cases the expensive scorers see

    def validate(self, path: str) -> list[str]:
        problems: list[str] = []
        if self.assembly_window_s < 0:
            problems.append(f"{path}.assembly_window_s: must be 0 or more, got {self.assembly_window_s}")
        if self.max_poll_records < 1:
            problems.append(f"{path}.max_poll_records: must be at least 1, got {self.max_poll_records}")
        if self.concurrency < 1:
            problems.append(f"{path}.concurrency: must be at least 1, got {self.concurrency}")
        if not 6.0 <= self.session_timeout_s <= 300.0:  # the broker's default group session bounds
            problems.append(
                f"{path}.session_timeout_s: must be between 6 and 300, got {self.session_timeout_s}"
            )
        if self.max_attribute_chars < 1000:
            problems.append(
                f"{path}.max_attribute_chars: must be at least 1000, got {self.max_attribute_chars}"
            )
        if self.drain_timeout_s <= 0:
            problems.append(f"{path}.drain_timeout_s: must be positive, got {self.drain_timeout_s}")
        return problems
