"""/metrics, /healthz and /readyz on the configured address (never all interfaces unless configured).

/healthz (liveness) is 503 once a part's thread died; /readyz is 503 while a part cannot do its job
now. Both list the parts and reasons in their body (`processor.health`).
"""

from __future__ import annotations

import http.server
import logging
import socket
import ssl
import sys
import threading
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from processor.health import Health
from processor.tls import TLSConfig, server_context

log = logging.getLogger(__name__)


class MetricsServer:
    """Serves the registry for Prometheus, plus liveness and readiness for Kubernetes probes."""

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        *,
        health: Health | None = None,
        tls: TLSConfig | None = None,
    ) -> None:
        self._address = (host, port)
        self._tls = tls if tls is not None and tls.enabled else None
        self._registry = registry
        self._health = health if health is not None else Health()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the metrics server is not started")
        return int(self._server.server_address[1])

    def start(self) -> None:
        if self._server is not None:
            return
        registry, health = self._registry, self._health

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._reply(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    ok, reasons = health.live()
                    self._reply(200 if ok else 503, _body("ok" if ok else "dead", reasons))
                elif path == "/readyz":
                    ok, reasons = health.ready()
                    self._reply(200 if ok else 503, _body("ready" if ok else "not ready", reasons))
                else:
                    self._reply(404, b"not found: try /metrics, /healthz or /readyz\n")

            def _reply(self, code: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # scrapes are not news
                pass

        if self._tls is not None:
            server: http.server.ThreadingHTTPServer = _TLSServer(
                self._address, Handler, server_context(self._tls)
            )
        else:
            server = _Server(self._address, Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
        self._thread.start()

    def shutdown(self, timeout_s: float = 5.0) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._server = None
        self._thread = None


def _body(verdict: str, reasons: list[str]) -> bytes:
    return "".join(f"{line}\n" for line in (verdict, *reasons)).encode("utf-8", "replace")


class _Server(http.server.ThreadingHTTPServer):
    """A scraper that hung up (its scrape_timeout passed) is the scraper's news, not a traceback on
    our stderr; any other error in a request's thread is still logged with its traceback."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exception(), ConnectionError):
            log.debug("metrics: %s hung up before the reply was written", client_address[0])
            return
        log.exception("metrics: request from %s failed", client_address[0])


class _TLSServer(_Server):
    """HTTPS: the handshake runs in the request's own thread, so a stalled client blocks nobody else."""

    def __init__(self, address: tuple[str, int], handler: Any, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        return self._context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(10.0)
        try:
            request.do_handshake()
        except (OSError, ssl.SSLError) as exc:  # no client certificate, plaintext, a scanner
            log.debug("metrics: TLS handshake with %s failed: %s", client_address[0], exc)
            return
        super().finish_request(request, client_address)
