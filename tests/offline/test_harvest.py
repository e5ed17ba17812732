"""processor.offline.harvest and `python -m processor.offline.harvest`: results topic -> golden candidates."""

from __future__ import annotations

import json
import pathlib

import pytest
from google.protobuf import json_format

from processor._proto.eval_result_pb2 import EvalResult
from processor.offline.harvest import NearDuplicates, harvest, normalise, select
from processor.redact import Redactor
from tests.offline.conftest import run_module, run_offline, write_jsonl

T0 = 1_772_446_500_000_000_000  # 2026-03-02T10:15:00Z


def result(
    question: str,
    score: float,
    *,
    n: int = 1,
    scorer: str = "relevance",
    answer: str = "an answer",
    outcome: int = EvalResult.OUTCOME_SCORED,
    **labels: str,
) -> EvalResult:
    return EvalResult(
        trace_id=f"{n:032x}",
        span_id=f"{n:016x}",
        scorer=scorer,
        outcome=outcome,  # type: ignore[arg-type]
        score=score,
        passed=score >= 0.5,
        threshold=0.5,
        question=question,
        answer=answer,
        labels={"service": "shop", "model": "gpt-x", "locale": "unknown", **labels},
        context=["policy v2"],
        scored_time_unix_nano=T0,
    )


def test_normalise() -> None:
    assert normalise("  Wie KÜNDIGE ich —  mein Abo?!\n") == "wie kündige ich mein abo"
    assert normalise("ﬁle №1") == "file no1"  # NFKC


def test_near_duplicates() -> None:
    seen = NearDuplicates(0.9)
    seen.add("How do I cancel my subscription for the premium plan right now please")
    assert seen.seen("how do I cancel my subscription for the premium plan right now, please?")
    assert seen.seen("please how do I cancel my subscription for the premium plan right now")  # order-free
    assert not seen.seen("How do I cancel my subscription for the basic plan right now please")  # 10/12
    assert not seen.seen("What is X?")
    seen.add("?!")
    assert seen.seen("!?")  # no tokens: equal normalised text


def test_select_keeps_low_scored_calls_worst_first() -> None:
    results = [
        result("fine", 0.9, n=1),
        result("low", 0.3, n=2),
        result("low", 0.1, n=2, scorer="context_relevance"),
        result("erred", 0.0, n=3, outcome=EvalResult.OUTCOME_ERROR),
        result("skipped", 0.0, n=4, outcome=EvalResult.OUTCOME_SKIPPED),
        result("lower", 0.2, n=5, locale="de-DE"),
        result("", 0.0, n=6),  # metadata-only: nothing to read
        result("at the threshold", 0.5, n=7),
    ]
    candidates = select(results, below=0.5)
    assert [c.input for c in candidates] == ["low", "lower"]
    low = candidates[0].line()
    assert low["provenance"] == {
        "trace_id": f"{2:032x}",
        "span_id": f"{2:016x}",
        "scorer": "context_relevance",
        "score": 0.1,
        "time": "2026-03-02T10:15:00.000Z",
        "scores": {"context_relevance": 0.1, "relevance": 0.3},
    }
    assert low["metadata"] == {"model": "gpt-x", "service": "shop"}  # "unknown" carries nothing
    assert "expected" not in low and low["output"] == "an answer" and low["context"] == ["policy v2"]
    relevance_only = select(results, below=0.5, scorers=["relevance"])
    assert [(c.input, c.score) for c in relevance_only] == [("lower", 0.2), ("low", 0.3)]


def test_harvest_redacts_before_deduplicating() -> None:
    results = [
        result(
            "My mail is ana@example.com, why was I charged twice?", 0.1, n=1, answer="Call +49 30 1234567"
        ),
        result("my mail is bob@example.org - why was I charged twice", 0.2, n=2),
        result("How do I reset my password?", 0.3, n=3),
    ]
    lines = harvest(results, golden_inputs=["how do I reset my password"], redactor=Redactor())
    assert [line["input"] for line in lines] == ["My mail is [EMAIL], why was I charged twice?"]
    assert lines[0]["output"] == "Call [PHONE]"
    unredacted = harvest(results, golden_inputs=[], redactor=None)
    assert len(unredacted) == 3 and "ana@example.com" in unredacted[0]["input"]


def export(path: pathlib.Path, results: list[EvalResult]) -> pathlib.Path:
    rows = [json_format.MessageToDict(r, preserving_proto_field_name=True) for r in results]
    return write_jsonl(path, rows)


def test_cli_from_a_results_file(tmp_path: pathlib.Path) -> None:
    results = export(
        tmp_path / "results.jsonl",
        [result("Card 4111 1111 1111 1111 was declined, why?", 0.2, n=1), result("fine", 0.8, n=2)],
    )
    out = tmp_path / "candidates.jsonl"
    done = run_module("processor.offline.harvest", "--results", str(results), "-o", str(out))
    assert done.returncode == 0, done.stderr
    [line] = [json.loads(x) for x in out.read_text().splitlines()]
    assert line["input"] == "Card [CARD] was declined, why?"
    assert "2 results read" in done.stderr and "1 candidates written" in done.stderr

    raw = run_module("processor.offline.harvest", "--results", str(results), "--no-redact")
    assert "4111 1111 1111 1111" in raw.stdout
    phone_only = run_module("processor.offline.harvest", "--results", str(results), "--redact", "phone")
    assert "4111 1111 1111 1111" in phone_only.stdout


def test_cli_bad_input_exits_2(tmp_path: pathlib.Path) -> None:
    results = export(tmp_path / "results.jsonl", [result("q", 0.1)])
    with results.open("a") as f:
        f.write('{"score": "high"}\n')
    done = run_module("processor.offline.harvest", "--results", str(results))
    assert done.returncode == 2
    assert f"{results}:2: not an EvalResult" in done.stderr
    assert (
        run_module("processor.offline.harvest", "--results", str(results), "--redact", "ssn").returncode == 2
    )
    assert run_module("processor.offline.harvest").returncode == 2  # no source
    assert "exit codes" in run_module("processor.offline.harvest", "--help").stdout


def test_cli_unreachable_broker_exits_3() -> None:
    done = run_module("processor.offline.harvest", "--bootstrap-servers", "127.0.0.1:1", "--timeout", "5")
    assert done.returncode == 3, done.stderr
    assert "no broker reachable at 127.0.0.1:1" in done.stderr


@pytest.mark.kafka
def test_harvest_from_a_real_topic_then_gate_on_it(
    tmp_path: pathlib.Path, kafka_bootstrap: str, topic_prefix: str
) -> None:
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    topic = f"{topic_prefix}_results"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        admin.close()
    records = [
        result(
            "Wie kündige ich mein Abo? Mail: jan@example.de",
            0.05,
            n=1,
            locale="de-DE",
            answer="Keine Ahnung.",
        ),
        result("wie kündige ich mein abo?? mail: eva@example.de", 0.10, n=2, locale="de-DE"),  # near-dup of 1
        result("Where is my order 4111 1111 1111 1111?", 0.2, n=3, answer="Call 555-123-4567."),
        result("Where is my order?", 0.9, n=4),  # scored fine
        result("What are your opening hours?", 0.3, n=5),  # already in the golden set
        result("Why was I charged twice?", 0.0, n=6, outcome=EvalResult.OUTCOME_ERROR),  # judge outage
    ]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        for r in records:
            producer.send(topic, key=r.trace_id.encode(), value=r.SerializeToString()).get(timeout=30)
        producer.send(topic, key=b"poison", value=b"\xff\xff not protobuf").get(timeout=30)
    finally:
        producer.close()
    write_jsonl(tmp_path / "existing.jsonl", [{"input": "what are your opening hours", "expected": "9-5"}])

    candidates = tmp_path / "candidates.jsonl"
    done = run_module(
        "processor.offline.harvest", "--bootstrap-servers", kafka_bootstrap, "--topic", topic,
        "--golden", str(tmp_path / "exist*.jsonl"), "-o", str(candidates), "--timeout", "60",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "7 results read (1 undecodable)" in done.stderr
    lines = [json.loads(x) for x in candidates.read_text().splitlines()]
    assert [line["input"] for line in lines] == [
        "Wie kündige ich mein Abo? Mail: [EMAIL]",
        "Where is my order [CARD]?",
    ]
    assert lines[0]["metadata"] == {"locale": "de-DE", "model": "gpt-x", "service": "shop"}
    assert lines[0]["provenance"]["trace_id"] == f"{1:032x}" and lines[0]["provenance"]["score"] == 0.05
    assert lines[1]["output"] == "Call [PHONE]."
    assert "jan@example.de" not in candidates.read_text() and "4111" not in candidates.read_text()

    # not yet reviewed: nothing can be scored, so the gate refuses to pass
    outputs = write_jsonl(
        tmp_path / "outputs.jsonl",
        [{"input": lines[0]["input"], "output": "Unter Einstellungen > Abo."}, {"input": lines[1]["input"],
         "output": "It ships tomorrow."}],
    )  # fmt: skip
    assert run_offline(str(candidates), "--outputs", str(outputs)).returncode == 2

    # a person fills in `expected`: the harvested file is a golden file
    reviewed = write_jsonl(
        tmp_path / "reviewed.jsonl",
        [{**lines[0], "expected": "Einstellungen"}, {**lines[1], "expected": "tomorrow"}],
    )
    gate = run_offline(str(reviewed), "--outputs", str(outputs))
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "locale=de-DE: 1/1 passed (100.0%)" in gate.stdout
