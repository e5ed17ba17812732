"""Test tooling: a real Kafka broker, from KAFKA_BOOTSTRAP_SERVERS or started by deploy/local/kafka.sh."""

from __future__ import annotations

import contextlib
import os
import pathlib
import subprocess
import tempfile
from collections.abc import Iterator, Mapping

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
