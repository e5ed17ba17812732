"""The judge's HTTP seam: `ChatClient` posts one chat-completions request; `UrllibChatClient` is the default.

The client only moves bytes: one POST, one reply. It does not retry, parse scores or count tokens;
the judge does all of that, so a test can hand the judge any object with a `post` method.

    client.post("http://localhost:8000/v1/chat/completions", {"model": ..., "messages": [...]},
                headers={"Authorization": "Bearer ..."}, timeout_s=30)
    -> ChatReply(status=200, body=b'{"choices": [...], "usage": {...}}', retry_after_s=None)

A timeout raises `TimeoutError`; a connection failure raises `ConnectionError`. HTTP error statuses
are not exceptions: they come back as a `ChatReply` so the caller decides what is retryable.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


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


class UrllibChatClient:
    """The default client: stdlib urllib, one connection per request, proxies from the environment.

    Args:
        max_body_bytes: replies larger than this are cut off (a judge reply is a few hundred bytes).
    """

    def __init__(self, *, max_body_bytes: int = 1 << 20) -> None:
        self._max_body = max_body_bytes
        self._opener = urllib.request.build_opener()

    def post(
        self, url: str, payload: Mapping[str, Any], *, headers: Mapping[str, str], timeout_s: float
    ) -> ChatReply:
        data = json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(url, data=data, method="POST")
        request.add_header("Content-Type", "application/json")
        request.add_header("Accept", "application/json")
        for key, value in headers.items():
            request.add_header(key, value)
        try:
            with self._opener.open(request, timeout=timeout_s) as response:
                body = response.read(self._max_body)
                return ChatReply(
                    response.status, body, parse_retry_after(response.headers.get("Retry-After"))
                )
        except urllib.error.HTTPError as exc:
            try:
                body = exc.read(self._max_body)
            except (OSError, TimeoutError):
                body = b""
            finally:
                exc.close()
            return ChatReply(exc.code, body, parse_retry_after(exc.headers.get("Retry-After")))
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (TimeoutError, socket.timeout)):
                raise TimeoutError(f"no reply within {timeout_s:g}s") from None
            raise ConnectionError(f"cannot reach the judge endpoint: {exc.reason}") from None
        except TimeoutError:
            raise TimeoutError(f"no reply within {timeout_s:g}s") from None
        except (OSError, http.client.HTTPException) as exc:  # reset mid-reply, truncated reply...
            raise ConnectionError(f"connection to the judge endpoint failed: {type(exc).__name__}") from None
