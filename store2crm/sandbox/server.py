"""Loopback HTTP server base shared by the sandbox emulators."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

LOOPBACK = "127.0.0.1"
# How often the serving thread checks for shutdown; keeps stop() quick in tests.
SHUTDOWN_POLL_SECONDS = 0.05


class Request:
    """One parsed request handed to an emulator's route handler."""

    def __init__(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> None:
        parts = urlsplit(raw_path)
        self.method = method
        self.path = parts.path
        self.query: dict[str, str] = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.query_pairs: list[tuple[str, str]] = parse_qsl(parts.query, keep_blank_values=True)
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body

    def json(self) -> Any:
        """Decode the body as JSON (None for an empty body)."""
        return json.loads(self.body) if self.body else None


class Response:
    """What a route handler returns: status, JSON-able body and extra headers."""

    def __init__(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None, *, drop_connection: bool = False
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}
        # Fault injection: close the connection without answering (the client sees a reset).
        self.drop_connection = drop_connection


Handler = Callable[[Request], Response]


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 and a free port, started and stopped explicitly.

    Subclasses implement `handle(request) -> Response`. Use as a context manager so the
    server is always stopped, also when the code inside fails.
    """

    def __init__(self, port: int = 0) -> None:
        self._requested_port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def handle(self, request: Request) -> Response:
        """Answer one request; emulators override this."""
        raise NotImplementedError

    @property
    def port(self) -> int:
        """The bound port (only once started)."""
        if self._httpd is None:
            raise RuntimeError("server is not running")
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>` of the running server."""
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> LoopbackServer:
        """Bind to loopback and serve in a daemon thread."""
        server = self

        class _RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; without this, Nagle + delayed ACK add ~40 ms a call.
            disable_nagle_algorithm = True

            def _dispatch(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path, dict(self.headers.items()), body)
                try:
                    response = server.handle(request)
                except Exception as exc:  # an emulator bug must surface as a 500, not a hang
                    response = Response(500, {"status": "error", "message": f"emulator error: {exc!r}"})
                self._send(response)

            def _send(self, response: Response) -> None:
                if response.drop_connection:
                    self.close_connection = True
                    return
                if isinstance(response.body, bytes):  # CSV and other non-JSON bodies go out as given
                    payload = response.body
                else:
                    payload = b"" if response.body is None else json.dumps(response.body).encode()
                headers = {"Content-Type": "application/json; charset=utf-8"} | response.headers
                self.send_response(response.status)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._httpd = ThreadingHTTPServer((LOOPBACK, self._requested_port), _RequestHandler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
            name=type(self).__name__,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
