"""The one OpenAI-compatible chat-completions client (httpx): the judge and `offline --endpoint` share it.

The client only moves bytes: one POST, one reply. It does not retry, parse scores or count tokens;
the judge does all of that, so a test can hand the judge any object with a `post` method, or give
`HttpxChatClient` an `httpx.MockTransport`.

    client.post(chat_completions_url("http://localhost:8000/v1"), {"model": ..., "messages": [...]},
                headers={"Authorization": "Bearer ..."}, timeout_s=30)
    -> ChatReply(status=200, body=b'{"choices": [...], "usage": {...}}', retry_after_s=None)

A timeout raises `TimeoutError`; a connection failure raises `ConnectionError`. HTTP error statuses
are not exceptions: they come back as a `ChatReply` so the caller decides what is retryable.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx


@dataclass(frozen=True, slots=True)
class ChatReply:
    """One HTTP reply: status, raw body, and the server's Retry-After in seconds when it sent one."""

    status: int
    body: bytes
    retry_after_s: float | None = None


class ChatClient(Protocol):
    """Posts a JSON body and returns the reply; raises TimeoutError or ConnectionError, nothing else."""

    def post(
        self, url: str, payload: Mapping[str, Any], *, headers: Mapping[str, str], timeout_s: float
    ) -> ChatReply: ...


def chat_completions_url(base_url: str) -> str:
    """The chat-completions URL for an OpenAI-style base URL (`.../v1`), or the full URL as given."""
    base = base_url.rstrip("/")
    return base if base.endswith("/chat/completions") else f"{base}/chat/completions"


def completion_content(body: bytes) -> tuple[str, Mapping[str, Any]]:
    """(choices[0].message.content, the whole decoded reply); ValueError naming what is missing."""
    try:
        decoded = json.loads(body)
        content = decoded["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise ValueError("reply is not a chat completion (no choices[0].message.content)") from None
    if not isinstance(content, str):
        raise ValueError("choices[0].message.content is not a string")
    return content, decoded


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


class HttpxChatClient:
    """The default client: one pooled `httpx.Client` per process part, proxies from the environment.

    Args:
        max_body_bytes: replies larger than this are cut off (a judge reply is a few hundred bytes).
        max_connections: the pool size; the judge's `max_concurrency` and `--concurrency` stay below it.
        transport: an `httpx.BaseTransport` (tests pass `httpx.MockTransport`); default: the network.
    """

    def __init__(
        self,
        *,
        max_body_bytes: int = 1 << 20,
        max_connections: int = 16,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._max_body = max_body_bytes
        self._client = httpx.Client(
            transport=transport,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            headers={"Accept": "application/json"},
        )

    def post(
        self, url: str, payload: Mapping[str, Any], *, headers: Mapping[str, str], timeout_s: float
    ) -> ChatReply:
        try:
            with self._client.stream(
                "POST", url, json=payload, headers=dict(headers), timeout=httpx.Timeout(timeout_s)
            ) as response:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) >= self._max_body:
                        del body[self._max_body :]
                        break
                return ChatReply(
                    response.status_code, bytes(body), parse_retry_after(response.headers.get("Retry-After"))
                )
        except httpx.TimeoutException:
            raise TimeoutError(f"no reply within {timeout_s:g}s") from None
        except httpx.HTTPError as exc:  # refused, reset mid-reply, truncated reply, bad URL...
            raise ConnectionError(f"cannot reach the chat endpoint: {type(exc).__name__}") from None

    def close(self) -> None:
        self._client.close()
