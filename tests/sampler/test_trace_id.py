"""TraceIdSampler: pinned to decisions made by the real Collector probabilistic_sampler (hash_seed mode)."""

from __future__ import annotations

import csv
import math
import pathlib
import random
from decimal import Decimal

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from processor.config import parse
from processor.errors import ConfigError
from processor.sampler.config import SamplingConfig
from processor.sampler.trace_id import (
    TraceIdSampler,
    bucket,
    priority_of,
    priority_of_any_value,
    threshold_for_percent,
)

VECTORS = pathlib.Path(__file__).parent / "testdata" / "hash_seed_vectors.csv"


def _rows() -> list[dict[str, str]]:
    with VECTORS.open(newline="") as f:
        return list(csv.DictReader(f))


def _sampler(percent: str, seed: int) -> TraceIdSampler:
    # The Collector's sampling_percentage as an operator writes it, turned into our rate.
    return TraceIdSampler(SamplingConfig(rate=float(Decimal(percent) / 100), hash_seed=seed))


def test_vector_file_covers_the_edges() -> None:
    rows = _rows()
    assert len(rows) > 3000
    percents = {r["percent"] for r in rows}
    assert {"0", "0.01", "5", "33.3", "50", "99.99", "100"} <= percents
    assert len({r["seed"] for r in rows}) >= 5
    assert {r["kept"] for r in rows} == {"0", "1"}


def test_every_vector_matches_the_collector() -> None:
    samplers: dict[tuple[str, int], TraceIdSampler] = {}
    mismatches = []
    for row in _rows():
        key = (row["percent"], int(row["seed"]))
        sampler = samplers.get(key) or samplers.setdefault(key, _sampler(*key))
        kept = sampler.keep(bytes.fromhex(row["trace_id_hex"]))
        if kept != (row["kept"] == "1"):
            mismatches.append(row)
    assert not mismatches, f"{len(mismatches)} rows disagree with the Collector, first: {mismatches[:3]}"


def test_float32_threshold_not_float64() -> None:
    # 8.1604 % is a row in the vector file where float32 and exact arithmetic disagree.
    assert threshold_for_percent(8.1604) == 1337
    assert math.floor(8.1604 * 16384 / 100) == 1336
    assert threshold_for_percent(100) == 16384
    assert threshold_for_percent(250) == 16384  # the Collector clamps above 100
    assert threshold_for_percent(0) == 0
    assert threshold_for_percent(0.0061) == 0  # below one bucket: keeps nothing


def test_rate_converted_from_its_decimal_spelling() -> None:
    # 0.333 * 100 is 33.300000000000004 in binary64; the Collector sees the decimal 33.3.
    assert _sampler("33.3", 0).percent == 33.3
    assert TraceIdSampler(SamplingConfig(rate=0.333)).percent == 33.3


def test_bucket_is_fnv1a_over_seed_then_trace_id() -> None:
    # FNV-1a-32 of b"" is the offset basis; of 4 zero bytes + 16 zero bytes, computed by hand here.
    h = 2166136261
    for byte in bytes(20):
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    assert bucket(bytes(16), 0) == h & 0x3FFF


@pytest.mark.parametrize(
    ("rate", "seed", "message"),
    [
        (-0.1, 0, "sampling.rate: must be between 0 and 1, got -0.1"),
        (1.5, 0, "sampling.rate: must be between 0 and 1, got 1.5"),
        (float("nan"), 0, "sampling.rate: must be between 0 and 1, got nan"),
        ("half", 0, "sampling.rate: expected a number, got 'half'"),
        (0.5, True, "sampling.hash_seed: expected an integer, got True"),
        (0.5, -1, "sampling.hash_seed: must be an unsigned 32-bit integer, got -1"),
        (0.5, 2**32, "sampling.hash_seed: must be an unsigned 32-bit integer, got 4294967296"),
    ],
)
def test_bad_settings_are_refused_by_the_config(rate: object, seed: object, message: str) -> None:
    # the sampler trusts its decoded config: the one check is the config's, at start-up
    with pytest.raises(ConfigError) as err:
        parse({"sampling": {"rate": rate, "hash_seed": seed}})
    assert err.value.problems == [message]


def test_config_validate_names_the_key() -> None:
    assert SamplingConfig(rate=2.5).validate("sampling") == [
        "sampling.rate: must be between 0 and 1, got 2.5"
    ]


def test_five_percent_within_binomial_bound() -> None:
    rng = random.Random(1234)
    sampler = TraceIdSampler(SamplingConfig(rate=0.05, hash_seed=7))
    n = 20_000
    kept = sum(sampler.keep(rng.randbytes(16)) for _ in range(n))
    p = sampler.threshold / 16384
    sd = math.sqrt(n * p * (1 - p))
    assert abs(kept - n * p) < 5 * sd, (kept, n * p, sd)


def test_rates_zero_and_one() -> None:
    rng = random.Random(5)
    ids = [rng.randbytes(16) for _ in range(500)]
    assert not any(TraceIdSampler(SamplingConfig(rate=0.0)).keep(t) for t in ids)
    assert all(TraceIdSampler(SamplingConfig(rate=1.0)).keep(t) for t in ids)


def test_seed_changes_the_decision() -> None:
    rng = random.Random(9)
    ids = [rng.randbytes(16) for _ in range(2000)]
    a = [TraceIdSampler(SamplingConfig(rate=0.5, hash_seed=1)).keep(t) for t in ids]
    b = [TraceIdSampler(SamplingConfig(rate=0.5, hash_seed=2)).keep(t) for t in ids]
    assert a != b


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, False),
        (1, True),
        (5, True),
        (-1, None),
        (0.0, False),
        (0.5, True),
        ("0", False),
        ("1", True),
        ("1.5", True),
        ("-2", None),
        ("yes", None),
        (" 1", None),
        ("", None),
        (True, None),
        (None, None),
        (float("nan"), None),
    ],
)
def test_priority_values(value: object, expected: bool | None) -> None:
    assert priority_of(value) is expected


def test_priority_from_any_value() -> None:
    assert priority_of_any_value(AnyValue(int_value=0)) is False
    assert priority_of_any_value(AnyValue(double_value=2.0)) is True
    assert priority_of_any_value(AnyValue(string_value="1")) is True
    assert priority_of_any_value(AnyValue(bool_value=True)) is None
    assert priority_of_any_value(AnyValue(array_value=ArrayValue())) is None
    assert priority_of_any_value(AnyValue()) is None


def test_a_span_priority_is_its_override() -> None:
    sampler = TraceIdSampler(SamplingConfig(rate=0.0))
    assert sampler.overrides

    def span(**attributes: AnyValue) -> Span:
        return Span(attributes=[KeyValue(key=k.replace("__", "."), value=v) for k, v in attributes.items()])

    assert sampler.override(span(sampling__priority=AnyValue(int_value=1))) is True  # keeps even at 0 %
    assert sampler.override(span(sampling__priority=AnyValue(string_value="0"))) is False
    assert sampler.override(span(sampling__priority=AnyValue(bool_value=True))) is None
    assert sampler.override(span(other=AnyValue(int_value=1))) is None
    off = TraceIdSampler(SamplingConfig(rate=0.0, priority_attribute=""))
    assert not off.overrides and off.override(span(sampling__priority=AnyValue(int_value=1))) is None


def test_describe_is_one_line() -> None:
    text = TraceIdSampler(SamplingConfig(rate=0.05, hash_seed=22)).describe()
    assert "\n" not in text
    assert "hash_seed: 22" in text and "819/16384" in text
    assert "keeps no trace" in TraceIdSampler(SamplingConfig(rate=0.0)).describe()
    assert "no priority override" in TraceIdSampler(SamplingConfig(priority_attribute="")).describe()


def test_may_override_needs_the_key_in_the_request_bytes() -> None:
    sampler = TraceIdSampler(SamplingConfig(rate=0.05))
    assert sampler.may_override(None)  # bytes not known: spans must be scanned
    assert sampler.may_override(b"\x0a\x11sampling.priority\x12\x02\x18\x01")
    assert not sampler.may_override(b"\x0a\x0bhttp.method")
    off = TraceIdSampler(SamplingConfig(rate=0.05, priority_attribute=""))
    assert not off.may_override(None) and not off.may_override(b"sampling.priority")
    assert off.for_request(b"sampling.priority") is off


def test_for_request_drops_the_override_only_when_the_bytes_lack_the_key() -> None:
    sampler = TraceIdSampler(SamplingConfig(rate=0.3, hash_seed=9))
    assert sampler.for_request(b"..sampling.priority..") is sampler
    plain = sampler.for_request(b"\x0a\x0bhttp.method")
    assert plain.priority_attribute == "" and (plain.threshold, plain.hash_seed) == (sampler.threshold, 9)
    rng = random.Random(4)
    assert all(plain.keep(t) == sampler.keep(t) for t in (rng.randbytes(16) for _ in range(300)))


def test_keep_matches_bucket_for_random_ids() -> None:
    rng = random.Random(3)
    for seed in (0, 1, 22, 0xFFFFFFFF):
        sampler = TraceIdSampler(SamplingConfig(rate=0.37, hash_seed=seed))
        for _ in range(500):
            trace_id = rng.randbytes(16)
            assert sampler.keep(trace_id) == (bucket(trace_id, seed) < sampler.threshold)
