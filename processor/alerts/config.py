"""AlertsConfig: the `alerts` section: how `python -m processor.alerts` writes the Prometheus rules.

The workers ignore this section; the rule generator reads it together with `scorers.enabled` (one
set of drift rules per scorer), `slices.labels` (one per slice label) and `metrics.prefix`, so the
rules always match the series the workers export.

alerts:
  drift: relative        # relative (default) | absolute (the seed article's floor rule) | both
  margin: 0.05           # page when the hour's mean is this far below the 7-day mean ...
  spread_k: 4            # ... or k times the slice's usual hour-to-hour spread, whichever is larger
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

DRIFT_MODES = ("relative", "absolute", "both")
_DURATION = re.compile(r"^[0-9]+[smhd]$")


@dataclass(frozen=True)
class AlertsConfig:
    drift: str = "relative"
    # relative drift: 7d mean - 1h mean > max(margin, spread_k * spread of the hourly means)
    margin: float = 0.05
    spread_k: float = 4.0
    # absolute drift (the article's rule): 1h mean < floor while the 7-day mean > baseline
    floor: float = 0.6
    baseline: float = 0.75
    # guards shared by both: enough cases now, enough history to compare with
    min_cases_1h: int = 20
    min_baseline_cases: int = 200
    min_baseline_hours: int = 24  # hours in the 7 days that had min_cases_1h cases
    drift_for: str = "5m"
    # pipeline alerts
    error_ratio: float = 0.05
    lag_records: int = 10000
    stopped_window: str = "15m"
    stopped_history: str = "6h"
    # slice labels that get drift rules (each aggregated with `service`); empty: every slices.labels name
    slices: tuple[str, ...] = ()

    def validate(self, path: str) -> list[str]:
        problems: list[str] = []
        if self.drift not in DRIFT_MODES:
            problems.append(f"{path}.drift: must be one of {', '.join(DRIFT_MODES)}, got {self.drift!r}")
        for key in ("margin", "floor", "baseline", "error_ratio"):
            value = getattr(self, key)
            if math.isnan(value) or not 0.0 <= value <= 1.0:
                problems.append(f"{path}.{key}: must be between 0 and 1, got {value}")
        if math.isnan(self.spread_k) or self.spread_k < 0:
            problems.append(f"{path}.spread_k: must be 0 or more, got {self.spread_k}")
        for key in ("min_cases_1h", "min_baseline_cases", "min_baseline_hours", "lag_records"):
            if getattr(self, key) < 1:
                problems.append(f"{path}.{key}: must be at least 1, got {getattr(self, key)}")
        if self.min_baseline_hours > 168:
            problems.append(f"{path}.min_baseline_hours: at most 168 (7 days), got {self.min_baseline_hours}")
        for key in ("drift_for", "stopped_window", "stopped_history"):
            value = getattr(self, key)
            if not _DURATION.match(value):
                problems.append(f"{path}.{key}: must be a Prometheus duration like 10m, got {value!r}")
        if self.margin == 0 and self.spread_k == 0:
            problems.append(f"{path}: margin and spread_k are both 0: any dip would page")
        return problems
