"""The one chat-completions client: httpx under it, driven through httpx.MockTransport (no server)."""

from __future__ import annotations

import json

import httpx
import pytest

from processor.scorers.chat import (
    HttpxChatClient,
    chat_completions_url,
    completion_content,
)


def test_url_normalisation_appends_chat_completions_once() -> None:
    assert chat_completions_url("http://h:1/v1") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("http://h:1/v1/chat/completions") == "http://h:1/v1/chat/completions"


def test_post_sends_json_and_headers_and_returns_status_body_retry_after() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(429, headers={"Retry-After": "7"}, content=b'{"error": "slow down"}')

    client = HttpxChatClient(transport=httpx.MockTransport(handler))
    reply = client.post("http://judge/v1/chat/completions", {"model": "m"}, headers={"X-A": "b"}, timeout_s=2)
    assert (reply.status, reply.body, reply.retry_after_s) == (429, b'{"error": "slow down"}', 7.0)
    assert json.loads(seen[0].content) == {"model": "m"}
    assert seen[0].headers["X-A"] == "b" and seen[0].headers["content-type"] == "application/json"


def test_body_is_cut_at_the_limit() -> None:
    client = HttpxChatClient(
        max_body_bytes=10, transport=httpx.MockTransport(lambda r: httpx.Response(200, content=b"x" * 1000))
    )
    assert client.post("http://j/", {}, headers={}, timeout_s=1).body == b"x" * 10


@pytest.mark.parametrize(
    ("error", "raised"),
    [(httpx.ReadTimeout("slow"), TimeoutError), (httpx.ConnectError("refused"), ConnectionError)],
)
def test_transport_failures_become_timeout_or_connection_errors(
    error: httpx.HTTPError, raised: type[Exception]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    client = HttpxChatClient(transport=httpx.MockTransport(handler))
    with pytest.raises(raised):
        client.post("http://j/", {}, headers={}, timeout_s=1)


def test_completion_content_reads_the_first_choice_or_names_what_is_missing() -> None:
    body = json.dumps({"choices": [{"message": {"content": "hi"}}], "usage": {"total_tokens": 3}}).encode()
    content, decoded = completion_content(body)
    assert content == "hi" and decoded["usage"] == {"total_tokens": 3}
    for bad in (b"not json", b'{"choices": []}', b'{"choices": [{"message": {"content": 5}}]}'):
        with pytest.raises(ValueError, match="choices"):
            completion_content(bad)
