"""prefilter_traces: the spans of sampled-out traces, and kept ones the selection cannot forward, left out
from the bytes, with the selection unchanged."""

from __future__ import annotations

import pathlib
import random
import sys

import pytest
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from processor.demo.replay import FLAVOURS
from processor.demo.replay import load_flavour as load
from processor.extract import forwarded_keys, select_traces
from processor.extract.config import SlicesConfig
from processor.extract.prefilter import SpanKeyTest, prefilter_traces
from processor.sampler.config import SamplingConfig
from processor.sampler.trace_id import TraceIdSampler
from processor.transport import wire
from tests.extract.conftest import span, traces_request
from tests.extract.test_select import _random_request

SLICES = SlicesConfig()
KEYS = SpanKeyTest(forwarded_keys(SLICES))  # as the receiver builds it
BENCH = pathlib.Path(__file__).resolve().parents[2] / "bench"


def sampler(rate: float, seed: int = 0, priority: str = "") -> TraceIdSampler:
    return TraceIdSampler(SamplingConfig(rate=rate, hash_seed=seed, priority_attribute=priority))


def outcome(body: bytes, keep: TraceIdSampler, keys: SpanKeyTest | None = KEYS) -> tuple:
    """What the receiver makes of a request: the records' bytes and every count, prefiltered or not."""
    prefiltered = prefilter_traces(body, keep, keys)
    spans_dropped = traces_dropped = traces_unread = 0
    if prefiltered is not None:
        body, spans_dropped, traces_dropped, traces_unread = (
            prefiltered.body,
            prefiltered.spans_dropped,
            prefiltered.traces_dropped,
            prefiltered.traces_unread,
        )
    result = select_traces(ExportTraceServiceRequest.FromString(body), keep, SLICES)
    return (
        [(tid, out.SerializeToString()) for tid, out in result.traces.items()],
        result.spans_received + spans_dropped,
        result.traces_received + traces_dropped + traces_unread,
        result.traces_sampled + traces_unread,
        result.spans_kept,
        result.llm_calls_found,
        result.rejected,
        result.rejected_reason,
    )


def full(body: bytes, keep: TraceIdSampler) -> tuple:
    blocked = sampler(keep.rate, keep.hash_seed, priority="p")  # may override: the prefilter steps aside
    assert prefilter_traces(body, blocked) is None
    result = select_traces(ExportTraceServiceRequest.FromString(body), keep, SLICES)
    return (
        [(tid, out.SerializeToString()) for tid, out in result.traces.items()],
        result.spans_received,
        result.traces_received,
        result.traces_sampled,
        result.spans_kept,
        result.llm_calls_found,
        result.rejected,
        result.rejected_reason,
    )


def _valid_ids_only(request: ExportTraceServiceRequest) -> ExportTraceServiceRequest:
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for s in scope_spans.spans:
                if len(s.trace_id) != 16 or s.trace_id == bytes(16):
                    s.trace_id = b"\x07" * 16
                if len(s.span_id) != 8 or s.span_id == bytes(8):
                    s.span_id = b"\x09" * 8
    return request


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("keys", [KEYS, None], ids=["key-test", "trace-ids-only"])
def test_same_records_and_counts_as_the_full_decode(seed: int, keys: SpanKeyTest | None) -> None:
    rng = random.Random(seed)
    request = _valid_ids_only(_random_request(rng, priority=False))
    body = request.SerializeToString()
    keep = sampler(rng.choice([0.0, 0.05, 0.3, 0.7, 0.999] + ([1.0] if keys else [])), seed)
    assert prefilter_traces(body, keep, keys) is not None  # the fast path was taken
    assert outcome(body, keep, keys) == full(body, keep)


def _no_zero_span_ids(request: ExportTraceServiceRequest) -> ExportTraceServiceRequest:
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for s in scope_spans.spans:
                if s.span_id == bytes(8):
                    s.span_id = b"\x09" * 7  # bad, but not the one case the prefilter passes on
    return request


@pytest.mark.parametrize("seed", range(20))
def test_bad_ids_make_it_step_aside_and_the_full_path_counts_them(seed: int) -> None:
    rng = random.Random(500 + seed)
    request = _no_zero_span_ids(_random_request(rng, priority=False))
    body = request.SerializeToString()
    keep = sampler(0.3, seed)
    assert outcome(body, keep) == full(body, keep)
    if select_traces(request, keep, SLICES).rejected:
        assert prefilter_traces(body, keep) is None


def test_the_bench_load_and_the_fixtures(otlp_fixtures: pathlib.Path) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        from otlp_load import RequestLoad
    finally:
        sys.path.remove(str(BENCH))
    load_ = RequestLoad()
    bodies = [load_.body(i) for i in range(40)]
    for flavour in FLAVOURS:
        traces, _ = load(otlp_fixtures, flavour)
        bodies.append(traces.SerializeToString())
    for rate, keys in ((0.05, None), (0.5, None), (0.05, KEYS), (1.0, KEYS)):
        keep = sampler(rate)
        shrunk = 0
        for body in bodies:
            prefiltered = prefilter_traces(body, keep, keys)
            assert prefiltered is not None
            shrunk += len(prefiltered.body) < len(body)
            assert outcome(body, keep, keys) == full(body, keep)
        assert shrunk


def test_steps_aside_for_a_sampler_that_keeps_every_trace_unless_it_may_test_keys() -> None:
    body = traces_request([span(1, 1), span(2, 2)]).SerializeToString()
    assert prefilter_traces(body, sampler(1.0)) is None  # nothing to leave out: decode it as it is
    assert prefilter_traces(body, sampler(0.999)) is not None
    everything_out = prefilter_traces(body, sampler(1.0), KEYS)  # no span carries a forwarded key
    assert everything_out is not None
    assert (everything_out.spans_dropped, everything_out.traces_dropped, everything_out.traces_unread) == (
        2,
        0,
        2,
    )
    assert ExportTraceServiceRequest.FromString(everything_out.body) == ExportTraceServiceRequest()


def test_steps_aside_for_a_sampler_that_may_override() -> None:
    body = traces_request([span(1, 1, None, sampling__priority=1)]).SerializeToString()
    assert prefilter_traces(body, sampler(0.5, priority="sampling.priority")) is None
    assert prefilter_traces(body, sampler(0.5)) is not None


def test_steps_aside_when_ids_are_not_first_or_zero() -> None:
    ids_later = Span(name="late", trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    fields = {number: whole for number, _, whole, _ in wire.fields(ids_later.SerializeToString())}
    reordered = fields[5] + fields[1] + fields[2]  # name first: a legal encoding we do not read
    assert Span.FromString(reordered) == ids_later
    body = wire.length_delimited(1, wire.length_delimited(2, wire.length_delimited(2, reordered)))
    assert prefilter_traces(body, sampler(0.5)) is None
    for zero in (span(bytes(16), 1), span(1, b"\x01\x02"), span(1, b"")):
        assert prefilter_traces(traces_request([span(2, 2), zero]).SerializeToString(), sampler(0.5)) is None
    assert prefilter_traces(b"\x0a\x05\x12\x03\x12\x01", sampler(0.5)) is None  # truncated framing


def _one_scope(*spans: bytes) -> bytes:
    """A request of one resource and one scope holding these serialised spans."""
    return wire.length_delimited(
        1, wire.length_delimited(2, b"".join(wire.length_delimited(2, s) for s in spans))
    )


def test_content_of_dropped_spans_is_not_decoded_kept_spans_are() -> None:
    keep = sampler(0.5)
    kept_trace, dropped_trace = _ids_with_decisions(keep)
    bad_name = b"\x2a\x02\xff\xfe"  # field 5 (name) holding invalid UTF-8
    llm = span(kept_trace, 1, None, gen_ai__operation__name="chat", gen_ai__provider__name="x")
    body = _one_scope(llm.SerializeToString(), span(dropped_trace, 2).SerializeToString() + bad_name)
    with pytest.raises(DecodeError):
        ExportTraceServiceRequest.FromString(body)  # the full decode refuses the whole request
    prefiltered = prefilter_traces(body, keep)
    assert prefiltered is not None and (prefiltered.spans_dropped, prefiltered.traces_dropped) == (1, 1)
    kept = select_traces(ExportTraceServiceRequest.FromString(prefiltered.body), keep, SLICES)
    assert list(kept.traces) == [kept_trace.to_bytes(16, "big")]
    # the same bad span in a kept trace is decoded, and refused...
    body = _one_scope(llm.SerializeToString(), span(kept_trace, 2).SerializeToString() + bad_name)
    prefiltered = prefilter_traces(body, keep)
    assert prefiltered is not None and prefiltered.body == body
    # ...unless the key test leaves it out: it carries no key the selection forwards
    prefiltered = prefilter_traces(body, keep, KEYS)
    assert prefiltered is not None and (prefiltered.spans_dropped, prefiltered.traces_unread) == (1, 0)
    kept = select_traces(ExportTraceServiceRequest.FromString(prefiltered.body), keep, SLICES)
    assert kept.spans_kept == 1 and kept.llm_calls_found == 1
    # with a forwarded key it goes on, is decoded, and refused
    labelled = span(kept_trace, 2, None, app__locale="es-ES").SerializeToString() + bad_name
    prefiltered = prefilter_traces(_one_scope(llm.SerializeToString(), labelled), keep, KEYS)
    assert prefiltered is not None and prefiltered.spans_dropped == 0
    with pytest.raises(DecodeError):
        ExportTraceServiceRequest.FromString(prefiltered.body)


def _ids_with_decisions(keep: TraceIdSampler) -> tuple[int, int]:
    """A trace number the sampler keeps and one it drops (as `span()` turns numbers into ids)."""
    kept = dropped = None
    for number in range(1, 1000):
        decision = keep.keep(number.to_bytes(16, "big"))
        if decision and kept is None:
            kept = number
        if not decision and dropped is None:
            dropped = number
        if kept is not None and dropped is not None:
            return kept, dropped
    raise AssertionError("no kept and dropped trace ids found")


def test_a_zero_span_id_is_rejected_in_a_kept_trace_and_dropped_with_a_sampled_out_one() -> None:
    keep = sampler(0.5)
    kept_trace, dropped_trace = _ids_with_decisions(keep)
    llm = {"gen_ai__operation__name": "chat", "gen_ai__provider__name": "x"}
    body = traces_request(
        [
            span(kept_trace, 1, None, **llm),
            span(kept_trace, bytes(8), None, **llm),
            span(dropped_trace, bytes(8)),
        ]
    ).SerializeToString()
    for keys in (None, KEYS):  # a zero span id of a kept trace goes on to be rejected, key or not
        prefiltered = prefilter_traces(body, keep, keys)
        assert prefiltered is not None and (prefiltered.spans_dropped, prefiltered.traces_dropped) == (1, 1)
        result = select_traces(ExportTraceServiceRequest.FromString(prefiltered.body), keep, SLICES)
        assert (result.spans_kept, result.rejected) == (1, 1)  # the full path counted 2 rejected
    assert full(body, keep)[6] == 2
    without_key = traces_request([span(kept_trace, 1), span(kept_trace, bytes(8))]).SerializeToString()
    prefiltered = prefilter_traces(without_key, keep, KEYS)
    assert prefiltered is not None and prefiltered.spans_dropped == 1
    assert select_traces(ExportTraceServiceRequest.FromString(prefiltered.body), keep, SLICES).rejected == 1


def test_span_key_test_finds_keys_as_protobuf_writes_them() -> None:
    test = SpanKeyTest(["gen_ai.system", "app.locale", "k" * 200])
    assert test(span(1, 1, None, gen_ai__system="openai").SerializeToString())
    assert test(span(1, 1, None, **{"k" * 200: "v"}).SerializeToString())  # a two-byte length
    assert not test(span(1, 1, None, other="gen_ai.systemX").SerializeToString())
    assert not test(span(1, 1, None, app__locale_x="es").SerializeToString())  # a longer key
    assert not test(span(1, 1, None, **{"k" * 199: "v"}).SerializeToString())
    with pytest.raises(ValueError, match="at least one"):
        SpanKeyTest([""])
