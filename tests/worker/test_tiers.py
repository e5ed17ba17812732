"""The expensive tier's quota (processor/worker/tiers.py) on an injected clock: hours in milliseconds."""

from __future__ import annotations

import collections
import random

import pytest

from processor.scorers.judge import TokenWindow
from processor.worker.config import TiersConfig
from processor.worker.tiers import Choice, HourCounter, SliceQuota, trace_fraction


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _trace(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _hour(
    quota: SliceQuota,
    clock: Clock,
    shares: dict[str, int],
    rng: random.Random,
    *,
    tokens: int = 0,
    judge: TokenWindow | None = None,
) -> dict[str, collections.Counter[Choice]]:
    """One hour of cases, `shares[slice]` of them per slice, evenly spread and interleaved; the judge
    (its own token window, as JudgeScorer keeps it) spends `tokens` on every case it runs on."""
    arrivals = sorted(
        (clock.now + (i + rng.random()) * 3600 / n, value) for value, n in shares.items() for i in range(n)
    )
    start = clock.now
    seen: dict[str, collections.Counter[Choice]] = {value: collections.Counter() for value in shares}
    for at, value in arrivals:
        clock.now = at
        choice = quota.choose(_trace(rng), value)
        if choice.runs and judge is not None and judge.exhausted():
            choice = Choice.HELD  # the judge's own budget: skipped `budget`, no request, no tokens
        elif choice.runs:
            quota.spent(choice, tokens)
            if judge is not None:
                judge.add(tokens)
        seen[value][choice] += 1
    clock.now = start + 3600
    return seen


def test_the_choice_is_a_function_of_the_trace_id_and_the_rates() -> None:
    """The same trace id gets the same answer on another replica with the same history, and again
    when it is redelivered; a trace chosen at one rate stays chosen at any higher rate."""
    config = TiersConfig(min_per_hour=20, rate=0.1)
    rng = random.Random(1)
    clocks = [Clock(), Clock()]
    replicas = [SliceQuota(config, clock=clock) for clock in clocks]
    for _ in range(2000):  # an hour of history, the same on both replicas
        trace = _trace(rng)
        for clock, quota in zip(clocks, replicas, strict=True):
            clock.now += 1.8
            quota.choose(trace, "en-US")
    assert replicas[0].rates() == replicas[1].rates()
    rate = replicas[0].rates()["en-US"]
    assert rate == pytest.approx(20 / 2000 + (1 - 20 / 2000) * 0.1, rel=0.02)
    traces = [_trace(rng) for _ in range(300)]
    answers = [[quota.choose(t, "en-US").runs for t in traces] for quota in replicas]
    assert answers[0] == answers[1]
    assert [replicas[0].choose(t, "en-US").runs for t in traces] == answers[0]  # redelivered
    quota = replicas[0]
    for trace in traces:  # the answer is the trace's hash against the slice's rate at the time
        rate = quota.rates()["en-US"]
        assert quota.choose(trace, "en-US").runs is (trace_fraction(trace) < rate)
    low = SliceQuota(TiersConfig(min_per_hour=0, rate=0.05), clock=Clock())
    high = SliceQuota(TiersConfig(min_per_hour=0, rate=0.2), clock=Clock())
    assert sum(low.choose(t, "x").runs for t in traces) < sum(high.choose(t, "x").runs for t in traces)
    assert all(high.choose(t, "x").runs for t in traces if low.choose(t, "x").runs)


def test_small_slices_get_their_quota_first_and_large_ones_about_it() -> None:
    clock, rng = Clock(), random.Random(2)
    quota = SliceQuota(TiersConfig(min_per_hour=20, rate=0.0), clock=clock)
    shares = {"en-US": 700, "de-DE": 260, "es-ES": 20, "ja-JP": 5}  # es-ES is 2 % of 985 calls
    _hour(quota, clock, shares, rng)  # the first hour: the rates settle
    for _ in range(3):
        seen = _hour(quota, clock, shares, rng)
        assert seen["es-ES"][Choice.QUOTA] == 20
        assert seen["ja-JP"][Choice.QUOTA] == 5  # fewer than the quota: every one
        for large in ("en-US", "de-DE"):
            assert seen[large][Choice.QUOTA] <= 20, seen
            # About 20 (a binomial draw); those past 20 in the last hour count as surplus.
            assert 8 <= seen[large][Choice.QUOTA] + seen[large][Choice.SURPLUS] <= 35, seen
    rates = quota.rates()
    assert rates["es-ES"] == rates["ja-JP"] == 1.0
    assert rates["en-US"] == pytest.approx(20 / 700, rel=0.1)


def test_without_a_budget_the_rest_goes_at_the_configured_rate() -> None:
    clock, rng = Clock(), random.Random(3)
    quota = SliceQuota(TiersConfig(min_per_hour=20, rate=0.25), clock=clock)
    shares = {"en-US": 800, "es-ES": 20}
    _hour(quota, clock, shares, rng)
    seen = _hour(quota, clock, shares, rng)
    assert seen["es-ES"][Choice.QUOTA] == 20
    assert 180 <= seen["en-US"][Choice.QUOTA] + seen["en-US"][Choice.SURPLUS] <= 260  # 20 + 25 % of 780
    assert quota.rates()["en-US"] == pytest.approx(20 / 800 + (1 - 20 / 800) * 0.25, rel=0.05)


def test_the_budget_goes_to_the_quotas_first_and_the_rest_to_the_large_slices() -> None:
    """Budget 8,000 tokens an hour at 100 a case: the quotas (es-ES's 20, en-US's 20) cost 4,000 and
    a margin of 2 sqrt(40) cases (1,265); the surplus rate spends the rest (2,735) on en-US; the
    judge's own window holds."""
    clock, rng = Clock(), random.Random(4)
    budget = 8000
    quota = SliceQuota(TiersConfig(min_per_hour=20, rate=1.0), budget_tokens_per_hour=budget, clock=clock)
    judge = TokenWindow(budget, clock=clock)
    shares = {"en-US": 980, "es-ES": 20}
    _hour(quota, clock, shares, rng, tokens=100, judge=judge)
    for _ in range(3):
        seen = _hour(quota, clock, shares, rng, tokens=100, judge=judge)
        assert seen["es-ES"][Choice.QUOTA] == 20, seen  # small slices last: never held back
        surplus = seen["en-US"][Choice.SURPLUS]
        assert 15 <= surplus <= 35, seen  # about 27
        spent = 100 * sum(c[Choice.QUOTA] + c[Choice.SURPLUS] for c in seen.values())
        assert spent <= budget
    assert quota.surplus_rate == pytest.approx((4000 - 2 * 40**0.5 * 100) / (960 * 100), rel=0.25)


def test_a_burst_of_a_large_slice_is_held_back_before_the_small_slices_go_without() -> None:
    """The surplus rate lags a burst; the hold-back keeps the quotas' share of the budget."""
    clock, rng = Clock(), random.Random(5)
    budget = 5000
    quota = SliceQuota(TiersConfig(min_per_hour=20, rate=1.0), budget_tokens_per_hour=budget, clock=clock)
    judge = TokenWindow(budget, clock=clock)
    _hour(quota, clock, {"en-US": 100, "es-ES": 20}, rng, tokens=100, judge=judge)  # a quiet hour
    seen = _hour(quota, clock, {"en-US": 3000, "es-ES": 20}, rng, tokens=100, judge=judge)  # a burst
    assert seen["en-US"][Choice.HELD] > 0
    assert seen["es-ES"][Choice.QUOTA] == 20 and seen["es-ES"][Choice.HELD] == 0, seen


def test_a_young_worker_scales_its_counts_up_from_ten_minutes() -> None:
    clock = Clock()
    quota = SliceQuota(TiersConfig(min_per_hour=20, rate=0.0), clock=clock)
    for i in range(10):  # 10 cases in the first 5 minutes: 60 an hour, as seen over 10 minutes
        clock.now += 30
        quota.choose(f"{i:032x}", "en-US")
    assert quota.rates()["en-US"] == pytest.approx(20 / 60)


def test_hour_counter_slides_by_the_minute_and_forgets_old_slices() -> None:
    counter = HourCounter()
    counter.add(0.0, 5)
    counter.add(1800.0, 2)
    assert counter.total(3599.0) == 7
    assert counter.total(3600.0) == 2  # the first minute's bucket left the hour
    assert counter.total(5400.0) == 0
    clock = Clock()
    quota = SliceQuota(TiersConfig(), clock=clock)
    quota.choose("00" * 16, "es-ES")
    assert set(quota.rates()) == {"es-ES"}
    clock.now += 3601
    assert quota.rates() == {}


def test_a_case_chosen_again_gets_its_choice_back_and_is_not_counted_twice() -> None:
    """A trace scored again after its results could not be published: the same cases, once counted."""
    clock = Clock()
    quota = SliceQuota(TiersConfig(slice_label="locale", min_per_hour=1, rate=0.0), clock=clock)
    first = quota.choose("a" * 32, "es-ES", "s1")
    assert first is Choice.QUOTA  # the slice's first case: within its quota
    assert quota.rates()["es-ES"] == pytest.approx(1 / 6)  # 1 case in 10 minutes: 6 an hour, quota 1
    for _ in range(3):
        assert quota.choose("a" * 32, "es-ES", "s1") is first
    assert quota.rates()["es-ES"] == pytest.approx(1 / 6)
    quota.choose("a" * 32, "es-ES", "s2")  # another LLM call of the same trace is another case
    assert quota.rates()["es-ES"] == pytest.approx(1 / 12)


def test_remembered_cases_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from processor.worker import tiers

    monkeypatch.setattr(tiers, "REMEMBERED_CASES", 3)
    quota = SliceQuota(TiersConfig(slice_label="locale", min_per_hour=100, rate=0.0), clock=Clock())
    for n in range(5):
        quota.choose(f"{n:032x}", "es-ES")
    assert list(quota._chosen) == [(f"{n:032x}", "") for n in (2, 3, 4)]
    quota.choose(f"{0:032x}", "es-ES")  # forgotten: counted again
    assert quota.rates()["es-ES"] == pytest.approx(1.0) and quota._slices["es-ES"].cases.total(1000.0) == 6
