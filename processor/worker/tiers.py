"""The expensive tier's per-slice quota: which cases the expensive scorers (the judge) see.

Every case the worker assembles is scored by the cheap scorers. The expensive ones see a subsample
chosen per slice (each value of `worker.tiers.slice_label`):

1. *Quota*: a slice expected to bring N cases an hour has each case included with probability
   q = min(1, min_per_hour / N), so it gets about `min_per_hour` cases an hour, all of them when it
   has fewer. N is the slice's cases in the last hour (scaled up while the worker has run for less
   than an hour, never from less than ten minutes). In a slice with more cases than its quota, those
   beyond `min_per_hour` in the last hour (a burst the estimate has not caught up with) count as
   surplus.
2. *Surplus*: the rest of every slice's cases at one shared rate s: `rate`, lowered when the
   budget is set so that the surplus spends what the quotas leave of it: the mean tokens a case
   costs, times the cases above the quotas, fits the budget minus the quotas' cost and a margin of
   two standard deviations of the quotas' count (their arrivals are random). A slice's inclusion
   rate is q + (1 - q) s.
3. *Small slices last*: a surplus case is held back (skipped `budget`) once the surplus cases'
   tokens in the last hour reach what the quotas leave of the budget (the budget minus the quotas'
   hourly cost), so the quota cases still find room; they are only stopped by the scorer's own
   budget.

The choice is a deterministic function of the trace id's hash and the slice's current rates, so a
redelivered trace gets the same answer while the rates stand; a case chosen shortly before (a trace
scored again after its results could not be published) gets its choice back and is not counted
twice. The hash is BLAKE2b, independent of the sampler's FNV hash (the traces that reach a worker
all have low FNV buckets).

Everything here is per worker replica: each counts its own cases, tokens and hour. The worker
calls it from its loop thread only (not thread-safe).
"""

from __future__ import annotations

import enum
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from processor.worker.config import TiersConfig

WINDOW_S = 3600.0
BUCKET_S = 60.0
MIN_HISTORY_S = 600.0  # a young worker scales its counts up to an hour from no less than this
_TOKENS_SMOOTHING = 0.05  # weight of the newest case in the mean tokens a case costs
REMEMBERED_CASES = 65_536  # cases whose choice a redelivery gets back without being counted again
_PERSON = b"evalstream.tier"


class Choice(enum.Enum):
    """What the expensive scorers do with a case."""

    QUOTA = "quota"  # within the slice's min_per_hour: runs unless the scorer's own budget is spent
    SURPLUS = "surplus"  # beyond the quota, at the shared rate
    HELD = "held"  # a surplus case held back for slices below their quota: skipped `budget`
    OUT = "out"  # not in the subsample: skipped `tier`

    @property
    def runs(self) -> bool:
        return self in (Choice.QUOTA, Choice.SURPLUS)


def trace_fraction(trace_id: str) -> float:
    """The trace id's place in [0, 1): the same on every replica and every redelivery."""
    digest = hashlib.blake2b(trace_id.encode(), digest_size=8, person=_PERSON).digest()
    return int.from_bytes(digest, "big") / 2**64


class HourCounter:
    """A sum over the last hour in one-minute buckets: memory bounded by the bucket count."""

    def __init__(self, window_s: float = WINDOW_S, bucket_s: float = BUCKET_S) -> None:
        self._bucket_s = bucket_s
        self._buckets = int(window_s // bucket_s)
        self._sums: dict[int, float] = {}
        self._total = 0.0
        self._pruned_at = -1  # the bucket of the last prune: pruning again within it finds nothing

    def _prune(self, now: float) -> int:
        current = int(now // self._bucket_s)
        if current != self._pruned_at:
            for key in [k for k in self._sums if k <= current - self._buckets]:
                self._total -= self._sums.pop(key)
            self._pruned_at = current
        return current

    def add(self, now: float, amount: float = 1.0) -> None:
        current = self._prune(now)
        self._sums[current] = self._sums.get(current, 0.0) + amount
        self._total += amount

    def total(self, now: float) -> float:
        self._prune(now)
        return self._total if self._sums else 0.0


@dataclass
class _Slice:
    cases: HourCounter = field(default_factory=HourCounter)
    quota: HourCounter = field(default_factory=HourCounter)  # cases chosen as the slice's quota


class SliceQuota:
    """Chooses, per case, whether the expensive scorers run; see the module docstring.

    Args:
        budget_tokens_per_hour: the expensive scorers' hourly token budget (0: none), which the
            surplus rate aims at and the hold-back protects.
        clock: seconds, monotonic; injected so tests can compress hours.
    """

    def __init__(
        self, config: TiersConfig, *, budget_tokens_per_hour: int = 0, clock: Callable[[], float]
    ) -> None:
        self.config = config
        self.budget = budget_tokens_per_hour
        self._clock = clock
        self._started: float | None = None
        self._slices: dict[str, _Slice] = {}
        self._surplus_tokens = HourCounter()
        self._mean_tokens = 0.0  # per included case; 0 until the first one reported its spend
        self._refreshed_at: float | None = None
        self._surplus_rate = config.rate if budget_tokens_per_hour <= 0 else 0.0
        self._surplus_allotment = float(budget_tokens_per_hour)  # what the quotas leave of the budget
        self._chosen: dict[tuple[str, str], Choice] = {}  # the last REMEMBERED_CASES, oldest first

    def choose(self, trace_id: str, slice_value: str, span_id: str = "") -> Choice:
        """Count the case (its trace id and LLM span id) in its slice and choose. A case chosen before
        gets the same choice back, uncounted."""
        case = (trace_id, span_id)
        again = self._chosen.get(case)
        if again is not None:
            return again
        choice = self._choose(trace_id, slice_value)
        self._chosen[case] = choice
        if len(self._chosen) > REMEMBERED_CASES:
            del self._chosen[next(iter(self._chosen))]
        return choice

    def _choose(self, trace_id: str, slice_value: str) -> Choice:
        now = self._clock()
        if self._started is None:
            self._started = now
        self._refresh(now)
        state = self._slices.setdefault(slice_value, _Slice())
        quota = self._quota_rate(self._per_hour(state, now))  # from the cases before this one
        state.cases.add(now)
        share = trace_fraction(trace_id)
        # A slice that brings more than its quota (quota < 1) has the cases beyond min_per_hour in
        # the last hour demoted to surplus: a burst its estimate has not caught up with yet.
        if share < quota and (quota == 1.0 or state.quota.total(now) < self.config.min_per_hour):
            state.quota.add(now)
            return Choice.QUOTA
        if share >= quota + (1.0 - quota) * self._surplus_rate:
            return Choice.OUT
        held = self.budget > 0 and self._surplus_tokens.total(now) >= self._surplus_allotment
        return Choice.HELD if held else Choice.SURPLUS

    def spent(self, choice: Choice, tokens: int) -> None:
        """Report the tokens the expensive scorers spent on one case they ran on."""
        if choice is Choice.SURPLUS:
            self._surplus_tokens.add(self._clock(), tokens)
        if self._mean_tokens == 0.0:
            self._mean_tokens = float(tokens)
        else:
            self._mean_tokens += _TOKENS_SMOOTHING * (tokens - self._mean_tokens)

    def rates(self) -> dict[str, float]:
        """Each slice's current inclusion rate (quota and surplus): the gauge a weighted mean divides by.
        A slice without a case for an hour is forgotten."""
        now = self._clock()
        out: dict[str, float] = {}
        for value, state in list(self._slices.items()):
            if state.cases.total(now) == 0:
                del self._slices[value]
                continue
            quota = self._quota_rate(self._per_hour(state, now))
            out[value] = quota + (1.0 - quota) * self._surplus_rate
        return out

    @property
    def surplus_rate(self) -> float:
        return self._surplus_rate

    def _refresh(self, now: float) -> None:
        """Once a second: the surplus rate and allotment from every slice's last hour."""
        if self._refreshed_at is not None and now - self._refreshed_at < 1.0:
            return
        self._refreshed_at = now
        if self.budget <= 0:
            return
        per_hour = [self._per_hour(state, now) for state in self._slices.values()]
        quota_cases = sum(min(float(self.config.min_per_hour), n) for n in per_hour)
        surplus_cases = sum(max(0.0, n - self.config.min_per_hour) for n in per_hour)
        reserved = quota_cases + 2.0 * math.sqrt(quota_cases)
        self._surplus_allotment = max(0.0, self.budget - reserved * self._mean_tokens)
        if self._mean_tokens == 0.0:
            self._surplus_rate = 0.0  # what a case costs is not known yet: the quotas come first
        elif surplus_cases == 0.0:
            self._surplus_rate = self.config.rate if self._surplus_allotment > 0 else 0.0
        else:
            fits = self._surplus_allotment / (surplus_cases * self._mean_tokens)
            self._surplus_rate = max(0.0, min(self.config.rate, fits))

    def _quota_rate(self, per_hour: float) -> float:
        if self.config.min_per_hour <= 0:
            return 0.0
        return 1.0 if per_hour <= self.config.min_per_hour else self.config.min_per_hour / per_hour

    def _per_hour(self, state: _Slice, now: float) -> float:
        """The slice's cases in the last hour, scaled up to an hour while the worker is younger."""
        started = now if self._started is None else self._started
        history = min(WINDOW_S, max(MIN_HISTORY_S, now - started))
        return state.cases.total(now) * WINDOW_S / history
