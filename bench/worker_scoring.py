"""Benchmark: worker-side extraction + scoring with the default scorers, in LLM calls per CPU-second.

Reproduce:  .venv/bin/python bench/worker_scoring.py [--cases 4000] [--scorer NAME ...] [--answer-chars N]

Prints the ratio of what one worker core sustains to the load it must take: the Collector's load-test
rate (10k spans/s) if every span were an LLM call, sampled at the default 5% = 500 calls/s. Each
call is a trace of three spans (labelled root, a retriever span with one policy document, a GenAI
chat span with content), decoded from OTLP bytes as the worker receives them, assembled, extracted
and scored by the default scorers (`ScorersConfig().enabled`, or `--scorer` names). The questions and
answers are the on-topic and paraphrase cases of bench/data/relevance_multilingual.jsonl (7
languages; each question comes twice, with its on-topic answer and its paraphrase). `--answer-chars N`
lengthens every answer to N characters with more answers of its language, since a model scorer's cost
grows with the tokens it reads. Scoring is timed one case at a time (`run_scorers`) and in batches of
64 cases (`run_scorers_batch`, model scorers encoding a batch in one pass, as the worker does when a
step has that many cases).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import random
import sys
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from processor.extract import TraceAssembly
from processor.extract.config import SlicesConfig
from processor.scorers import build_scorers, run_scorers, run_scorers_batch
from processor.scorers.config import ScorersConfig, ScorerSpec
from processor.transport import codec

REQUIRED_CALLS_PER_SECOND = 10_000 * 0.05
DATA = pathlib.Path(__file__).parent / "data" / "relevance_multilingual.jsonl"
BATCH = 64


def load_pairs(answer_chars: int = 0) -> list[tuple[str, str, str, str]]:
    """(locale, question, answer, policy document) of every relevant same-language case in the set;
    with `answer_chars`, each answer continued with the language's other answers to that length."""
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    on_topic = {(r["language"], r["topic"]): r["answer"] for r in rows if r["kind"] == "on_topic"}
    pairs = []
    for r in rows:
        if r["kind"] not in ("on_topic", "paraphrase"):
            continue
        answer = r["answer"]
        more = [a for (language, _), a in sorted(on_topic.items()) if language == r["language"]]
        while answer_chars and len(answer) < answer_chars:
            answer += " " + more[len(answer) % len(more)]
        pairs.append(
            (
                r["locale"],
                r["question"],
                answer[: answer_chars or None],
                on_topic[(r["language"], r["topic"])],
            )
        )
    return pairs


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def make_trace(rng: random.Random, pair: tuple[str, str, str, str]) -> bytes:
    trace_id, root = rng.randbytes(16), rng.randbytes(8)
    locale, question, answer, document = pair
    spans = [
        Span(
            trace_id=trace_id,
            span_id=root,
            name="handle_question",
            attributes=[_kv("app.locale", locale), _kv("app.prompt.version", "v7")],
        ),
        Span(
            trace_id=trace_id,
            span_id=rng.randbytes(8),
            parent_span_id=root,
            name="retrieve",
            attributes=[
                _kv("openinference.span.kind", "RETRIEVER"),
                _kv("retrieval.documents.0.document.content", document),
            ],
        ),
        Span(
            trace_id=trace_id,
            span_id=rng.randbytes(8),
            parent_span_id=root,
            name="chat",
            attributes=[
                _kv("gen_ai.operation.name", "chat"),
                _kv("gen_ai.provider.name", "openai"),
                _kv("gen_ai.request.model", "gpt-4o-mini"),
                _kv(
                    "gen_ai.input.messages",
                    json.dumps([{"role": "user", "parts": [{"type": "text", "content": question}]}]),
                ),
                _kv(
                    "gen_ai.output.messages",
                    json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]),
                ),
            ],
        ),
    ]
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource={"attributes": [_kv("service.name", "bench"), _kv("app.tenant", "acme")]},
                scope_spans=[ScopeSpans(spans=spans)],
            )
        ]
    )
    return request.SerializeToString()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=4000)
    parser.add_argument(
        "--scorer", action="append", default=[], help="score with these scorers instead of the defaults"
    )
    parser.add_argument("--answer-chars", type=int, default=0, help="lengthen every answer to this many")
    args = parser.parse_args()
    rng = random.Random(11)
    pairs = load_pairs(args.answer_chars)
    values = [make_trace(rng, pairs[i % len(pairs)]) for i in range(args.cases)]
    slices = SlicesConfig()
    specs = [ScorerSpec(name=n) for n in args.scorer] or ScorersConfig().enabled
    scorers = build_scorers(specs)

    start = time.process_time()
    cases = []
    for value in values:
        assembly = TraceAssembly()
        assembly.add_traces(codec.decode(value, ExportTraceServiceRequest))
        cases.extend(assembly.cases(slices))
    extract_s = time.process_time() - start
    start = time.process_time()
    for case in cases:
        run_scorers(scorers, case)
    score_s = time.process_time() - start
    start = time.process_time()
    for i in range(0, len(cases), BATCH):
        run_scorers_batch(scorers, cases[i : i + BATCH])
    batch_s = time.process_time() - start

    assert len(cases) == args.cases
    answer_chars = sum(len(case.output) for case in cases) / len(cases)
    print(f"scorers: {', '.join(s.name for s in scorers)}; answers {answer_chars:.0f} characters on average")
    for how, scoring_s in (("one case at a time", score_s), (f"batches of {BATCH}", batch_s)):
        total = extract_s + scoring_s
        rate = len(cases) / total
        print(f"{len(cases)} LLM calls, {how}: extract {extract_s:.2f} CPU-s, score {scoring_s:.2f} CPU-s")
        print(
            f"  {rate:,.0f} calls/CPU-s   x{rate / REQUIRED_CALLS_PER_SECOND:.2f} the load one worker core "
            f"takes ({REQUIRED_CALLS_PER_SECOND:.0f} calls/s: 10k spans/s all LLM calls, 5% sampled)"
        )
        print(f"  extraction share {extract_s / total:.0%}, scoring share {scoring_s / total:.0%}")
    print(f"reproduce: .venv/bin/python bench/worker_scoring.py {' '.join(sys.argv[1:])}".rstrip())


if __name__ == "__main__":
    main()
