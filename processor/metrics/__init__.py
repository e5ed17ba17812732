"""Prometheus metrics: the instruments (score histograms, self-metrics) and the /metrics server."""

from __future__ import annotations

from processor.metrics.instruments import SCORE_BUCKETS, WorkerMetrics, score_metric_name
from processor.metrics.server import MetricsServer

__all__ = ["SCORE_BUCKETS", "MetricsServer", "WorkerMetrics", "score_metric_name"]
