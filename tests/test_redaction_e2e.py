"""Redaction before anything leaves, through the real Kafka path: a prompt with an e-mail address and a
Luhn-valid card number reaches neither the judge, the results topic, the score events, harvest output
nor any log line; with `redaction.in_receiver` the spans and logs topics hold only redacted text too.
"""

from __future__ import annotations

import json
import os
import pathlib
import threading
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from processor._proto import eval_result_pb2
from processor.demo.replay import replay
from tests.processes import run_processor, serving_in_thread, wait_for
from tests.receiver.helpers import chat_attributes, kv
from tests.scorers.test_judge import StandIn
from tests.test_e2e import kafka_config, read_topic, run_module

EMAIL = "maria.gonzalez@example.org"
CARD = "5555 5555 5555 4444"  # Luhn-valid test Mastercard
SECRETS = (EMAIL, CARD, CARD.replace(" ", ""))
QUESTION = (
    f"My card {CARD} was charged twice, please refund and confirm to {EMAIL}. What is the refund window?"
)
ANSWER = f"Refunds for card {CARD} take 5 days; we will write to {EMAIL} once it is done."


def requests(trace_id: bytes) -> tuple[ExportTraceServiceRequest, ExportLogsServiceRequest]:
    """One GenAI chat span carrying the prompt and answer, and a legacy user-message event with the prompt."""
    traces = ExportTraceServiceRequest()
    rs = traces.resource_spans.add()
    rs.resource.attributes.extend([kv("service.name", "support-bot"), kv("app.tenant", "acme")])
    span = rs.scope_spans.add().spans.add(
        trace_id=trace_id,
        span_id=os.urandom(8),
        name="chat gpt-4o-mini",
        start_time_unix_nano=1_700_000_000_000_000_000,
        end_time_unix_nano=1_700_000_001_000_000_000,
    )
    span.attributes.extend(
        [*chat_attributes(QUESTION, ANSWER), kv("gen_ai.response.id", "chatcmpl-redaction-1")]
    )
    logs = ExportLogsServiceRequest()
    rl = logs.resource_logs.add()
    rl.resource.attributes.extend([kv("service.name", "support-bot")])
    record = rl.scope_logs.add().log_records.add(
        trace_id=trace_id, span_id=span.span_id, event_name="gen_ai.user.message", time_unix_nano=1
    )
    record.body.kvlist_value.values.append(kv("content", QUESTION))
    return traces, logs


class EventSink(logs_service_pb2_grpc.LogsServiceServicer):
    """The stamping endpoint: keeps every gen_ai.evaluation.result request it is sent."""

    def __init__(self) -> None:
        self.received: list[ExportLogsServiceRequest] = []
        self.lock = threading.Lock()

    def Export(self, request: ExportLogsServiceRequest, context: grpc.ServicerContext) -> object:
        with self.lock:
            self.received.append(request)
        return logs_service_pb2.ExportLogsServiceResponse()


@pytest.fixture
def judge() -> Iterator[StandIn]:
    with serving_in_thread(StandIn()) as server:
        yield server


@pytest.fixture
def sink() -> Iterator[tuple[EventSink, int]]:
    events = EventSink()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(events, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield events, port
    server.stop(grace=1).wait()


def assert_clean(where: str, text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked into {where}"


@pytest.mark.kafka
@pytest.mark.parametrize("in_receiver", [False, True], ids=["worker-side", "in-receiver"])
def test_pii_never_leaves_unredacted(
    tmp_path: pathlib.Path,
    kafka_bootstrap: str,
    topic_prefix: str,
    judge: StandIn,
    sink: tuple[EventSink, int],
    monkeypatch: pytest.MonkeyPatch,
    in_receiver: bool,
) -> None:
    events, sink_port = sink
    monkeypatch.setenv("EVALSTREAM_TEST_JUDGE_KEY", "sk-test-redaction")
    config = kafka_config(kafka_bootstrap, topic_prefix, stamp_endpoint=f"127.0.0.1:{sink_port}")
    config["scorers"] = {
        "enabled": [
            {"name": "relevance", "threshold": 0.5},
            {
                "name": "judge",
                "params": {
                    "base_url": judge.base_url,
                    "model": "judge-mini",
                    "api_key_env": "EVALSTREAM_TEST_JUDGE_KEY",
                    "max_retries": 0,
                },
            },
            # a contract check in-process still sees the raw text: it finds the raw card number
            {"name": "card_in_answer", "builtin": "regex", "params": {"pattern": r"\d{4} \d{4} \d{4} \d{4}"}},
        ]
    }
    config["redaction"] = {"in_receiver": in_receiver}
    trace_id = os.urandom(16)
    traces, logs = requests(trace_id)
    with run_processor(tmp_path, config, log_level="DEBUG") as processor:
        assert replay(processor.grpc_endpoint, [traces], [logs]) == (True, True)
        wait_for(lambda: len(events.received) >= 1, timeout_s=60, what="the score events to be stamped")
        process_log = processor.log()

    results = [
        eval_result_pb2.EvalResult.FromString(m.value)
        for m in read_topic(kafka_bootstrap, f"{topic_prefix}_results", expect=3)
    ]
    assert {r.scorer for r in results} == {"relevance", "judge", "card_in_answer"}
    judged = next(r for r in results if r.scorer == "judge")
    assert judged.outcome == eval_result_pb2.EvalResult.OUTCOME_SCORED
    assert "[EMAIL]" in judged.question and "[CARD]" in judged.question and "[CARD]" in judged.answer
    assert_clean("the results topic", "".join(str(r) for r in results))
    contract = next(r for r in results if r.scorer == "card_in_answer")
    # worker-side, the contract check matched the raw card number in-process; redacted in the receiver,
    # the worker itself never sees it
    assert contract.score == (0.0 if in_receiver else 1.0)

    assert len(judge.requests) == 1
    sent = judge.requests[0]
    assert sent["headers"]["Authorization"] == "Bearer sk-test-redaction"
    assert_clean("the judge request", json.dumps(sent["body"]))
    assert "[EMAIL]" in json.dumps(sent["body"])

    stamped = "".join(str(request) for request in events.received)
    assert "gen_ai.evaluation.result" in stamped
    assert_clean("the score events", stamped)

    candidates = tmp_path / "candidates.jsonl"
    harvested = run_module(
        "processor.offline.harvest",
        "--bootstrap-servers",
        kafka_bootstrap,
        "--topic",
        f"{topic_prefix}_results",
        "--below",
        "1.0",
        "--no-redact",  # harvest's own pass off: what the results topic holds is already redacted
        "-o",
        str(candidates),
    )
    assert harvested.returncode == 0, harvested.stderr
    assert "[EMAIL]" in candidates.read_text()
    assert_clean("harvest output", candidates.read_text() + harvested.stderr)

    assert "evalstream started" in process_log  # the whole run's log, at --log-level DEBUG
    assert_clean("the process log", process_log)

    spans = read_topic(kafka_bootstrap, f"{topic_prefix}_spans", expect=1)
    forwarded = b"".join(m.value for m in spans) + b"".join(
        m.value for m in read_topic(kafka_bootstrap, f"{topic_prefix}_logs", expect=1)
    )
    if in_receiver:
        assert_clean("the spans and logs topics", forwarded.decode("utf-8", "replace"))
        assert b"[EMAIL]" in forwarded
    else:  # by design: the input topics (and so the dead-letter topic) hold raw records for replay
        assert EMAIL.encode() in forwarded
