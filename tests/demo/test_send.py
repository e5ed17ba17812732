"""The quick start as a newcomer runs it: `python -m processor --set sampling.rate=1`, then
`python -m processor.demo send`, and a score on /metrics within a minute (real processes, real SDK)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from processor.demo.replay import FLAVOURS
from tests.processes import REPO, run_processor, wait_for
from tests.test_e2e import sample


def _send(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "processor.demo", "send", "--endpoint", endpoint, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_demo_send_to_the_embedded_default_scores_within_a_minute(tmp_path: pathlib.Path) -> None:
    # Only the ports and the summary interval come from the file; the rate from --set, as in the README.
    config = {"metrics": {"summary_interval_s": 1}}
    with run_processor(tmp_path, config, args=["--set", "sampling.rate=1"]) as processor:
        done = _send(processor.grpc_endpoint, "--times", "2")
        assert done.returncode == 0, done.stderr
        assert f"sent {4 * len(FLAVOURS)} traces" in done.stdout

        def scored() -> float:
            return sample(processor.metrics(), "app_eval_relevance_count", {"tenant": "acme"})

        # 6 content-carrying captures x 2 traces x 2 sends: fresh trace ids make the second send new
        # traffic (the same ids again would be dropped by the worker as already scored).
        wait_for(lambda: scored() == 24, timeout_s=60, what="24 relevance scores on /metrics")
        wait_for(
            lambda: (
                "since start: 28 traces received, 28 sampled, 28 LLM calls in them, 28 LLM calls scored"
                in processor.log()
            ),
            timeout_s=10,
            what="the summary line",
        )
    log = processor.log()
    assert "sampling.rate=1: every trace is scored" in log


def test_demo_send_without_a_receiver_says_so_and_exits_1(tmp_path: pathlib.Path) -> None:
    from tests.processes import free_port

    done = _send(f"127.0.0.1:{free_port()}", "--timeout", "1", "--flavour", "openinference")
    assert done.returncode == 1
    assert "did not accept the export" in done.stderr and "is evalstream running? make run" in done.stderr


def test_without_the_sdk_the_command_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delitem(sys.modules, "processor.demo.replay", raising=False)
    for module in (  # as if the demo extra (the SDK and its exporters) were not installed
        "opentelemetry.sdk._logs",
        "opentelemetry.exporter.otlp.proto.grpc._log_exporter",
        "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    ):
        monkeypatch.setitem(sys.modules, module, None)
    from processor.demo.__main__ import main

    assert main(["send"]) == 2
    err = capsys.readouterr().err
    assert "python -m processor.demo send needs the OpenTelemetry SDK (opentelemetry." in err
    assert "pip install 'evalstream[demo]' (or: make demo)" in err
