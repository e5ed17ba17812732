"""Benchmark: the worker end to end, Kafka in and out: cases per CPU-second, span-in -> metric-visible.

Reproduce:  .venv/bin/python bench/worker_e2e.py [--cases 5000] [--rate 500] [--paced-cases 2500]
                                                 [--config evalstream.yaml]

Starts a Kafka broker of its own (deploy/local/kafka.sh; `--bootstrap HOST:PORT` uses a running one)
and one worker (`python -m processor worker`, results published to Kafka as by default). The
records are exactly what the receiver writes for the issue-14 load (bench/otlp_load.py: per trace
the HTTP root span with its labels and the GenAI chat span with content, one record per trace,
key = trace id hex), produced straight to the traces topic; "span-in" is the moment a record is
produced, "metric-visible" the first /metrics scrape of the worker (every --scrape-s) that counts
the case under every scorer (scored, skipped or error). The scorers, slices and worker settings
come from `--config` (a normal evalstream config file) or the built-in defaults, so the bench
reruns unchanged when the default scorers change. Two phases against one worker:

  paced: --paced-cases traces at --rate per second: latency p50/p99 (goal: p99 within the
         assembly window + 2 s) and cases per worker CPU-second at that rate (idle polls included);
  burst: --cases traces produced at once: cases per worker CPU-second flat out (goal >= 500).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

import yaml
from kafka import KafkaProducer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from otlp_load import TRACES_PER_REQUEST, RequestLoad
from vs_collector import (
    REPO,
    cpu_seconds,
    create_topics,
    delete_topics,
    free_port,
    kafka_broker,
    peak_rss_mb,
)

from processor.config import load as load_config
from processor.extract import select_traces
from processor.extract.config import SlicesConfig
from processor.sampler.config import SamplingConfig
from processor.sampler.trace_id import TraceIdSampler
from processor.transport import codec

_DONE_FAMILIES = re.compile(
    r"^evalstream_worker_(?:scored_cases|skipped_cases|scorer_errors)_total\{[^}]*\} ([0-9.e+]+)$", re.M
)


def trace_records(load: RequestLoad, first_request: int, count: int) -> list[tuple[bytes, bytes]]:
    """(key, value) of `count` traces, as the receiver writes them (every trace kept: rate 1)."""
    keep_all = TraceIdSampler(SamplingConfig(rate=1.0))
    slices = SlicesConfig()
    out: list[tuple[bytes, bytes]] = []
    request = first_request
    while len(out) < count:
        body = load.body(request)
        selection = select_traces(ExportTraceServiceRequest.FromString(body), keep_all, slices)
        out.extend((r.key, r.value) for r in codec.encode(selection.traces))
        request += 1
    return out[:count]


def cases_visible(metrics_url: str, scorers: int) -> float:
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        text = response.read().decode()
    return sum(float(v) for v in _DONE_FAMILIES.findall(text)) / scorers


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=5000, help="burst phase: traces produced at once")
    parser.add_argument("--paced-cases", type=int, default=2500, help="paced phase: traces at --rate")
    parser.add_argument("--rate", type=float, default=500.0, help="paced phase: LLM calls per second")
    parser.add_argument("--scrape-s", type=float, default=0.1, help="how often /metrics is read")
    parser.add_argument(
        "--config", help="evalstream config: its scorers, slices and worker sections are used"
    )
    parser.add_argument("--bootstrap", help="use this running broker instead of starting one")
    parser.add_argument("--timeout-s", type=float, default=300.0, help="give up on a phase after this")
    args = parser.parse_args(argv)

    base = yaml.safe_load(pathlib.Path(args.config).read_text()) if args.config else {}
    base = {k: v for k, v in (base or {}).items() if k in ("scorers", "slices", "worker", "metrics")}
    configured = load_config(args.config)  # the defaults when no file is given
    scorer_names = [s.name for s in configured.scorers.enabled]
    load = RequestLoad(seed=15)
    paced = trace_records(load, 0, args.paced_cases)
    burst = trace_records(load, args.paced_cases // TRACES_PER_REQUEST + 1, args.cases)
    window = configured.worker.assembly_window_s
    print(
        f"scorers: {', '.join(scorer_names)}; assembly window {window:g}s; record ~{len(paced[0][1])} bytes"
    )

    status = 0
    with (
        kafka_broker(args.bootstrap) as bootstrap,
        tempfile.TemporaryDirectory(prefix="evalstream-wbench-") as tmp,
    ):
        run_id = uuid.uuid4().hex[:8]
        topics = {s: f"wbench_{run_id}_{s}" for s in ("traces", "logs", "results", "dead_letter")}
        create_topics(bootstrap, list(topics.values()))
        metrics_endpoint = f"127.0.0.1:{free_port()}"
        config = {
            **base,
            "receiver": {"grpc": {"endpoint": f"127.0.0.1:{free_port()}"}},
            "metrics": {**base.get("metrics", {}), "endpoint": metrics_endpoint},
            "kafka": {"bootstrap_servers": bootstrap, "client_id": "evalstream-wbench", "topics": topics},
            "worker": {**base.get("worker", {}), "group_id": f"wbench-{run_id}"},
        }
        config_path = pathlib.Path(tmp) / "worker.yaml"
        config_path.write_text(yaml.safe_dump(config))
        log_path = pathlib.Path(tmp) / "worker.log"
        worker = subprocess.Popen(
            [sys.executable, "-m", "processor", "worker", "--config", str(config_path)],
            cwd=REPO,
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
        )
        metrics_url = f"http://{metrics_endpoint}/metrics"
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2, client_id="wbench")
        try:
            _wait_ready(worker, f"http://{metrics_endpoint}/readyz", log_path)
            # warm-up: one trace through, so the group has joined and the partitions are assigned
            warm = trace_records(load, 10_000, 1)
            producer.send(topics["traces"], key=warm[0][0], value=warm[0][1]).get(30)
            _wait_visible(metrics_url, len(scorer_names), 1, time.monotonic() + args.timeout_s, worker)
            done_before = 1.0

            # paced phase
            pid = worker.pid
            cpu0 = cpu_seconds(pid)
            sent_at: list[float] = []
            started = time.monotonic()
            for i, (key, value) in enumerate(paced):
                due = started + i / args.rate
                if (lag := due - time.monotonic()) > 0:
                    time.sleep(lag)
                producer.send(topics["traces"], key=key, value=value)
                sent_at.append(time.monotonic())
            producer.flush()
            seen_at = _wait_visible(
                metrics_url,
                len(scorer_names),
                done_before + len(paced),
                time.monotonic() + args.timeout_s,
                worker,
                scrape_s=args.scrape_s,
                first=done_before,
            )
            paced_cpu = cpu_seconds(pid) - cpu0
            latencies = [seen - sent for seen, sent in zip(seen_at, sent_at, strict=False)]
            done_before += len(paced)

            # burst phase
            cpu0, burst_started = cpu_seconds(pid), time.monotonic()
            for key, value in burst:
                producer.send(topics["traces"], key=key, value=value)
            producer.flush()
            _wait_visible(
                metrics_url,
                len(scorer_names),
                done_before + len(burst),
                time.monotonic() + args.timeout_s,
                worker,
                scrape_s=0.5,
            )
            burst_cpu, burst_wall = cpu_seconds(pid) - cpu0, time.monotonic() - burst_started
            rss = peak_rss_mb(pid)
        finally:
            producer.close(timeout=10)
            if worker.poll() is None:
                worker.terminate()
                try:
                    worker.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
            delete_topics(bootstrap, list(topics.values()))
        p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
        burst_rate = len(burst) / burst_cpu if burst_cpu > 0 else float("inf")
        print(
            f"\nworker, Kafka in and out, scorers {', '.join(scorer_names)}; {os.cpu_count()} CPUs, "
            f"load average {os.getloadavg()[0]:.1f} at the end"
        )
        print("| phase | cases | worker CPU-s | cases per worker CPU-second | wall s | p50 s | p99 s |")
        print("|---|---|---|---|---|---|---|")
        print(
            f"| paced at {args.rate:g}/s | {len(paced)} | {paced_cpu:.2f} | {len(paced) / paced_cpu:,.0f} "
            f"| {sent_at[-1] - sent_at[0]:.1f} | {p50:.2f} | {p99:.2f} |"
        )
        print(f"| burst | {len(burst)} | {burst_cpu:.2f} | {burst_rate:,.0f} | {burst_wall:.1f} | - | - |")
        print(
            f"\nspan-in -> metric-visible p99 {p99:.2f}s vs assembly window + 2 s = {window + 2:g}s "
            f"({'within' if p99 <= window + 2 else 'OVER'}); scrape resolution {args.scrape_s:g}s; "
            f"worker peak RSS {rss:.0f} MB"
        )
        flags = f"--cases {args.cases} --paced-cases {args.paced_cases} --rate {args.rate:g}"
        print(
            f"Reproduce: .venv/bin/python bench/worker_e2e.py {flags}"
            + (f" --config {args.config}" if args.config else "")
        )
    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    return status


def _wait_ready(worker: subprocess.Popen[bytes], url: str, log_path: pathlib.Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise SystemExit(f"worker exited {worker.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"worker not ready after 120s:\n{log_path.read_text()[-3000:]}")


def _wait_visible(
    metrics_url: str,
    scorers: int,
    target: float,
    deadline: float,
    worker: subprocess.Popen[bytes],
    *,
    scrape_s: float = 0.2,
    first: float = 0.0,
) -> list[float]:
    """Scrape until `target` cases are visible; return, per case after `first`, when it became visible."""
    seen_at: list[float] = []
    while True:
        now = time.monotonic()
        visible = cases_visible(metrics_url, scorers)
        while first + len(seen_at) < min(visible, target):
            seen_at.append(now)
        if visible >= target:
            return seen_at
        if now > deadline or worker.poll() is not None:
            raise SystemExit(f"only {visible:g} of {target:g} cases visible before the deadline")
        time.sleep(scrape_s)


if __name__ == "__main__":
    sys.exit(main())
