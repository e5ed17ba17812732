"""The progress line: on a terminal while a long run goes (cases done, failures, ETA), never in CI logs."""

from __future__ import annotations

import io
import os
import pathlib
import pty
import subprocess
import sys
import textwrap

from processor.offline.progress import Progress
from tests.offline.conftest import run_offline, write_jsonl
from tests.processes import REPO


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_line_counts_cases_failures_and_eta() -> None:
    now = [0.0]
    stream = _Terminal()
    progress = Progress("scoring", 4, stream, delay_s=1.0, interval_s=0.0, clock=lambda: now[0])
    progress.advance()  # at t=0: within the delay, nothing drawn
    assert stream.getvalue() == ""
    now[0] = 2.0
    progress.advance(failed=True)
    assert stream.getvalue().endswith("scoring: 2/4 cases, 1 failed, ETA 2s")
    now[0] = 3.0
    progress.advance(erred=True)
    now[0] = 4.0
    progress.advance()
    assert stream.getvalue().endswith("scoring: 4/4 cases, 1 failed, 1 erred, done in 4s")
    progress.close()
    assert stream.getvalue().endswith("\n")


def test_nothing_is_written_when_the_stream_is_not_a_terminal() -> None:
    stream = io.StringIO()
    now = [0.0]
    progress = Progress("outputs", 2, stream, delay_s=0.0, interval_s=0.0, clock=lambda: now[0])
    now[0] = 5.0
    progress.advance()
    progress.advance()
    progress.close()
    assert stream.getvalue() == ""


SLOW_TARGET = """\
import time

def answer(question: str) -> str:
    time.sleep(0.15)
    if question.startswith("q3"):
        return "wrong"
    return "yes"
"""


def _golden(tmp_path: pathlib.Path) -> pathlib.Path:
    return write_jsonl(tmp_path / "golden.jsonl", [{"input": f"q{i}", "expected": "yes"} for i in range(12)])


def test_a_long_target_run_shows_progress_on_a_terminal(tmp_path: pathlib.Path) -> None:
    (tmp_path / "slow_app.py").write_text(textwrap.dedent(SLOW_TARGET))
    golden = _golden(tmp_path)
    leader, follower = pty.openpty()
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "processor.offline",
            str(golden),
            "--target",
            "slow_app:answer",
            "--concurrency",
            "1",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=follower,
        env=env,
        timeout=60,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    terminal = b"".join(chunks).decode(errors="replace")
    assert done.returncode == 1, done.stdout  # q3 answered "wrong": a regression
    assert "outputs: " in terminal and "/12 cases" in terminal and "ETA " in terminal, terminal
    assert "outputs: 12/12 cases, done in" in terminal, terminal
    assert "FAIL" in done.stdout.decode() and "ETA" not in done.stdout.decode()  # the report stays clean


def test_a_long_target_run_is_quiet_when_stderr_is_not_a_terminal(tmp_path: pathlib.Path) -> None:
    (tmp_path / "slow_app.py").write_text(textwrap.dedent(SLOW_TARGET))
    golden = _golden(tmp_path)
    done = run_offline(
        str(golden), "--target", "slow_app:answer", "--concurrency", "1", pythonpath=[tmp_path]
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cases" not in done.stderr and "ETA" not in done.stderr and "\r" not in done.stderr
