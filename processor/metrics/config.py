"""MetricsConfig: the `metrics` section (Prometheus endpoint, score histograms, cardinality guard)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from processor.endpoint import split_host_port
from processor.tls import TLSConfig

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


@dataclass(frozen=True)
class MetricsConfig:
    endpoint: str = "localhost:9464"  # host:port of /metrics; empty disables the HTTP server
    prefix: str = "app_eval"  # score histograms are <prefix>_<scorer>
    max_label_values: int = 50  # per slice label; further values become __other__
    summary_interval_s: float = 60.0  # a one-line log of received / sampled / scored; 0 turns it off
    max_series: int = 500  # label combinations per score histogram; further ones become all __other__
    max_label_length: int = 64  # characters of a label value kept (longer ones are cut, marked with …)
    tls: TLSConfig = field(default_factory=TLSConfig)  # HTTPS (and client certificates) for /metrics

    def validate(self, path: str) -> list[str]:
        problems: list[str] = []
        if self.endpoint:
            split_host_port(self.endpoint, f"{path}.endpoint", problems)
        if not _METRIC_NAME.match(self.prefix):
            problems.append(f"{path}.prefix: not a valid Prometheus metric name prefix: {self.prefix!r}")
        if self.max_label_values < 1:
            problems.append(f"{path}.max_label_values: must be at least 1, got {self.max_label_values}")
        if not self.summary_interval_s >= 0:
            problems.append(f"{path}.summary_interval_s: must be 0 or more, got {self.summary_interval_s}")
        if self.max_series < 1:
            problems.append(f"{path}.max_series: must be at least 1, got {self.max_series}")
        if self.max_label_length < 8:
            problems.append(f"{path}.max_label_length: must be at least 8, got {self.max_label_length}")
        return problems
