"""receiver.cpu_affinity: the placement rules, the keeper on this process's real threads, and a real
receiver process keeping its threads on one CPU (auto) or not (none, the `all` role)."""

from __future__ import annotations

import itertools
import os
import pathlib
import threading
import time
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from processor.config import load
from processor.errors import ConfigError
from processor.receiver import cpu
from tests.kafka_broker import kafka_section
from tests.processes import run_processor, wait_for

ALLOWED = frozenset(os.sched_getaffinity(0)) if cpu.supported() else frozenset()
needs_two_cpus = pytest.mark.skipif(len(ALLOWED) < 2, reason="placement needs two CPUs to choose from")


def thread_cpus(pid: int | str = "self") -> dict[int, frozenset[int]]:
    """Each thread's allowed CPUs, as the kernel reports them."""
    placement = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            status = pathlib.Path(f"/proc/{pid}/task/{tid}/status").read_text()
        except OSError:  # the thread ended
            continue
        line = next(line for line in status.splitlines() if line.startswith("Cpus_allowed_list:"))
        placement[int(tid)] = cpu.parse_cpu_list(line.split(":", 1)[1].strip())
    return placement


# parsing and validating the setting
@pytest.mark.parametrize(
    ("text", "cpus"), [("0", {0}), ("0,2-3", {0, 2, 3}), (" 1 , 4-4", {1, 4}), ("2-3,3", {2, 3})]
)
def test_cpu_lists_read_as_taskset_writes_them(text: str, cpus: set[int]) -> None:
    assert cpu.parse_cpu_list(text) == cpus


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("a", "'a' is not a CPU"),
        ("3-1", "ends before it starts"),
        ("1-", "'1-'"),
        ("", "''"),
        ("-1", "'-1'"),
        ("0-99999999", "below 8192"),
    ],
)
def test_bad_cpu_lists_are_named(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        cpu.parse_cpu_list(text)


def test_config_refuses_a_cpu_this_process_cannot_use_and_bad_syntax() -> None:
    if not cpu.supported():
        pytest.skip("no sched_setaffinity here")
    outside = max(ALLOWED) + 1
    with pytest.raises(ConfigError) as refused:
        load(None, overrides=[f"receiver.cpu_affinity={outside}"])
    assert f"receiver.cpu_affinity: CPU {outside} is not one this process may run on" in str(refused.value)
    with pytest.raises(ConfigError, match=r"receiver.cpu_affinity: must be auto, none or a CPU list"):
        load(None, overrides=["receiver.cpu_affinity=first"])
    for value in ("auto", "none", str(min(ALLOWED))):
        assert load(None, overrides=[f"receiver.cpu_affinity={value}"]).receiver.cpu_affinity == value


def test_cpu_times_are_read_from_proc_stat_and_turned_into_busy_shares(tmp_path: pathlib.Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text(
        "cpu  9 9 9 9 9 9 9 9 0 0\ncpu0 10 1 2 30 4 1 1 1 0 0\ncpu1 5 0 0 95 0 0 0 0 0 0\nctxt 7\n"
    )
    before = cpu.read_cpu_times(str(stat))
    assert before == {0: (16, 50), 1: (5, 100)}  # idle and iowait are not busy; guest is in user
    after = {0: (16 + 45, 50 + 50), 1: (5 + 10, 100 + 100)}
    assert cpu.busy_shares(before, after) == {0: 0.9, 1: 0.1}
    assert cpu.busy_shares(after, after) == {0: 0.0, 1: 0.0}
    assert cpu.read_cpu_times("/proc/stat").keys() >= ALLOWED  # the real file parses too


# the rules
ALL = frozenset({0, 1, 2})


@pytest.mark.parametrize(
    ("kept", "busy", "own", "goes_to"),
    [
        (1, {0: 0.5, 1: 0.5, 2: 0.5}, 0.5, 1),  # one CPU is enough: stays
        (1, {0: 0.1, 1: 0.95, 2: 0.5}, 0.9, None),  # the receiver needs more than one: spreads
        (1, {0: 0.1, 1: 0.95, 2: 0.5}, 0.4, 0),  # others crowd its CPU: to the least busy
        (1, {0: 0.7, 1: 0.95, 2: 0.8}, 0.4, 1),  # crowded, but nowhere clearly better: stays
        (1, {0: 0.1, 1: 0.95, 2: 0.5}, 0.8, 1),  # crowded mostly by itself: it would crowd CPU 0 as much
        (1, {0: 0.1, 1: 0.85, 2: 0.1}, 0.4, 1),  # busy, not crowded: stays (moving costs caches)
        (None, {0: 0.6, 1: 0.2, 2: 0.4}, 0.3, 1),  # spread, using little again: back on the least busy
        (None, {0: 0.6, 1: 0.2, 2: 0.4}, 0.7, None),  # spread and still busy: stays spread
    ],
)
def test_placement_rules(kept: int | None, busy: dict[int, float], own: float, goes_to: int | None) -> None:
    assert cpu.next_placement(kept, ALL, busy, own) == goes_to


def test_spread_comes_back_only_well_below_saturation() -> None:
    """Between RELAXED and SATURATED nothing moves either way, so a receiver near the line does not flap."""
    between = (cpu.RELAXED + cpu.SATURATED) / 2
    quiet = {0: 0.2, 1: 0.2, 2: 0.2}
    assert cpu.next_placement(None, ALL, quiet, between) is None
    assert cpu.next_placement(0, ALL, quiet, between) == 0


def test_a_container_limited_to_one_cpu_never_spreads() -> None:
    """Spreading lets a busy receiver use more than one CPU; under a limit of one it would only make
    every request cost more of the same quota."""
    busy = {0: 0.1, 1: 0.95, 2: 0.5}
    assert cpu.next_placement(1, ALL, busy, 0.95, limit=1.0) == 1
    assert cpu.next_placement(1, ALL, busy, 0.95, limit=0.5) == 1
    assert cpu.next_placement(1, ALL, busy, 0.95, limit=2.0) is None
    assert cpu.next_placement(1, ALL, busy, 0.95, limit=None) is None


def fake_cgroups(root: pathlib.Path, membership: str, files: dict[str, str]) -> pathlib.Path:
    (root / "proc/self").mkdir(parents=True)
    (root / "proc/self/cgroup").write_text(membership)
    for name, text in files.items():
        path = root / "sys/fs/cgroup" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return root


@pytest.mark.parametrize(
    ("membership", "files", "limit"),
    [
        # cgroup v2, a pod's limit above the container's: the tighter one counts
        (
            "0::/kubepods/pod1/c1\n",
            {"kubepods/pod1/c1/cpu.max": "50000 100000", "kubepods/pod1/cpu.max": "200000 100000"},
            0.5,
        ),
        ("0::/kubepods/pod1/c1\n", {"kubepods/pod1/c1/cpu.max": "max 100000"}, None),
        ("0::/\n", {"cpu.max": "250000 100000"}, 2.5),
        # cgroup v1, the controller mounted as cpu,cpuacct or as cpu
        (
            "5:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc\n",
            {
                "cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "150000",
                "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000",
            },
            1.5,
        ),
        ("1:cpu:/\n2:cpuacct:/\n", {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
        ("1:cpu:/\n", {"cpu/cpu.cfs_quota_us": "100000", "cpu/cpu.cfs_period_us": "100000"}, 1.0),
        ("0::/nothing/here\n", {}, None),
        ("0::/\n", {"cpu.max": "lots 100000"}, None),  # unreadable: no limit, never an error
    ],
)
def test_the_containers_cpu_limit_is_read_from_its_cgroups(
    tmp_path: pathlib.Path, membership: str, files: dict[str, str], limit: float | None
) -> None:
    assert cpu.cpu_limit(str(fake_cgroups(tmp_path, membership, files))) == limit


def test_no_cgroup_file_means_no_limit(tmp_path: pathlib.Path) -> None:
    assert cpu.cpu_limit(str(tmp_path)) is None
    real = cpu.cpu_limit()  # this machine's, whatever it is
    assert real is None or real > 0


# the keeper on this process's own threads
@pytest.fixture
def restored_affinity() -> Iterator[None]:
    yield
    cpu.set_threads_affinity(ALLOWED)


def parked_thread(stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    return thread


@needs_two_cpus
@pytest.mark.usefixtures("restored_affinity")
def test_auto_keeps_every_thread_on_the_least_busy_cpu_and_gives_them_back_at_shutdown() -> None:
    quiet = max(ALLOWED)
    startup = {c: (10 if c == quiet else 90, 100) for c in ALLOWED}
    readings = itertools.chain([dict.fromkeys(ALLOWED, (0, 0))], itertools.repeat(startup))
    stop = threading.Event()
    before = parked_thread(stop)
    keeper = cpu.CpuAffinity("auto", interval_s=60, read_times=lambda: next(readings))
    keeper.start()
    try:
        after = parked_thread(stop)  # started later: inherits the placement
        placement = thread_cpus()
        assert keeper.kept == quiet
        assert set(placement.values()) == {frozenset({quiet})}, placement
        assert before.native_id in placement and after.native_id in placement
    finally:
        keeper.shutdown()
        stop.set()
    assert set(thread_cpus().values()) == {ALLOWED}


@needs_two_cpus
@pytest.mark.usefixtures("restored_affinity")
def test_auto_moves_off_a_cpu_others_keep_busy() -> None:
    first, other = sorted(ALLOWED)[:2]
    busy = dict.fromkeys(ALLOWED, 0)
    readings = 0

    def read_times() -> dict[int, tuple[int, int]]:
        # the start-up sample finds `other` quiet (5 %) and `first` busy (95 %); from then on it is
        # the other way round
        nonlocal readings
        readings += 1
        if readings > 1:
            for c in ALLOWED:
                quiet = other if readings == 2 else first
                busy[c] += 5 if c == quiet else 95 if c in (first, other) else 60
        return {c: (busy[c], readings * 100) for c in ALLOWED}

    registry = CollectorRegistry()
    keeper = cpu.CpuAffinity("auto", interval_s=0.05, read_times=read_times, registry=registry)
    assert registry.get_sample_value("evalstream_receiver_cpus") == len(ALLOWED)
    keeper.start()
    try:
        assert keeper.kept == other
        assert registry.get_sample_value("evalstream_receiver_cpus") == 1
        wait_for(lambda: keeper.kept == first, timeout_s=5, what="the keeper to leave the crowded CPU")
        wait_for(
            lambda: set(thread_cpus().values()) == {frozenset({first})},
            timeout_s=5,
            what="every thread on the CPU it moved to",
        )
    finally:
        keeper.shutdown()
    assert set(thread_cpus().values()) == {ALLOWED}
    assert registry.get_sample_value("evalstream_receiver_cpus") == len(ALLOWED)


@needs_two_cpus
@pytest.mark.usefixtures("restored_affinity")
def test_an_explicit_list_places_every_thread_and_none_touches_nothing() -> None:
    target = min(ALLOWED)
    keeper = cpu.CpuAffinity(str(target))
    keeper.start()
    try:
        assert set(thread_cpus().values()) == {frozenset({target})}
    finally:
        keeper.shutdown()
    assert set(thread_cpus().values()) == {ALLOWED}
    untouched = cpu.CpuAffinity("none")
    assert not untouched.active
    untouched.start()
    assert set(thread_cpus().values()) == {ALLOWED}
    untouched.shutdown()


@pytest.mark.usefixtures("restored_affinity")
def test_auto_is_a_speed_up_not_a_need(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No /proc/stat, or a runtime that refuses sched_setaffinity: auto logs and leaves placement to the
    OS, and the receiver starts; a CPU list the operator asked for fails loudly instead."""

    def no_stat() -> dict[int, tuple[int, int]]:
        raise FileNotFoundError(2, "No such file or directory", "/proc/stat")

    keeper = cpu.CpuAffinity("auto", read_times=no_stat, allowed=frozenset({0, 1}))
    with caplog.at_level("WARNING"):
        keeper.start()
    assert keeper.kept is None and "/proc/stat" in caplog.text and "left to the OS" in caplog.text
    keeper.shutdown()

    def refused(_tid: int, _cpus: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setaffinity", refused)
    caplog.clear()
    readings = {0: (0, 100), 1: (50, 100)}
    keeper = cpu.CpuAffinity("auto", read_times=lambda: readings, allowed=frozenset({0, 1}))
    with caplog.at_level("WARNING"):
        keeper.start()
    assert keeper.kept is None and "Operation not permitted" in caplog.text
    keeper.shutdown()
    with pytest.raises(PermissionError):
        cpu.CpuAffinity("0").start()


@needs_two_cpus
@pytest.mark.usefixtures("restored_affinity")
def test_losing_proc_stat_later_stops_following_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0

    def read_times() -> dict[int, tuple[int, int]]:
        nonlocal calls
        calls += 1
        if calls > 2:  # the start-up sample works, the keeper's own looks do not
            raise PermissionError(13, "Permission denied", "/proc/stat")
        return {c: (calls * 10, calls * 100) for c in ALLOWED}

    keeper = cpu.CpuAffinity("auto", interval_s=0.02, read_times=read_times)
    with caplog.at_level("WARNING"):
        keeper.start()
        assert keeper._thread is not None
        keeper._thread.join(5)
    assert not keeper._thread.is_alive()
    assert "placement no longer followed" in caplog.text and "/proc/stat" in caplog.text
    keeper.shutdown()


# a real receiver process
def receiver_config(kafka_bootstrap: str, topic_prefix: str) -> dict[str, object]:
    return {"kafka": {**kafka_section(kafka_bootstrap, topic_prefix), "create_topics": True}}


@needs_two_cpus
@pytest.mark.kafka
def test_a_receiver_keeps_its_threads_on_one_cpu_unless_told_not_to(
    tmp_path: pathlib.Path, kafka_bootstrap: str, topic_prefix: str
) -> None:
    config = receiver_config(kafka_bootstrap, topic_prefix)
    with run_processor(tmp_path, config, role="receiver", name="auto") as receiver:
        placement = thread_cpus(receiver.process.pid)
        assert len(placement) > 5  # gRPC's, librdkafka's and our own threads
        (kept,) = set(placement.values())
        assert len(kept) == 1 and kept < ALLOWED
        assert f"receiver threads kept on CPU {min(kept)}, the least busy of" in receiver.log()
        assert "\nevalstream_receiver_cpus 1.0\n" in receiver.metrics()
    with run_processor(
        tmp_path, config, role="receiver", name="none", args=["--set", "receiver.cpu_affinity=none"]
    ) as receiver:
        assert set(thread_cpus(receiver.process.pid).values()) == {ALLOWED}
        assert "receiver threads" not in receiver.log()
        assert f"\nevalstream_receiver_cpus {len(ALLOWED)}.0\n" in receiver.metrics()


@needs_two_cpus
def test_the_all_role_leaves_placement_to_the_kernel(tmp_path: pathlib.Path) -> None:
    with run_processor(tmp_path, {}, role="all") as processor:
        time.sleep(0.5)
        assert set(thread_cpus(processor.process.pid).values()) == {ALLOWED}
        assert f"\nevalstream_receiver_cpus {len(ALLOWED)}.0\n" in processor.metrics()
