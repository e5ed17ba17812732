"""Test tooling: a real Kafka broker, from KAFKA_BOOTSTRAP_SERVERS or started by deploy/local/kafka.sh,
the `kafka` config section of a test's own topics, and a reader of what landed on them."""

from __future__ import annotations

import contextlib
import os
import pathlib
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from kafka import KafkaConsumer

from processor._proto import eval_result_pb2

REPO = pathlib.Path(__file__).resolve().parent.parent
KAFKA_SH = REPO / "deploy" / "local" / "kafka.sh"


def start_broker(run_dir: pathlib.Path, *, script: pathlib.Path = KAFKA_SH) -> str:
    """Start one broker with its state under run_dir; return its bootstrap address."""
    env = {**os.environ, "EVALSTREAM_KAFKA_RUN": str(run_dir)}
    done = subprocess.run(
        [str(script), "start"], env=env, capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script} start failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    for line in done.stdout.splitlines():
        if line.startswith("KAFKA_BOOTSTRAP_SERVERS="):
            return line.split("=", 1)[1].strip()
    raise RuntimeError(f"{script} start printed no KAFKA_BOOTSTRAP_SERVERS line:\n{done.stdout}")


def stop_broker(
    run_dir: pathlib.Path,
    port: str | None = None,
    *,
    keep_data: bool = False,
    script: pathlib.Path = KAFKA_SH,
) -> None:
    """Stop one broker (or all under run_dir); keep_data leaves it restartable with `restart_broker`."""
    env = {**os.environ, "EVALSTREAM_KAFKA_RUN": str(run_dir)}
    if keep_data:
        if port is None:
            raise ValueError("keep_data needs the broker's port")
        args = ["stop", "--keep-data", port]
    else:
        args = ["stop", *([port] if port else [])]
    subprocess.run([str(script), *args], env=env, check=True, timeout=120)


def restart_broker(run_dir: pathlib.Path, port: str, *, script: pathlib.Path = KAFKA_SH) -> None:
    """Start a broker stopped with keep_data again, on the same address with its data."""
    env = {**os.environ, "EVALSTREAM_KAFKA_RUN": str(run_dir)}
    done = subprocess.run(
        [str(script), "restart", port], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script} restart {port} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")


@contextlib.contextmanager
def own_broker(*, script: pathlib.Path = KAFKA_SH) -> Iterator[tuple[str, pathlib.Path]]:
    """A broker of the caller's own (never the shared one), for tests that stop and restart it:
    yields (address, run_dir) and always stops it and deletes its data at the end."""
    run_dir = pathlib.Path(tempfile.mkdtemp(prefix="evalstream-kafka-own-"))
    try:
        address = start_broker(run_dir, script=script)
        yield address, run_dir
    finally:
        stop_broker(run_dir, script=script)
        with contextlib.suppress(OSError):
            run_dir.rmdir()


@contextlib.contextmanager
def kafka_broker(
    environ: Mapping[str, str] | None = None, *, script: pathlib.Path = KAFKA_SH
) -> Iterator[str]:
    """Yield KAFKA_BOOTSTRAP_SERVERS when set, else the address of a broker started (and stopped) here."""
    environ = os.environ if environ is None else environ
    existing = environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if existing:
        yield existing
        return
    run_dir = pathlib.Path(tempfile.mkdtemp(prefix="evalstream-kafka-"))
    address = start_broker(run_dir, script=script)
    try:
        yield address
    finally:
        stop_broker(run_dir, script=script)
        with contextlib.suppress(OSError):
            run_dir.rmdir()


def kafka_section(bootstrap: str, prefix: str, **options: Any) -> dict[str, Any]:
    """The `kafka` config section of a test whose topics are its own (`<prefix>_spans`, ...)."""
    topics = {
        "traces": f"{prefix}_spans",
        "logs": f"{prefix}_logs",
        "results": f"{prefix}_results",
        "dead_letter": f"{prefix}_dlq",
    }
    return {"bootstrap_servers": bootstrap, "topics": topics, **options}


def topic_keys(address: str, topic: str, *, expect: set[str], timeout_s: float = 90) -> set[str]:
    """Record keys (trace id hex) on a topic, or the trace ids of the EvalResults on a results topic,
    read until `expect` is among them or `timeout_s` passed."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=address,
        group_id=f"reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    seen: set[str] = set()
    deadline = time.monotonic() + timeout_s
    try:
        while not expect <= seen and time.monotonic() < deadline:
            for message in consumer:
                if topic.endswith("_results"):
                    seen.add(eval_result_pb2.EvalResult.FromString(message.value).trace_id)
                else:
                    seen.add(message.key.decode())
    finally:
        consumer.close()
    return seen
