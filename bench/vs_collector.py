"""Benchmark: evalstream's receiver vs the OTel Collector, same load, same broker, server CPU from /proc.

Reproduce:  .venv/bin/python bench/vs_collector.py [--requests 2000] [--streams 4] [--rounds 1]

Starts a Kafka broker of its own (deploy/local/kafka.sh; `--bootstrap HOST:PORT` uses a running one),
the Collector the project builds (deploy/collector/build-otelcol.sh: otlp receiver ->
probabilistic_sampler in hash_seed mode -> kafka exporter, partition_traces_by_id, murmur2, acks=all,
gzip, no sending queue, so like ours it answers only after the broker's ack) and our receiver
(`python -m processor receiver`: its defaults, lz4, linger 2 ms, threads kept on one CPU while one
is enough, `receiver.cpu_affinity`). Both get the same
pre-serialised requests (bench/otlp_load.py: 500 spans = 25 traces x 20 spans each) from a raw-bytes
gRPC client with `--streams` concurrent streams, sampling 5 %. Per server: CPU (utime + stime of the
process, all threads, from /proc/<pid>/stat) over the measured requests only, peak RSS (VmHWM), records
written to its topic, their bytes (key + value as produced, and as stored on the broker compressed), and
the trace ids those records carry (the two peers must keep the same traces). `--rates 0.05,0.25,1` also
runs our receiver at higher sampling rates (the cheap tier's cost; the Collector stays at 5 %: it keeps
the same traces as the 5 % receiver, and a subset of each higher rate's; `--collector-rate 1` compares
with a Collector that forwards every trace), `--compression gzip,lz4,zstd,none` sets our receiver's
`kafka.compression` (the first codec; each further one adds a run of the 5 % receiver with it), and
`--llm-every 10` makes only one trace in ten call the LLM (our receiver then forwards only the traces
with an LLM call unless `--label-spans all`: it is compared with those of the Collector's), and
`--collector-cpus 0` runs the Collector on those CPUs only (GOMAXPROCS follows). The parse
floor is measured in this process on the same bytes: `ExportTraceServiceRequest.FromString` plus each
span's trace id. All servers run at once and take the measured requests in turns (`--slices`, 10 by
default: each peer its tenth, then the next tenth, the order rotating), with the floor measured after
each turn, so the machine's drift (a shared host, CPU frequency) falls on every peer alike. Ratios are
from this one run; absolute numbers are noisy, the ratios much less.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import grpc
import yaml
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import NewTopic
from kafka.structs import TopicPartition
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from otlp_load import SPANS_PER_REQUEST, RequestLoad

from processor.endpoint import parse_host_port
from processor.receiver.cpu import parse_cpu_list

REPO = pathlib.Path(__file__).resolve().parent.parent
KAFKA_SH = REPO / "deploy" / "local" / "kafka.sh"
BUILD_OTELCOL = REPO / "deploy" / "collector" / "build-otelcol.sh"
EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
RATE = 0.05
PARTITIONS = 6
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (every thread), in seconds."""
    text = pathlib.Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def peak_rss_mb(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- the broker and topics ------------------------------------------------------------------


@contextlib.contextmanager
def kafka_broker(bootstrap: str | None) -> Iterator[str]:
    if bootstrap:
        yield bootstrap
        return
    run_dir = tempfile.mkdtemp(prefix="evalstream-bench-kafka-")
    env = {**os.environ, "EVALSTREAM_KAFKA_RUN": run_dir}
    done = subprocess.run([str(KAFKA_SH), "start"], env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"kafka.sh start failed:\n{done.stderr[-3000:]}")
    address = next(
        line.split("=", 1)[1]
        for line in done.stdout.splitlines()
        if line.startswith("KAFKA_BOOTSTRAP_SERVERS=")
    )
    try:
        yield address
    finally:
        subprocess.run([str(KAFKA_SH), "stop"], env=env, capture_output=True, timeout=180)
        with contextlib.suppress(OSError):
            os.rmdir(run_dir)


def create_topics(bootstrap: str, names: list[str]) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="evalstream-bench")
    try:
        admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names], timeout_ms=30_000)
    finally:
        admin.close()


def delete_topics(bootstrap: str, names: list[str]) -> None:
    with contextlib.suppress(Exception):
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="evalstream-bench")
        try:
            admin.delete_topics(names, timeout_ms=30_000)
        finally:
            admin.close()


def record_keys(bootstrap: str, topic: str) -> tuple[list[bytes], int]:
    """Every record key written to `topic` (read from the start until the end offsets), and the bytes
    of all its records (keys + values, uncompressed)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="evalstream-bench"
    )
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        keys: list[bytes] = []
        size = 0
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < ends[tp] for tp in partitions) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                keys.extend(bytes(r.key or b"") for r in records)
                size += sum(len(r.key or b"") + len(r.value or b"") for r in records)
        return keys, size
    finally:
        consumer.close()


def stored_bytes(bootstrap: str, topic: str) -> int:
    """The size of `topic`'s partitions on the broker: the record batches as written (compressed)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="evalstream-bench")
    try:
        return sum(
            partition["partition_size"]
            for broker in admin.describe_log_dirs()
            for log_dir in broker["log_dirs"]
            for entry in log_dir["topics"]
            if entry["name"] == topic
            for partition in entry["partitions"]
        )
    finally:
        admin.close()


# --- the two servers ------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    endpoint: str
    topic: str
    process: subprocess.Popen[bytes]
    log_path: pathlib.Path
    ready: Callable[[], bool]

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


def collector_config(endpoint: str, bootstrap: str, topic: str, rate: float = RATE) -> dict:
    return {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": endpoint}}}},
        "processors": {
            "probabilistic_sampler": {"mode": "hash_seed", "hash_seed": 0, "sampling_percentage": rate * 100}
        },
        "exporters": {
            "kafka": {
                "brokers": [bootstrap],
                "client_id": "otelcol-bench",
                "traces": {"topic": topic, "encoding": "otlp_proto"},
                "partition_traces_by_id": True,
                "record_partitioner": {"sticky_key": {"hasher": "murmur2"}},
                "producer": {"required_acks": "all", "compression": "gzip"},
                "timeout": "10s",
                "sending_queue": {"enabled": False},  # reply after the broker's ack, as our receiver does
                "retry_on_failure": {"enabled": False},
            }
        },
        "service": {
            "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "warn"}},
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["probabilistic_sampler"],
                    "exporters": ["kafka"],
                }
            },
        },
    }


def start_collector(
    workdir: pathlib.Path,
    binary: str,
    bootstrap: str,
    topic: str,
    rate: float = RATE,
    *,
    cpus: str | None = None,
) -> Server:
    endpoint = f"127.0.0.1:{free_port()}"
    config = workdir / "otelcol.yaml"
    config.write_text(yaml.safe_dump(collector_config(endpoint, bootstrap, topic, rate)))
    log_path = workdir / "otelcol.log"
    allowed = parse_cpu_list(cpus) if cpus else None
    process = subprocess.Popen(
        [binary, "--config", str(config)],
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        # Go sizes GOMAXPROCS from the CPUs it may use, so the Collector runs as it would on them
        preexec_fn=(lambda: os.sched_setaffinity(0, allowed)) if allowed else None,
    )
    return Server("OTel Collector", endpoint, topic, process, log_path, lambda: _grpc_ready(endpoint))


def receiver_config(
    endpoint: str,
    metrics: str,
    bootstrap: str,
    topic: str,
    priority: bool,
    rate: float = RATE,
    label_spans: str | None = None,
    compression: str | None = None,
) -> dict:
    return {
        **({"slices": {"label_spans": label_spans}} if label_spans else {}),
        "receiver": {"grpc": {"endpoint": endpoint}, "http": {"endpoint": ""}},  # 4318 may be taken
        "metrics": {"endpoint": metrics},
        "sampling": {"rate": rate, "hash_seed": 0, **({} if priority else {"priority_attribute": ""})},
        "kafka": {
            "bootstrap_servers": bootstrap,
            "client_id": "evalstream-bench",
            "topics": {"traces": topic, "logs": topic + "_logs"},
            **({"compression": compression} if compression else {}),
        },
    }


def start_receiver(
    workdir: pathlib.Path,
    bootstrap: str,
    topic: str,
    *,
    priority: bool = True,
    rate: float = RATE,
    label_spans: str | None = None,
    compression: str | None = None,
    variant: tuple[str, list[str]] | None = None,
) -> Server:
    endpoint, metrics = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    name = "evalstream receiver" + ("" if priority else ", override off")
    name += "" if rate == RATE else f", rate {rate:.0%}"
    name += f", {compression}" if compression else ""
    name += f", {variant[0]}" if variant else ""
    sets = [arg for setting in (variant[1] if variant else []) for arg in ("--set", setting)]
    config = workdir / f"receiver-{topic}.yaml"
    config.write_text(
        yaml.safe_dump(
            receiver_config(endpoint, metrics, bootstrap, topic, priority, rate, label_spans, compression)
        )
    )
    log_path = workdir / f"receiver-{topic}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "processor", "receiver", "--config", str(config), *sets],
        cwd=REPO,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"http://{metrics}/readyz", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    return Server(name, endpoint, topic, process, log_path, ready)


def _grpc_ready(endpoint: str) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(parse_host_port(endpoint)) == 0


def allowed_cpus(pid: int) -> str:
    """The CPUs a process may run on, as the kernel lists them (Cpus_allowed_list)."""
    status = pathlib.Path(f"/proc/{pid}/status").read_text()
    lines = status.splitlines()
    return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("Cpus_allowed_list"))


def wait_ready(server: Server, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}")
        if server.ready():
            return
        time.sleep(0.2)
    raise SystemExit(f"{server.name} not ready after {timeout_s}s:\n{server.log_tail()}")


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


# --- the client and the measurement ---------------------------------------------------------


def drive(endpoint: str, load: RequestLoad, first: int, count: int, streams: int) -> float:
    """Send requests first..first+count over `streams` concurrent unary calls; return wall seconds."""
    with grpc.insecure_channel(endpoint, options=[("grpc.max_send_message_length", 64 << 20)]) as channel:
        export = channel.unary_unary(EXPORT_METHOD, request_serializer=None, response_deserializer=None)
        errors: list[BaseException] = []
        next_index = iter(range(first, first + count))
        lock = threading.Lock()

        def stream() -> None:
            while True:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    return
                try:
                    export(load.body(index), timeout=60)
                except grpc.RpcError as exc:
                    errors.append(exc)
                    return

        threads = [threading.Thread(target=stream) for _ in range(streams)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{endpoint}: export failed: {errors[0]}")
    return wall


@dataclass
class Measured:
    name: str
    spans: int
    cpu_s: float
    wall_s: float
    rss_mb: float = float("nan")
    records: int = 0
    record_bytes: int = 0
    stored_bytes: int = 0
    keys: set[bytes] = field(default_factory=set)

    @property
    def rate(self) -> float:
        return self.spans / self.cpu_s if self.cpu_s > 0 else float("inf")


def warm_up(server: Server, load: RequestLoad, args: argparse.Namespace, first: int) -> None:
    wait_ready(server)
    drive(server.endpoint, load, first, args.warmup, args.streams)  # connections, caches, JIT-free warm-up


def measure_slice(
    server: Server, load: RequestLoad, args: argparse.Namespace, first: int, count: int
) -> Measured:
    """Requests first..first+count on `server`: the server's CPU over them alone, wall time, peak RSS."""
    pid = server.process.pid
    before = cpu_seconds(pid)
    wall = drive(server.endpoint, load, first, count, args.streams)
    cpu = cpu_seconds(pid) - before
    return Measured(server.name, count * SPANS_PER_REQUEST, cpu, wall, peak_rss_mb(pid))


def add(total: Measured | None, part: Measured) -> Measured:
    if total is None:
        return part
    total.spans += part.spans
    total.cpu_s += part.cpu_s
    total.wall_s += part.wall_s
    total.rss_mb = max(total.rss_mb, part.rss_mb)
    return total


def parse_floor(load: RequestLoad, first: int, count: int) -> Measured:
    bodies = [load.body(i) for i in range(first, first + count)]
    started_wall, started = time.perf_counter(), time.process_time()
    for body in bodies:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    span.trace_id  # noqa: B018  (the read is the work)
    cpu = time.process_time() - started
    return Measured(
        "parse floor (FromString + trace ids)",
        count * SPANS_PER_REQUEST,
        cpu,
        time.perf_counter() - started_wall,
    )


def _cpu_list(text: str) -> str:
    try:
        parse_cpu_list(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _variant(text: str) -> tuple[str, list[str]]:
    name, _, settings = text.partition(":")
    overrides = [setting for setting in settings.split(";") if setting]
    if not name or not overrides or not all("=" in setting for setting in overrides):
        raise argparse.ArgumentTypeError(f"expected NAME:KEY=VALUE[;KEY=VALUE], got {text!r}")
    return name, overrides


def _split(items: range, parts: int) -> list[range]:
    """`items` in `parts` consecutive ranges of (nearly) equal length, none empty."""
    parts = max(1, min(parts, len(items)))
    bounds = [len(items) * i // parts for i in range(parts + 1)]
    return [items[bounds[i] : bounds[i + 1]] for i in range(parts)]


def command_line(args: argparse.Namespace) -> str:
    flags = [f"--requests {args.requests}", f"--streams {args.streams}", f"--rounds {args.rounds}"]
    if args.slices != 10:
        flags.append(f"--slices {args.slices}")
    if args.override_off:
        flags.append("--override-off")
    if args.rates != [RATE]:
        flags.append("--rates " + ",".join(f"{rate:g}" for rate in args.rates))
    if args.llm_every != 1:
        flags.append(f"--llm-every {args.llm_every}")
    if args.label_spans:
        flags.append(f"--label-spans {args.label_spans}")
    if args.collector_rate != RATE:
        flags.append(f"--collector-rate {args.collector_rate:g}")
    if args.compression:
        flags.append("--compression " + ",".join(args.compression))
    if args.collector_cpus:
        flags.append(f"--collector-cpus {args.collector_cpus}")
    for name, overrides in args.variant:
        flags.append("--variant " + shlex.quote(f"{name}:{';'.join(overrides)}"))
    return ".venv/bin/python bench/vs_collector.py " + " ".join(flags)


def print_table(rows: list[Measured], collector: Measured, floor: Measured, args: argparse.Namespace) -> None:
    print(
        f"\n{args.requests} requests x {SPANS_PER_REQUEST} spans (25 traces x 20), {args.streams} streams, "
        f"the Collector sampling {args.collector_rate:.0%} (hash_seed 0), "
        f"{f'LLM call in 1 trace of {args.llm_every}' if args.llm_every else 'no LLM call'}, acks=all, "
        f"our receiver {', '.join(args.compression) if args.compression else 'lz4'} (the Collector gzip"
        f"{f', on CPU {args.collector_cpus}' if args.collector_cpus else ''}), "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end"
    )
    print(
        "| peer | spans per server CPU-second | vs Collector | vs parse floor | server CPU-s | wall s "
        "| peak RSS MB | bytes to Kafka | bytes stored (compressed) | records written |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in [*rows, floor]:
        is_floor = row is floor
        kafka = f"{row.record_bytes:,} | {row.stored_bytes:,} | {row.records}"
        print(
            f"| {row.name} | {row.rate:,.0f} | {row.rate / collector.rate:.2f} | {row.rate / floor.rate:.2f} "
            f"| {row.cpu_s:.2f} | {row.wall_s:.1f} | {'-' if is_floor else f'{row.rss_mb:.0f}'} "
            f"| {'- | - | -' if is_floor else kafka} |"
        )
    print(f"\nReproduce: {command_line(args)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per peer and round")
    parser.add_argument("--streams", type=int, default=4, help="concurrent gRPC calls")
    parser.add_argument("--warmup", type=int, default=40, help="unmeasured requests first")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the whole comparison")
    parser.add_argument(
        "--slices", type=int, default=10, help="peers take the measured requests in this many turns"
    )
    parser.add_argument("--override-off", action="store_true", help="also run the receiver without priority")
    parser.add_argument(
        "--rates",
        type=lambda text: [float(rate) for rate in text.split(",")],
        default=[RATE],
        help=f"our receiver's sampling rates, comma-separated (default {RATE}; the Collector keeps {RATE})",
    )
    parser.add_argument(
        "--llm-every", type=int, default=1, help="only every N-th trace calls the LLM; 0: none"
    )
    parser.add_argument(
        "--label-spans", choices=["llm_traces", "all"], help="our receiver's slices.label_spans"
    )
    parser.add_argument(
        "--collector-rate", type=float, default=RATE, help=f"the Collector's sampling rate (default {RATE})"
    )
    parser.add_argument(
        "--compression",
        type=lambda text: text.split(","),
        help="our receiver's kafka.compression (default: the project's); more, comma-separated: "
        "the 5 %% receiver once more with each of the others",
    )
    parser.add_argument(
        "--variant",
        type=_variant,
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE[;KEY=VALUE]",
        help="one more 5 %% receiver with these --set overrides, e.g. 'linger 0:kafka.linger_ms=0'",
    )
    parser.add_argument("--bootstrap", help="use this running broker instead of starting one")
    parser.add_argument("--otelcol", help="Collector binary (default: deploy/collector/build-otelcol.sh)")
    parser.add_argument(
        "--collector-cpus",
        type=_cpu_list,
        help="run the Collector on these CPUs only, taskset's syntax (e.g. 0): like our receiver's one CPU",
    )
    args = parser.parse_args(argv)
    binary = (
        args.otelcol
        or subprocess.run(
            [str(BUILD_OTELCOL)], capture_output=True, text=True, check=True, timeout=1800
        ).stdout.strip()
    )
    load = RequestLoad(llm_every=args.llm_every)
    print(f"request: {load.request_bytes:,} bytes, {SPANS_PER_REQUEST} spans; Collector: {binary}")
    status = 0
    with (
        kafka_broker(args.bootstrap) as bootstrap,
        tempfile.TemporaryDirectory(prefix="evalstream-bench-") as tmp,
    ):
        workdir = pathlib.Path(tmp)
        run_id = uuid.uuid4().hex[:8]
        ratios: dict[str, list[float]] = {}
        codec, *other_codecs = args.compression or [None]
        for round_index in range(args.rounds):
            first = round_index * (args.requests + args.warmup)  # fresh trace ids every round
            peers: list[tuple[str, Callable[[str], Server]]] = [
                (
                    "collector",
                    lambda t: start_collector(
                        workdir, binary, bootstrap, t, args.collector_rate, cpus=args.collector_cpus
                    ),
                ),
            ]
            peer_rates = {"receiver_off": RATE, **{f"receiver_{rate:g}": rate for rate in args.rates}}
            for rate in args.rates:
                key = "receiver" if rate == RATE else f"receiver_{rate:g}"
                peers.append(
                    (
                        key,
                        lambda t, rate=rate: start_receiver(
                            workdir, bootstrap, t, rate=rate, label_spans=args.label_spans, compression=codec
                        ),
                    )
                )
            for other in other_codecs:  # the same receiver, another codec: its CPU and bytes stored
                peer_rates[f"receiver_{other}"] = RATE
                peers.append(
                    (
                        f"receiver_{other}",
                        lambda t, other=other: start_receiver(
                            workdir, bootstrap, t, label_spans=args.label_spans, compression=other
                        ),
                    )
                )
            for index, variant in enumerate(args.variant):  # the 5 % receiver with other settings
                peer_rates[f"receiver_variant{index}"] = RATE
                peers.append(
                    (
                        f"receiver_variant{index}",
                        lambda t, variant=variant: start_receiver(
                            workdir,
                            bootstrap,
                            t,
                            label_spans=args.label_spans,
                            compression=codec,
                            variant=variant,
                        ),
                    )
                )
            if args.override_off:
                peers.append(
                    (
                        "receiver_off",
                        lambda t: start_receiver(workdir, bootstrap, t, priority=False, compression=codec),
                    )
                )
            topics = {key: f"bench_{run_id}_{round_index}_{key}" for key, _ in peers}
            create_topics(bootstrap, [*topics.values(), *(t + "_logs" for t in topics.values())])
            # rotate who goes first each round: a later peer may find a warmer broker, page cache, CPU
            shift = round_index % len(peers)
            order = peers[shift:] + peers[:shift]
            measured: dict[str, Measured] = {}
            servers: dict[str, Server] = {}
            floor: Measured | None = None
            try:
                for key, start in order:
                    servers[key] = start(topics[key])
                for key, _ in order:
                    warm_up(servers[key], load, args, first)
                if round_index == 0:  # where each peer runs (our receiver places itself at start)
                    for key, _ in order:
                        server = servers[key]
                        print(f"{server.name}: threads on CPU {allowed_cpus(server.process.pid)}")
                # every peer takes its slice in turn, then the next slice: the machine's drift (other
                # tenants, CPU frequency) falls on every peer alike, and on the floor measured between
                sizes = [len(part) for part in _split(range(args.requests), args.slices)]
                start_at = first + args.warmup
                for slice_index, size in enumerate(sizes):
                    turn = order[slice_index % len(order) :] + order[: slice_index % len(order)]
                    for key, _ in turn:
                        part = measure_slice(servers[key], load, args, start_at, size)
                        measured[key] = add(measured.get(key), part)
                    floor = add(floor, parse_floor(load, start_at, size))
                    start_at += size
            finally:
                for server in servers.values():
                    stop(server)
            try:
                for key, _ in order:
                    row = measured[key]
                    row.name = servers[key].name
                    keys, row.record_bytes = record_keys(bootstrap, topics[key])
                    row.records, row.keys = len(keys), set(keys)
                    row.stored_bytes = stored_bytes(bootstrap, topics[key])
            finally:
                delete_topics(bootstrap, [*topics.values(), *(t + "_logs" for t in topics.values())])
            assert floor is not None
            rows = [measured[key] for key, _ in peers]
            print_table(rows, rows[0], floor, args)
            names = ", ".join(measured[key].name for key, _ in order)
            print(f"round {round_index + 1}: {len(sizes)} turns each, the first in this order: {names}")
            for row in rows:
                ratios.setdefault(row.name, []).append(row.rate / rows[0].rate)
            ratios.setdefault("parse floor", []).append(floor.rate / rows[0].rate)
            expected = {
                tid.hex().encode()
                for i in range(first, first + args.warmup + args.requests)
                for tid in load.trace_ids(i)
            }
            # by default our receiver forwards only traces with an LLM call: compare with those
            reference, which = rows[0].keys, ""
            if args.llm_every != 1 and args.label_spans != "all":
                reference = reference & {
                    tid.hex().encode()
                    for i in range(first, first + args.warmup + args.requests)
                    for t, tid in enumerate(load.trace_ids(i))
                    if args.llm_every > 0 and t % args.llm_every == 0
                }
                which = " with an LLM call"
            for (key, _), row in zip(peers[1:], rows[1:], strict=True):
                rate = peer_rates.get(key, RATE)  # a higher rate keeps every trace a lower one keeps
                if rate > args.collector_rate:
                    same = row.keys >= reference
                    verdict = "a superset" if same else "NOT A SUPERSET"
                elif rate < args.collector_rate:
                    same = row.keys <= reference
                    verdict = "a subset" if same else "NOT A SUBSET"
                else:
                    same = row.keys == reference
                    verdict = "identical" if same else "DIFFERENT"
                print(
                    f"kept traces: {row.name} {len(row.keys)}, Collector{which} {len(reference)}: "
                    f"{verdict}; of {len(expected)} sent"
                )
                if not same or not row.keys <= expected:
                    status = 1
    if args.rounds > 1:
        print("\nvs Collector over the rounds (min-max):")
        for name, values in ratios.items():
            print(f"  {name}: {min(values):.2f}-{max(values):.2f}")
    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    return status


if __name__ == "__main__":
    sys.exit(main())
