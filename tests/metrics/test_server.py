from __future__ import annotations

import socket
import struct
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from processor.health import Health, PartHealth
from processor.metrics import MetricsServer


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_serves_metrics_health_and_readiness_then_restarts() -> None:
    registry = CollectorRegistry()
    Counter("evalstream_test_things_total", "things", registry=registry).inc(3)
    state = {"part": PartHealth(ready=False, reason="no broker")}
    health = Health()
    health.add("transport", lambda: state["part"])
    server = MetricsServer("127.0.0.1", 0, registry, health=health)
    server.shutdown()  # stop before start is harmless
    server.start()
    server.start()  # idempotent
    base = f"http://127.0.0.1:{server.port}"
    status, body = _get(base + "/metrics")
    assert status == 200 and "evalstream_test_things_total 3.0" in body
    assert _get(base + "/healthz")[0] == 200
    assert _get(base + "/readyz") == (503, "not ready\ntransport: no broker\n")
    state["part"] = PartHealth()
    assert _get(base + "/readyz") == (200, "ready\n")
    state["part"] = PartHealth(live=False, ready=False, reason="the worker thread exited")
    assert _get(base + "/healthz") == (503, "dead\ntransport: the worker thread exited\n")
    assert _get(base + "/readyz")[0] == 503
    assert _get(base + "/nope")[0] == 404
    port = server.port
    server.shutdown()
    server.shutdown()
    with pytest.raises(RuntimeError):
        _ = server.port
    again = MetricsServer("127.0.0.1", port, registry)
    again.start()
    assert _get(f"http://127.0.0.1:{port}/metrics")[0] == 200
    again.shutdown()


def test_metrics_stay_under_a_few_mb_whatever_the_label_values() -> None:
    """10,000 distinct label combinations of 1 KB values, control characters and lone surrogates,
    recorded through WorkerMetrics with the default budgets, then scraped over HTTP."""
    from processor.metrics import WorkerMetrics
    from processor.metrics.config import MetricsConfig
    from processor.model import DEFAULT_SLICE_LABELS, EvalCase, Score

    defaults = MetricsConfig()
    registry = CollectorRegistry()
    metrics = WorkerMetrics(
        registry,
        prefix="app_eval",
        label_names=DEFAULT_SLICE_LABELS,
        max_label_values=defaults.max_label_values,
        max_series=defaults.max_series,
        max_label_length=defaults.max_label_length,
    )
    metrics.prepare(["relevance"])
    for i in range(10_000):
        tenant, locale, version = i % 50, (i // 50) % 50, i // 2500
        labels = {
            "service": "bot",
            "model": f"gpt-4o\udc80{'m' * 1000}",
            "tenant": f"tenant-{tenant}-{'t' * 1000}",
            "locale": f"loc\n{locale}\x1b[31m",
            "prompt_version": f"v{version}",
        }
        metrics.record(EvalCase(input="q", output="a", labels=labels), Score.scored("relevance", 0.5))
    server = MetricsServer("127.0.0.1", 0, registry)
    server.start()
    try:
        status, body = _get(f"http://127.0.0.1:{server.port}/metrics")
    finally:
        server.shutdown()
    assert status == 200
    size = len(body.encode())
    assert size < 3_000_000, f"/metrics is {size} bytes"
    print(f"/metrics: {size} bytes, {len(body.splitlines())} lines")
    series = {
        line.split("{", 1)[1] for line in body.splitlines() if line.startswith("app_eval_relevance_count{")
    }
    assert len(series) == defaults.max_series + 1  # the budget, plus the __other__ series
    assert 'tenant="__other__"' in body
    assert "\x1b" not in body and "m" * 100 not in body
    assert registry.get_sample_value("evalstream_metrics_label_overflow_total", {"label": "__series__"}) > 0


class _SlowBigCollector:
    """A scrape that takes a while and returns megabytes: the scraper gives up first."""

    def collect(self):  # type: ignore[no-untyped-def]
        from prometheus_client.core import GaugeMetricFamily

        time.sleep(0.5)
        family = GaugeMetricFamily("evalstream_test_big", "big", labels=["n"])
        for n in range(40_000):
            family.add_metric([f"value-{n:06d}-" + "x" * 40], n)
        yield family


def test_a_scraper_that_hangs_up_leaves_no_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    registry = CollectorRegistry()
    registry.register(_SlowBigCollector())  # type: ignore[arg-type]
    server = MetricsServer("127.0.0.1", 0, registry)
    server.start()
    try:
        for _ in range(3):
            client = socket.create_connection(("127.0.0.1", server.port))
            client.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            # close with a reset, as a scraper past its scrape_timeout does
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
        time.sleep(1.5 * 3)
        assert _get(f"http://127.0.0.1:{server.port}/healthz")[0] == 200
    finally:
        server.shutdown()
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err, captured.err
