"""bench/worker_e2e.py in a tiny configuration, scorers taken from a config file. No timing asserted."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest
import worker_e2e
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_records_are_what_the_receiver_writes() -> None:
    from otlp_load import RequestLoad

    from processor.transport import codec

    records = worker_e2e.trace_records(RequestLoad(), 0, 30)
    assert len(records) == 30 and len({k for k, _ in records}) == 30
    request = codec.decode(records[0][1], ExportTraceServiceRequest)
    spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert len(spans) == 2  # the labelled root and the GenAI chat span; the rest is not forwarded
    assert records[0][0] == spans[0].trace_id.hex().encode()


def test_percentile() -> None:
    assert worker_e2e.percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert worker_e2e.percentile(list(map(float, range(101))), 0.99) == 99.0


@pytest.mark.kafka
def test_tiny_run_scores_every_case(kafka_bootstrap: str, tmp_path: pathlib.Path) -> None:
    config = tmp_path / "evalstream.yaml"
    config.write_text("worker:\n  assembly_window_s: 0.5\nscorers:\n  enabled:\n    - name: relevance\n")
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "worker_e2e.py"),
            "--cases",
            "40",
            "--paced-cases",
            "20",
            "--rate",
            "50",
            "--config",
            str(config),
            "--bootstrap",
            kafka_bootstrap,
            "--timeout-s",
            "120",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("scorers: relevance;"), done.stdout
    assert re.search(r"^\| paced at 50/s \| 20 \|", done.stdout, re.M), done.stdout
    assert re.search(r"^\| burst \| 40 \|", done.stdout, re.M), done.stdout
    assert "vs assembly window + 2 s = 2.5s" in done.stdout
