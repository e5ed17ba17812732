"""bench/vs_collector.py in a tiny configuration: both servers run, keep the same traces, the table prints.

No timing is asserted (performance goals live in the bench's output, not in tests); this keeps the
bench from rotting. Needs a broker (marker kafka) and the Collector build (skips without Go).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import vs_collector

REPO = pathlib.Path(__file__).resolve().parents[2]
CPU = min(os.sched_getaffinity(0))


def test_cpu_and_rss_come_from_proc() -> None:
    assert vs_collector.cpu_seconds(os.getpid()) > 0
    assert vs_collector.peak_rss_mb(os.getpid()) > 1


def test_collector_config_samples_like_the_receiver() -> None:
    config = vs_collector.collector_config("127.0.0.1:1", "127.0.0.1:2", "t")
    sampler = config["processors"]["probabilistic_sampler"]
    assert sampler == {"mode": "hash_seed", "hash_seed": 0, "sampling_percentage": 5.0}
    exporter = config["exporters"]["kafka"]
    assert exporter["producer"]["required_acks"] == "all"
    assert exporter["record_partitioner"]["sticky_key"]["hasher"] == "murmur2"
    receiver = vs_collector.receiver_config("a:1", "b:2", "c:3", "t", priority=True)
    assert receiver["sampling"] == {"rate": vs_collector.RATE, "hash_seed": 0}
    assert "slices" not in receiver and receiver["receiver"]["http"] == {"endpoint": ""}
    everything = vs_collector.collector_config("127.0.0.1:1", "127.0.0.1:2", "t", rate=1.0)
    assert everything["processors"]["probabilistic_sampler"]["sampling_percentage"] == 100.0
    cheap = vs_collector.receiver_config("a:1", "b:2", "c:3", "t", priority=True, rate=1.0, label_spans="all")
    assert cheap["sampling"]["rate"] == 1.0 and cheap["slices"] == {"label_spans": "all"}
    assert "compression" not in receiver["kafka"]  # the project's default
    lz4 = vs_collector.receiver_config("a:1", "b:2", "c:3", "t", priority=True, compression="lz4")
    assert lz4["kafka"]["compression"] == "lz4"


@pytest.mark.parametrize(("count", "parts"), [(2000, 10), (8, 10), (7, 3), (1, 1)])
def test_turns_cover_every_measured_request_once_in_order(count: int, parts: int) -> None:
    turns = vs_collector._split(range(40, 40 + count), parts)
    assert [i for turn in turns for i in turn] == list(range(40, 40 + count))
    assert all(turns) and len(turns) == min(parts, count)
    assert max(map(len, turns)) - min(map(len, turns)) <= 1


def test_a_variant_is_a_name_and_set_overrides() -> None:
    assert vs_collector._variant("linger 1:kafka.linger_ms=1") == ("linger 1", ["kafka.linger_ms=1"])
    assert vs_collector._variant("x:sampling.rate=1;kafka.linger_ms=5") == (
        "x",
        ["sampling.rate=1", "kafka.linger_ms=5"],
    )
    for bad in ["no-colon", ":kafka.linger_ms=1", "name:", "name:not-a-setting"]:
        with pytest.raises(argparse.ArgumentTypeError, match="NAME:KEY=VALUE"):
            vs_collector._variant(bad)


def test_collector_cpus_are_checked_like_the_receivers_cpu_affinity() -> None:
    assert vs_collector._cpu_list("0,2-3") == "0,2-3"
    with pytest.raises(argparse.ArgumentTypeError, match="not a CPU number"):
        vs_collector._cpu_list("first")
    listed = vs_collector.allowed_cpus(os.getpid())
    assert vs_collector.parse_cpu_list(listed) == os.sched_getaffinity(0)


@pytest.mark.kafka
def test_tiny_run_keeps_the_same_traces_as_the_collector(kafka_bootstrap: str) -> None:
    if shutil.which("go") is None:
        pytest.skip("Go is not installed: cannot build the Collector")
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "vs_collector.py"),
            "--requests",
            "8",
            "--streams",
            "2",
            "--warmup",
            "2",
            "--compression",
            "zstd,lz4",  # a second receiver run with another codec: the same traces, other bytes
            "--variant",
            "linger 0:kafka.linger_ms=0",  # and one with a --set override
            "--collector-cpus",
            str(CPU),  # the Collector on one CPU, as our receiver keeps itself
            "--bootstrap",
            kafka_bootstrap,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    row = re.compile(r"^\| (OTel Collector|evalstream receiver, [\w ,]+?) \|.* \| (\d+) \|$", re.M)
    rows = {m.group(1): int(m.group(2)) for m in row.finditer(done.stdout)}
    variant = "evalstream receiver, zstd, linger 0"
    peers = {"OTel Collector", "evalstream receiver, zstd", "evalstream receiver, lz4", variant}
    assert set(rows) == peers, done.stdout
    assert len(set(rows.values())) == 1 and rows["OTel Collector"] > 0, rows
    assert done.stdout.count("identical") == 3, done.stdout
    assert "Reproduce: .venv/bin/python bench/vs_collector.py --requests 8 --streams 2" in done.stdout
    assert "--compression zstd,lz4" in done.stdout
    assert "--variant 'linger 0:kafka.linger_ms=0'" in done.stdout
    assert f"--collector-cpus {CPU}" in done.stdout
    assert f"OTel Collector: threads on CPU {CPU}\n" in done.stdout  # read back from /proc
    # our receivers place themselves on one CPU (receiver.cpu_affinity auto) where there are two
    placed = re.findall(r"^evalstream receiver[\w ,]*: threads on CPU (\S+)$", done.stdout, re.M)
    assert len(placed) == 3 and all(vs_collector.parse_cpu_list(cpus) for cpus in placed), done.stdout
    if len(os.sched_getaffinity(0)) > 1:
        assert all(len(vs_collector.parse_cpu_list(cpus)) == 1 for cpus in placed), placed
