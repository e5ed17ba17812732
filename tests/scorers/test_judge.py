"""judge: against a local stand-in chat-completions server (127.0.0.1:0), never a real provider."""

from __future__ import annotations

import collections
import http.server
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from processor.errors import ConfigError
from processor.model import EvalCase, Outcome
from processor.scorers import ChatReply, HttpxChatClient, build_scorer
from processor.scorers.chat import parse_retry_after
from processor.scorers.config import ScorerSpec
from processor.scorers.judge import (
    DEFAULT_RUBRIC,
    JudgeParams,
    JudgeScorer,
    _Failure,
    parse_verdict,
)
from tests.processes import serving_in_thread

CASE = EvalCase(
    input="What is the refund window for annual plans?",
    output="Annual plans can be refunded within 30 days of purchase, per refund policy v3.",
    context=("Refund policy v3: annual plans are refundable within 30 days.",),
)


def completion(content: str, total_tokens: int | None = 120) -> dict:
    body: dict = {
        "id": "c1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
    }
    if total_tokens is not None:
        body["usage"] = {
            "prompt_tokens": total_tokens - 20,
            "completion_tokens": 20,
            "total_tokens": total_tokens,
        }
    return body


@dataclass
class Reply:
    status: int = 200
    body: dict | str = field(default_factory=lambda: completion('{"score": 8, "explanation": "on point"}'))
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


class StandIn(http.server.ThreadingHTTPServer):
    """Answers POST /v1/chat/completions from a script; counts requests and peak concurrency."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: collections.deque[Reply] = collections.deque()
        self.default = Reply()
        self.requests: list[dict] = []
        self.active = 0
        self.max_active = 0
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: StandIn

    def log_message(self, format, *args):  # keep test output clean
        pass

    def do_POST(self) -> None:
        srv = self.server
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        with srv.lock:
            srv.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            srv.active += 1
            srv.max_active = max(srv.max_active, srv.active)
            reply = srv.script.popleft() if srv.script else srv.default
        try:
            if reply.delay_s:
                time.sleep(reply.delay_s)
            data = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
            payload = data.encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)
        finally:
            with srv.lock:
                srv.active -= 1


@pytest.fixture
def server():
    with serving_in_thread(StandIn()) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _judge_key(monkeypatch):
    monkeypatch.setenv("EVALSTREAM_TEST_JUDGE_KEY", "sk-test-123")


def make(server: StandIn, **params):
    base = {"base_url": server.base_url, "model": "judge-mini", "api_key_env": "EVALSTREAM_TEST_JUDGE_KEY"}
    base.update(params)
    return build_scorer(ScorerSpec(name="judge", params=base))


def direct(
    server: StandIn, *, sleeps: list[float] | None = None, clock=time.monotonic, **settings
) -> JudgeScorer:
    """A JudgeScorer with a recording sleep and an injectable clock, talking to the stand-in."""
    recorded = sleeps if sleeps is not None else []
    return JudgeScorer(
        "judge",
        threshold=0.7,
        settings=JudgeParams(base_url=server.base_url, model="judge-mini", **settings),
        client=HttpxChatClient(),
        clock=clock,
        sleep=recorded.append,
    )


# good replies -----------------------------------------------------------------------------------------


def test_good_json_score_is_parsed_with_tokens_and_explanation(server):
    server.default = Reply(body=completion('{"score": 8, "explanation": "on point"}', total_tokens=321))
    score = make(server)(CASE)
    assert score.outcome is Outcome.SCORED
    assert score.value == pytest.approx(0.8)
    assert score.passed is True  # default threshold 0.7
    assert score.threshold == 0.7
    assert score.explanation == "on point"
    assert score.tokens == 321


def test_request_is_an_openai_chat_completion_with_the_case_in_the_rubric(server):
    make(server)(CASE)
    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test-123"
    body = request["body"]
    assert body["model"] == "judge-mini"
    assert body["temperature"] == 0.0
    user = body["messages"][-1]
    assert user["role"] == "user"
    assert CASE.input in user["content"] and CASE.output in user["content"]
    assert '{"score": <integer 0-10>' in user["content"]  # JSON braces survive templating


def test_custom_rubric_with_context_and_scale_one(server):
    server.default = Reply(body=completion("0.25"))
    rubric = "Is the answer supported?\n{context}\n---\n{answer}\nReply with one number from 0 to 1."
    score = make(server, rubric=rubric, scale=1)(CASE)
    assert score.value == pytest.approx(0.25)
    assert score.passed is False
    assert "[1] Refund policy v3" in server.requests[0]["body"]["messages"][-1]["content"]


def test_rubric_needing_context_skips_cases_without_it(server):
    scorer = make(server, rubric="{context} {answer}")
    score = scorer(EvalCase(input="q", output="a"))
    assert (score.outcome, score.reason) == (Outcome.SKIPPED, "no_context")
    scorer = make(server, rubric="{expected} {answer}")
    assert scorer(EvalCase(input="q", output="a")).reason == "no_expected"
    assert server.requests == []


# strict parsing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "value"),
    [
        ("8", 0.8),
        ("Score: 7", 0.7),
        ("10", 1.0),
        ("0", 0.0),
        ('{"score": 9, "explanation": "ok"}', 0.9),
        ('```json\n{"score": 6}\n```', 0.6),
        ("7.5", 0.75),
    ],
)
def test_parse_verdict_accepts(content, value):
    assert parse_verdict(content, scale=10)[0] == pytest.approx(value)


@pytest.mark.parametrize(
    "content",
    [
        "",
        "The answer is quite relevant.",
        "8/10",
        "Between 7 and 8",
        "11",
        "-1",
        '{"score": "8"}',
        '{"score": true}',
        '{"rating": 8}',
        '{"score": 8',
    ],
)
def test_parse_verdict_rejects(content):
    with pytest.raises(_Failure) as err:
        parse_verdict(content, scale=10)
    assert err.value.reason == "bad_response"


@pytest.mark.parametrize(
    "body",
    [
        completion("I would say it is pretty good, maybe an eight."),
        completion("8 out of 10"),
        "this is not json",
        {"choices": []},
        {"choices": [{"message": {"content": None}}]},
    ],
)
def test_garbage_reply_is_an_error_not_a_score(server, body):
    server.default = Reply(body=body)
    score = make(server)(CASE)
    assert score.outcome is Outcome.ERROR
    assert score.reason == "bad_response"
    assert score.value is None
    assert len(server.requests) == 1  # a bad reply is not retried


def test_tokens_of_a_bad_reply_are_still_counted(server):
    server.default = Reply(body=completion("no idea", total_tokens=77))
    score = make(server)(CASE)
    assert (score.reason, score.tokens) == ("bad_response", 77)


# failures and retries ---------------------------------------------------------------------------------


def test_timeout_is_an_error_outcome_and_not_retried(server):
    server.default = Reply(delay_s=2.0)
    score = make(server, timeout_s=0.2, max_retries=3)(CASE)
    assert score.outcome is Outcome.ERROR
    assert score.reason == "timeout"
    assert score.value is None and score.passed is None
    assert len(server.requests) == 1


def test_429_then_200_is_retried_and_scored(server):
    server.script.extend([Reply(status=429, body={"error": "slow down"}, headers={"Retry-After": "0"})])
    score = make(server, max_retries=2)(CASE)
    assert score.outcome is Outcome.SCORED
    assert score.value == pytest.approx(0.8)
    assert len(server.requests) == 2


def test_retry_after_is_honoured(server):
    sleeps: list[float] = []
    server.script.extend([Reply(status=429, body={}, headers={"Retry-After": "3"})])
    score = direct(server, sleeps=sleeps, max_retries=2)(CASE)
    assert score.outcome is Outcome.SCORED
    assert sleeps == [3.0]


def test_retry_after_longer_than_backoff_max_gives_up_without_waiting(server):
    sleeps: list[float] = []
    server.script.extend([Reply(status=429, body={}, headers={"Retry-After": "120"})])
    score = direct(server, sleeps=sleeps, max_retries=3, backoff_max_s=30)(CASE)
    assert (score.outcome, score.reason) == (Outcome.ERROR, "http_429")
    assert sleeps == []
    assert len(server.requests) == 1


def test_500_exhausting_retries_is_an_error(server):
    server.default = Reply(status=500, body={"error": "boom"})
    score = make(server, max_retries=2, backoff_initial_s=0.001)(CASE)
    assert score.outcome is Outcome.ERROR
    assert score.reason == "http_5xx"
    assert len(server.requests) == 3


def test_backoff_doubles_with_jitter_between_5xx_retries(server):
    sleeps: list[float] = []
    server.default = Reply(status=503, body={})
    score = direct(server, sleeps=sleeps, max_retries=3, backoff_initial_s=1.0, backoff_max_s=3.0)(CASE)
    assert score.reason == "http_5xx"
    assert len(sleeps) == 3
    # Each wait lies in [step/2, step] with step = 1, 2, then capped at 3.
    for wait, step in zip(sleeps, [1.0, 2.0, 3.0], strict=True):
        assert step / 2 <= wait <= step


def test_other_4xx_is_not_retried(server):
    server.default = Reply(status=401, body={"error": "bad key"})
    score = make(server, max_retries=3)(CASE)
    assert (score.outcome, score.reason) == (Outcome.ERROR, "http_4xx")
    assert len(server.requests) == 1


def test_unreachable_endpoint_is_an_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    scorer = build_scorer(
        ScorerSpec(
            name="judge",
            params={
                "base_url": f"http://127.0.0.1:{port}/v1",
                "model": "m",
                "max_retries": 1,
                "backoff_initial_s": 0,
            },
        )
    )
    score = scorer(CASE)
    assert (score.outcome, score.reason) == (Outcome.ERROR, "unreachable")


# budget -----------------------------------------------------------------------------------------------


def test_budget_exhaustion_skips_without_calling(server):
    server.default = Reply(body=completion('{"score": 8}', total_tokens=60))
    scorer = make(server, budget_tokens_per_hour=100)
    first, second, third = scorer(CASE), scorer(CASE), scorer(CASE)
    assert first.outcome is Outcome.SCORED and second.outcome is Outcome.SCORED
    assert (third.outcome, third.reason) == (Outcome.SKIPPED, "budget")
    assert len(server.requests) == 2


def test_budget_window_slides(server):
    now = [1000.0]
    server.default = Reply(body=completion('{"score": 8}', total_tokens=100))
    scorer = direct(server, clock=lambda: now[0], budget_tokens_per_hour=100)
    assert scorer(CASE).outcome is Outcome.SCORED
    now[0] += 3599
    assert scorer(CASE).reason == "budget"
    now[0] += 2  # the first 100 tokens are now more than an hour old
    assert scorer(CASE).outcome is Outcome.SCORED
    assert len(server.requests) == 2


def test_usage_missing_is_estimated_so_the_budget_still_binds(server):
    server.default = Reply(body=completion('{"score": 8}', total_tokens=None))
    scorer = make(server, budget_tokens_per_hour=50)
    first = scorer(CASE)
    assert first.tokens > 50  # the default rubric alone is far more than 200 characters
    assert scorer(CASE).reason == "budget"


# concurrency ------------------------------------------------------------------------------------------


def _burst(scorer, n: int) -> list:
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda _: scorer(CASE), range(n)))


def test_concurrency_limit_is_respected(server):
    server.default = Reply(delay_s=0.15)
    scores = _burst(make(server, max_concurrency=2), 8)
    assert all(s.outcome is Outcome.SCORED for s in scores)
    assert len(server.requests) == 8
    assert server.max_active <= 2


def test_concurrency_control_server_does_see_parallel_requests(server):
    # Proves the stand-in can observe overlap, so the limit test above is not vacuous.
    server.default = Reply(delay_s=0.15)
    _burst(make(server, max_concurrency=8), 8)
    assert server.max_active > 2


# configuration ----------------------------------------------------------------------------------------


def test_missing_api_key_env_var_is_a_config_error(monkeypatch):
    monkeypatch.delenv("EVALSTREAM_TEST_MISSING_KEY", raising=False)
    spec = ScorerSpec(
        name="judge",
        params={
            "base_url": "http://localhost:8000/v1",
            "model": "m",
            "api_key_env": "EVALSTREAM_TEST_MISSING_KEY",
        },
    )
    with pytest.raises(ConfigError) as err:
        build_scorer(spec, path="scorers.enabled[3]")
    assert err.value.problems == [
        "scorers.enabled[3].params.api_key_env: environment variable EVALSTREAM_TEST_MISSING_KEY is not set"
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"model": "m"}, "scorers.enabled[0].params.base_url: is required"),
        (
            {"base_url": "localhost:8000"},
            "scorers.enabled[0].params.base_url: must start with http:// or https://",
        ),
        ({"rubric": "{question} only"}, "scorers.enabled[0].params.rubric: must contain {answer}"),
        ({"rubric": "{anwser}"}, "scorers.enabled[0].params.rubric: unknown placeholder {anwser}"),
        ({"timeout_s": 0}, "scorers.enabled[0].params.timeout_s: must be greater than 0, got 0"),
        ({"max_concurrency": 0}, "scorers.enabled[0].params.max_concurrency: must be at least 1, got 0"),
        ({"max_retries": "3"}, "scorers.enabled[0].params.max_retries: expected an integer, got '3'"),
        (
            {"budget_tokens_per_hour": -1},
            "scorers.enabled[0].params.budget_tokens_per_hour: must be at least 0",
        ),
        ({"timeout": 5}, "scorers.enabled[0].params: unknown key 'timeout' (did you mean 'timeout_s'?)"),
    ],
)
def test_bad_judge_params_name_the_key(params, message):
    base = {"base_url": "http://localhost:8000/v1", "model": "m"}
    base.update(params)
    if "base_url" not in params and "model" in params and len(params) == 1:
        del base["base_url"]
    with pytest.raises(ConfigError) as err:
        build_scorer(ScorerSpec(name="judge", params=base))
    assert any(p.startswith(message) for p in err.value.problems), err.value.problems


def test_the_injected_client_is_used():
    class FakeClient:
        def __init__(self) -> None:
            self.urls: list[str] = []

        def post(self, url, payload, *, headers, timeout_s):
            self.urls.append(url)
            return ChatReply(200, json.dumps(completion("9")).encode())

    fake = FakeClient()
    scorer = build_scorer(
        ScorerSpec(name="judge", params={"base_url": "https://judge.example/v1/", "model": "m"}),
        judge_client=fake,
    )
    assert scorer(CASE).value == pytest.approx(0.9)
    assert fake.urls == ["https://judge.example/v1/chat/completions"]


def test_no_api_key_env_sends_no_authorization_header(server):
    scorer = build_scorer(ScorerSpec(name="judge", params={"base_url": server.base_url, "model": "m"}))
    scorer(CASE)
    assert "Authorization" not in server.requests[0]["headers"]


def test_default_rubric_mentions_every_required_instruction():
    assert "{question}" in DEFAULT_RUBRIC and "{answer}" in DEFAULT_RUBRIC
    assert "0-10" in DEFAULT_RUBRIC


@pytest.mark.parametrize(
    ("header", "expected"),
    [("5", 5.0), ("0", 0.0), (None, None), ("soon", None), ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0)],
)
def test_parse_retry_after(header, expected):
    now = 1445412480.0  # 2015-10-21 07:28:00 UTC
    assert parse_retry_after(header, now=now) == expected


@pytest.mark.parametrize(
    "base_url, params, refused",
    [
        ("http://judge.internal:8000/v1", {}, True),
        ("http://10.0.0.7/v1", {}, True),
        ("http://judge.internal:8000/v1", {"allow_plain_http_api_key": True}, False),
        ("https://judge.internal/v1", {}, False),
        ("http://127.0.0.1:8000/v1", {}, False),
        ("http://localhost:8000/v1", {}, False),
        ("http://[::1]:8000/v1", {}, False),
    ],
)
def test_the_api_key_never_goes_over_plain_http_to_another_host(
    base_url: str, params: dict, refused: bool
) -> None:
    spec = ScorerSpec(
        name="judge",
        params={"base_url": base_url, "model": "m", "api_key_env": "EVALSTREAM_TEST_JUDGE_KEY", **params},
    )
    if refused:
        with pytest.raises(ConfigError, match=r"params.base_url: .* plain http:// to a non-loopback host"):
            build_scorer(spec)
    else:
        build_scorer(spec)
    # without a key there is nothing to protect
    build_scorer(ScorerSpec(name="judge", params={"base_url": base_url, "model": "m"}))
