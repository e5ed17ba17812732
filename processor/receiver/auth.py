"""Bearer-token auth for both servers, checked as the Collector's `bearertokenauth` extension checks it.

The whole header value must equal `<scheme> <token>` (or the bare token when `scheme` is empty) for
one of the configured tokens, so a Collector exporter using that extension works unchanged. Every
comparison is constant-time (`hmac.compare_digest`) and runs over all tokens. A refusal carries no
detail, and neither tokens nor received header values are ever logged; refusals are counted by
reason (`missing`: no header, `invalid`: wrong scheme or token).

Tokens come from the config (`${env:VAR}` is expanded by the loader) or from `tokens_file`, one per
line, re-read when the file's identity, size or modification time changes: a rotated Kubernetes
secret (a symlink swap) is picked up at the next request without a restart.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import grpc

from processor.receiver.config import AuthConfig, read_tokens_file

log = logging.getLogger(__name__)

#: Health checks stay open: Kubernetes' gRPC probe cannot send a token.
UNAUTHENTICATED_METHODS = frozenset({"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"})


class TokenAuth:
    """Decides whether a request's auth header value is acceptable; thread-safe.

    Args:
        config: the `receiver.auth` section (enabled: it holds tokens or a tokens file).
        on_refused: called with the reason of every refusal (a counter's `inc`).
    """

    def __init__(self, config: AuthConfig, on_refused: Callable[[str], None] = lambda _: None) -> None:
        self.header = config.header
        self._scheme = config.scheme
        self._file = config.tokens_file
        self._on_refused = on_refused
        self._lock = threading.Lock()
        self._file_id: tuple[int, int, int, int] | None = None
        self._expected: list[bytes] = self._values(config.tokens)
        if self._file:
            self._reload_if_changed()

    def _values(self, tokens: Sequence[str]) -> list[bytes]:
        return [(f"{self._scheme} {t}" if self._scheme else t).encode() for t in tokens if t]

    def _reload_if_changed(self) -> None:
        try:
            info = os.stat(self._file)
            file_id = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
            if file_id == self._file_id:
                return
            tokens = read_tokens_file(self._file)
        except OSError as exc:
            if self._file_id is not None:  # keep the last good tokens; say so once per change
                log.warning(
                    "receiver.auth.tokens_file: cannot re-read %s (%s); keeping the last tokens",
                    self._file,
                    exc.strerror or exc,
                )
                self._file_id = None
            return
        with self._lock:
            self._expected, self._file_id = self._values(tokens), file_id
        log.info("receiver.auth.tokens_file: loaded %d token(s) from %s", len(tokens), self._file)

    def refusal(self, value: str | bytes | None) -> str | None:
        """None when `value` (the header's value, or None when absent) is accepted, else the reason."""
        if self._file:
            self._reload_if_changed()
        if not value:
            reason = "missing"
        else:
            given = value.encode() if isinstance(value, str) else value
            with self._lock:
                expected = self._expected
            matched = False
            for candidate in expected:  # no early exit: the time does not tell which token matched
                matched |= hmac.compare_digest(candidate, given)
            if matched:
                return None
            reason = "invalid"
        self._on_refused(reason)
        return reason


class GrpcAuthInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Refuses unauthenticated RPCs with UNAUTHENTICATED and no detail, before any handler runs."""

    def __init__(self, auth: TokenAuth) -> None:
        self._auth = auth
        self._key = auth.header.lower()  # gRPC metadata keys are lower-case
        self._refuse = grpc.unary_unary_rpc_method_handler(self._abort)

    @staticmethod
    def _abort(_request: Any, context: grpc.ServicerContext) -> None:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "unauthenticated")

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: grpc.HandlerCallDetails
    ) -> Any:
        if handler_call_details.method in UNAUTHENTICATED_METHODS:
            return continuation(handler_call_details)
        value = next((v for k, v in handler_call_details.invocation_metadata or () if k == self._key), None)
        if self._auth.refusal(value) is None:
            return continuation(handler_call_details)
        return self._refuse
