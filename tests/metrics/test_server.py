from __future__ import annotations

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
