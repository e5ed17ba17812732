"""Test tooling: run `python -m processor` as a real process with a temp config, wait until it answers."""

from __future__ import annotations

import contextlib
import http.server
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml

REPO = pathlib.Path(__file__).resolve().parent.parent

HttpServer = TypeVar("HttpServer", bound=http.server.HTTPServer)


@contextlib.contextmanager
def serving_in_thread(server: HttpServer) -> Iterator[HttpServer]:
    """An in-test HTTP server (a judge stand-in, say) answering on a thread; closed on leaving."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def wait_for(predicate: Any, *, timeout_s: float, what: str, interval_s: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


@dataclass
class RunningProcessor:
    process: subprocess.Popen[str]
    config: dict[str, Any]
    grpc_endpoint: str
    metrics_url: str
    log_path: pathlib.Path

    def metrics(self) -> str:
        return http_get(self.metrics_url + "/metrics")[1]

    @property
    def http_endpoint(self) -> str:
        return str(self.config["receiver"]["http"]["endpoint"])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def run_processor(
    tmp_path: pathlib.Path,
    config: dict[str, Any],
    *,
    role: str = "all",
    name: str = "processor",
    expect_exit: int | None = 0,
    ready_timeout_s: float = 60.0,
    args: Sequence[str] = (),
    wait_ready: bool = True,
    log_level: str = "INFO",
) -> Iterator[RunningProcessor]:
    """Start the processor with `config` (ports filled in when absent) and extra command-line `args`
    (e.g. `--set`); wait until /readyz answers 200 (`wait_ready=False`: until /healthz does, for a
    processor that is expected not to become ready); SIGTERM it at the end."""
    config = {**config}
    config["receiver"] = {**config.get("receiver", {})}
    receiver = config["receiver"].setdefault("grpc", {})
    receiver.setdefault("endpoint", f"127.0.0.1:{free_port()}")
    config["receiver"].setdefault("http", {}).setdefault("endpoint", f"127.0.0.1:{free_port()}")
    metrics = config.setdefault("metrics", {})
    metrics.setdefault("endpoint", f"127.0.0.1:{free_port()}")
    config_path = tmp_path / f"{name}.yaml"
    config_path.write_text(yaml.safe_dump(config))
    log_path = tmp_path / f"{name}.log"
    log_file = log_path.open("w")
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "processor", role, "--config", str(config_path)),
            *("--log-level", log_level, *args),
        ],
        cwd=REPO,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    running = RunningProcessor(
        process, config, receiver["endpoint"], f"http://{metrics['endpoint']}", log_path
    )
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}:\n{running.log()}")
            path = "/readyz" if wait_ready else "/healthz"
            return http_get(running.metrics_url + path, timeout=1)[0] == 200

        wait_for(ready, timeout_s=ready_timeout_s, what=f"{name} to be {'ready' if wait_ready else 'up'}")
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log_file.close()
    if expect_exit is not None:
        assert process.returncode == expect_exit, f"{name} exited {process.returncode}:\n{running.log()}"
