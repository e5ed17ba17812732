"""processor.health: per-part liveness and readiness with reasons."""

from __future__ import annotations

import threading

from processor.health import SERVING, Health, PartHealth, thread_health


def test_ready_and_live_list_each_failing_part_with_its_reason() -> None:
    health = Health()
    assert health.live() == (True, []) and health.ready() == (True, [])
    health.add("producer", lambda: PartHealth(ready=False, reason="no metadata from Kafka for 7s"))
    health.add("worker", lambda: SERVING)
    assert health.live() == (True, [])
    assert health.ready() == (False, ["producer: no metadata from Kafka for 7s"])
    health.add("worker", lambda: PartHealth(live=False, ready=False, reason="the worker thread exited"))
    assert health.live() == (False, ["worker: the worker thread exited"])
    assert health.ready()[1] == [
        "producer: no metadata from Kafka for 7s",
        "worker: the worker thread exited",
    ]


def test_a_check_that_raises_makes_its_part_not_ready_but_alive() -> None:
    def broken() -> PartHealth:
        raise ValueError("boom")

    health = Health()
    health.add("topics", broken)
    assert health.live() == (True, [])
    assert health.ready() == (False, ["topics: health check failed: ValueError: boom"])


def test_thread_health_is_dead_only_once_a_started_thread_exited() -> None:
    assert thread_health(None, "worker") == SERVING
    thread = threading.Thread(target=lambda: None)
    assert thread_health(thread, "worker") == SERVING  # not started yet
    thread.start()
    thread.join()
    assert thread_health(thread, "worker") == PartHealth(False, False, "the worker thread exited")
