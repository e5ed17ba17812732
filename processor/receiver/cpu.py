"""Keep the receiver's threads on one CPU while one CPU is enough (`receiver.cpu_affinity`).

A request passes between threads that take turns on the GIL (gRPC's poller and handler threads,
the Kafka delivery thread) and beside gRPC's and librdkafka's I/O threads. Spread over cores, each
hand-over wakes a thread on another CPU (on a VM, an interrupt between virtual CPUs) and the data
follows it from cache to cache. Kept on one CPU, the bench's requests cost ~20 % less CPU
(`bench/vs_collector.py`), and no throughput is lost while the receiver needs under one CPU: the GIL
runs one thread's Python at a time anyway.

`auto`, the default, in the `receiver` role (the `all` role is left alone: the worker's scoring
threads use several cores):
- at start every thread goes to the allowed CPU least busy over a short sample; threads started
  later inherit it from the thread that starts them;
- every few seconds (/proc/stat for each CPU, the process's own CPU time):
  - the process used nearly a whole CPU: it spreads over every allowed CPU, so a busy receiver's
    I/O threads get a core of their own and the CPU it can use is not capped at one (unless its
    container's CPU limit is one CPU or less: there spreading only costs more of the same quota);
  - spread, and using well under a CPU again: back onto the least busy one;
  - on one CPU that other processes keep busy: onto a CPU clearly less busy, counting its own load.
`none`: the kernel places the threads (no affinity set). A CPU list (`"1"`, `"0,2-3"`: taskset's
syntax): every thread there, always.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from processor.metrics.instruments import Instruments

log = logging.getLogger(__name__)

AUTO, NONE = "auto", "none"
CHECK_INTERVAL_S = 5.0
SATURATED = 0.85  # of one CPU, used by the process: spread out
RELAXED = 0.5  # of one CPU: below it, a spread process goes back onto one CPU
CROWDED = 0.9  # of the kept CPU, busy with every process's work
MOVE_MARGIN = 0.3  # a CPU this much less busy (with the process's load on it) is worth moving to

_MAX_CPUS = 8192  # the kernel's largest NR_CPUS; also bounds what a typo like 0-99999999 expands to
CpuTimes = Mapping[int, tuple[int, int]]  # CPU -> (busy, total) clock ticks since boot


def supported() -> bool:
    return hasattr(os, "sched_setaffinity")


def parse_cpu_list(text: str) -> frozenset[int]:
    """CPUs from taskset's list syntax ("0", "0,2-3"); ValueError names what is wrong."""
    cpus: set[int] = set()
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ValueError(f"{part.strip()!r} is not a CPU number or range (e.g. 0 or 2-3)")
        low, high = int(first), int(last) if dash else int(first)
        if high < low:
            raise ValueError(f"{part.strip()!r}: the range ends before it starts")
        if high >= _MAX_CPUS:
            raise ValueError(f"{part.strip()!r}: Linux numbers CPUs below {_MAX_CPUS}")
        cpus.update(range(low, high + 1))
    return frozenset(cpus)


def format_cpus(cpus: Iterable[int]) -> str:
    return ",".join(map(str, sorted(cpus)))


def validate(value: str, path: str) -> list[str]:
    """Problems with a `cpu_affinity` value: auto, none, or CPUs this process may run on."""
    if value in (AUTO, NONE):
        return []
    try:
        cpus = parse_cpu_list(value)
    except ValueError as exc:
        return [f"{path}: must be auto, none or a CPU list such as 0 or 0,2-3: {exc}"]
    if not supported():
        return [f"{path}: this platform cannot pin threads to CPUs; use auto or none"]
    allowed = os.sched_getaffinity(0)
    if not cpus <= allowed:
        return [
            f"{path}: CPU {format_cpus(cpus - allowed)} is not one this process may run on "
            f"(allowed: {format_cpus(allowed)})"
        ]
    return []


def read_cpu_times(path: str = "/proc/stat") -> dict[int, tuple[int, int]]:
    """Each CPU's (busy, total) ticks: busy is everything but idle and iowait."""
    times: dict[int, tuple[int, int]] = {}
    with open(path, encoding="ascii") as file:
        for line in file:
            name, *fields = line.split()
            if not name.startswith("cpu") or name == "cpu":
                continue
            ticks = [int(field) for field in fields[:8]]  # user nice system idle iowait irq softirq steal
            total = sum(ticks)
            times[int(name[3:])] = (total - ticks[3] - ticks[4], total)
    return times


def cpu_limit(root: str = "/") -> float | None:
    """The CPUs this process's cgroup may use per period (its container's CPU limit), the tightest
    on the way up from its own cgroup; None when there is no limit (or no cgroup to read).
    cgroup v2: `cpu.max` ("max 100000" or "quota period"); v1: `cpu.cfs_quota_us` / `cfs_period_us`."""
    base = os.path.join(root, "sys/fs/cgroup")
    try:
        with open(os.path.join(root, "proc/self/cgroup"), encoding="utf-8") as file:
            entries = [line.rstrip("\n").split(":", 2) for line in file if line.count(":") >= 2]
    except OSError:
        return None
    limits: list[float] = []
    for _, controllers, path in entries:
        if controllers == "":  # v2
            for directory in _up_from(os.path.join(base, path.lstrip("/")), base):
                quota, _, period = _read(os.path.join(directory, "cpu.max")).partition(" ")
                limits.extend(_cpus(quota, period))
        elif "cpu" in controllers.split(","):  # v1
            mount = os.path.join(base, controllers)
            if not os.path.isdir(mount):
                mount = os.path.join(base, "cpu")
            for directory in _up_from(os.path.join(mount, path.lstrip("/")), mount):
                quota = _read(os.path.join(directory, "cpu.cfs_quota_us"))
                limits.extend(_cpus(quota, _read(os.path.join(directory, "cpu.cfs_period_us"))))
    return min(limits, default=None)


def _up_from(directory: str, mount: str) -> list[str]:
    """`directory` and its parents up to the cgroup `mount` it lies under."""
    directory, mount = os.path.normpath(directory), os.path.normpath(mount)
    chain = [directory]
    while len(directory) > len(mount):
        directory = os.path.dirname(directory)
        chain.append(directory)
    return chain


def _cpus(quota: str, period: str) -> list[float]:
    """[quota / period] for a limit; [] for none ("max", -1, absent, unreadable)."""
    try:
        return [int(quota) / int(period)] if int(quota) > 0 and int(period) > 0 else []
    except ValueError:
        return []


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii") as file:
            return file.read().strip()
    except OSError:
        return ""


def busy_shares(before: CpuTimes, after: CpuTimes) -> dict[int, float]:
    """Each CPU's busy share (0-1) between two readings."""
    shares: dict[int, float] = {}
    for cpu, (busy, total) in after.items():
        if cpu in before:
            elapsed = total - before[cpu][1]
            shares[cpu] = (busy - before[cpu][0]) / elapsed if elapsed > 0 else 0.0
    return shares


def least_busy(allowed: Iterable[int], busy: Mapping[int, float]) -> int:
    return min(sorted(allowed), key=lambda cpu: busy.get(cpu, 0.0))


def next_placement(
    kept: int | None,
    allowed: frozenset[int],
    busy: Mapping[int, float],
    own: float,
    limit: float | None = None,
) -> int | None:
    """Where the threads go next: one CPU, or None for every allowed CPU (the rules in the module
    doc). `kept` is the CPU they are on (None: spread); `own` is the process's CPU use over the
    same interval, in CPUs; `limit` the container's CPU limit (`cpu_limit`): at one CPU or less,
    spreading would only make each request cost more of the same quota."""
    if kept is None:
        return least_busy(allowed, busy) if own < RELAXED else None
    if own >= SATURATED and (limit is None or limit > 1.0):
        return None
    here = busy.get(kept, 0.0)
    if here >= CROWDED:
        best = least_busy(allowed, busy)
        # worth it only if that CPU, with this process's own load moved onto it, is clearly less busy
        if busy.get(best, 0.0) + own <= here - MOVE_MARGIN:
            return best
    return kept


def set_threads_affinity(cpus: frozenset[int]) -> None:
    """Every thread of this process onto `cpus` (os.sched_setaffinity(0) moves only the caller)."""
    try:
        tids = [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:
        tids = [0]
    for tid in tids:
        with contextlib.suppress(ProcessLookupError):  # a thread that just ended
            os.sched_setaffinity(tid, cpus)


@dataclass
class _Interval:
    cpu_times: CpuTimes
    process_s: float
    wall_s: float


class CpuAffinity:
    """The receiver process's CPU placement: a part the pipeline starts first (so the threads other
    parts start inherit it) and stops last (its threads get back every CPU they had).

    Args:
        value: `receiver.cpu_affinity` (validated): auto, none, or a CPU list.
        interval_s: how often `auto` looks again.
        read_times: /proc/stat's reader (tests give their own readings).
        read_limit: the container's CPU limit (`cpu_limit`; tests give their own).
        allowed: the CPUs to choose from (default: those this process may run on).
        registry: where evalstream_receiver_cpus goes (None: a private registry).
    """

    def __init__(
        self,
        value: str,
        *,
        interval_s: float = CHECK_INTERVAL_S,
        read_times: Callable[[], CpuTimes] = read_cpu_times,
        read_limit: Callable[[], float | None] = cpu_limit,
        allowed: frozenset[int] | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.value = value
        self._interval_s = interval_s
        self._read_times = read_times
        self._read_limit = read_limit
        if allowed is None:
            allowed = frozenset(os.sched_getaffinity(0)) if supported() else frozenset()
        self._allowed = allowed
        self._cpus = Instruments(registry or CollectorRegistry(), "receiver").gauge(
            "cpus",
            "CPUs the receiver's threads may run on (receiver.cpu_affinity): 1 while kept on one, "
            "every allowed CPU while spread or left to the OS.",
        )
        self._cpus.set(len(allowed))
        self.kept: int | None = None  # auto: the CPU the threads are on; None while spread
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._applied = False

    @property
    def active(self) -> bool:
        """Whether this sets any affinity here (not `none`, a platform that can, more than one CPU)."""
        if self.value == NONE or not supported():
            return False
        return self.value != AUTO or len(self._allowed) > 1

    def start(self) -> None:
        if not self.active:
            if self.value == AUTO and not supported():
                log.info("receiver.cpu_affinity auto: this platform cannot pin threads; left to the OS")
            return
        if self.value != AUTO:
            cpus = parse_cpu_list(self.value)
            set_threads_affinity(cpus)
            self._applied = True
            self._cpus.set(len(cpus))
            log.info("receiver threads on CPU %s (receiver.cpu_affinity)", format_cpus(cpus))
            return
        try:
            before = self._read_times()
            time.sleep(0.1)
            kept = least_busy(self._allowed, busy_shares(before, self._read_times()))
            self._applied = True
            set_threads_affinity(frozenset({kept}))
        except OSError as exc:  # no /proc/stat, or not allowed to place threads: a speed-up, not a need
            log.warning("receiver.cpu_affinity auto: %s; thread placement left to the OS", exc)
            self.shutdown()
            return
        self.kept = kept
        self._cpus.set(1)
        log.info(
            "receiver threads kept on CPU %d, the least busy of %s (receiver.cpu_affinity auto: "
            "spread over all when the receiver needs more than one)",
            self.kept,
            format_cpus(self._allowed),
        )
        self._thread = threading.Thread(target=self._follow, name="evalstream-cpu-affinity", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(self._interval_s + 1)
        if self._applied:
            self._applied = False
            with contextlib.suppress(OSError):  # nothing to give back if placing was refused
                set_threads_affinity(self._allowed)
            self._cpus.set(len(self._allowed))

    def _sample(self) -> _Interval:
        return _Interval(self._read_times(), time.process_time(), time.monotonic())

    def _follow(self) -> None:
        try:
            last = self._sample()
            while not self._stop.wait(self._interval_s):
                now = self._sample()
                elapsed = now.wall_s - last.wall_s
                own = (now.process_s - last.process_s) / elapsed if elapsed > 0 else 0.0
                busy = busy_shares(last.cpu_times, now.cpu_times)
                last = now
                placement = next_placement(self.kept, self._allowed, busy, own, self._read_limit())
                self._place(placement, busy, own)
        except OSError as exc:  # /proc unreadable, or the allowed CPUs changed under us
            log.warning("receiver.cpu_affinity auto: %s; placement no longer followed", exc)

    def _place(self, kept: int | None, busy: Mapping[int, float], own: float) -> None:
        if kept != self.kept:
            if kept is None:
                log.info(
                    "receiver used %.0f %% of CPU %s: threads spread over CPUs %s",
                    own * 100,
                    self.kept,
                    format_cpus(self._allowed),
                )
            elif self.kept is None:
                log.info("receiver used %.0f %% of a CPU: threads kept on CPU %d again", own * 100, kept)
            else:
                log.info(
                    "CPU %d was %.0f %% busy with other work: receiver threads moved to CPU %d (%.0f %%)",
                    self.kept,
                    busy.get(self.kept, 0.0) * 100,
                    kept,
                    busy.get(kept, 0.0) * 100,
                )
            self.kept = kept
        # every time: threads started since the last look may have been started elsewhere
        set_threads_affinity(self._allowed if kept is None else frozenset({kept}))
        self._cpus.set(len(self._allowed) if kept is None else 1)
