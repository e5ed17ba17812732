"""python -m processor: configuration problems stop start-up with exit 2 and the key on stderr."""

from __future__ import annotations

import pathlib
import socket
import subprocess
import sys

from tests.processes import REPO

TESTDATA = pathlib.Path(__file__).parent / "testdata" / "config"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "processor", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )


def test_bad_config_exits_2_naming_the_key() -> None:
    done = _run("--config", str(TESTDATA / "sampling_rate_out_of_range.yaml"))
    assert done.returncode == 2
    assert "sampling.rate: must be between 0 and 1, got 2.5" in done.stderr


def test_a_single_role_without_kafka_exits_2() -> None:
    done = _run("worker")
    assert done.returncode == 2
    assert "kafka.bootstrap_servers: the 'worker' role alone needs Kafka" in done.stderr


def test_a_taken_port_exits_1_naming_the_key(tmp_path: pathlib.Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "c.yaml"
        config.write_text(f"receiver:\n  grpc:\n    endpoint: 127.0.0.1:{port}\nmetrics:\n  endpoint: ''\n")
        done = _run("--config", str(config))
    assert done.returncode == 1
    assert "receiver.grpc.endpoint: cannot bind" in done.stderr


def test_set_is_applied_on_top_of_the_config_and_a_bad_one_exits_2_naming_the_key() -> None:
    done = _run(
        "--config",
        str(TESTDATA / "sampling_rate_out_of_range.yaml"),
        "--set",
        "sampling.rate=0.5",
        "--set",
        "kafka.partitions=zero",
    )
    assert done.returncode == 2
    assert "kafka.partitions: expected an integer, got 'zero'" in done.stderr
    assert "sampling.rate" not in done.stderr  # the file's 2.5 was overridden by --set
