"""The store emulator server: a dialect over a dataset, sandbox control endpoints, and `serve_store`."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

import pendulum

from store2crm.sandbox.generator import Dataset, generate
from store2crm.sandbox.server import LoopbackServer, Request, Response
from store2crm.sandbox.store_emulator.base import DialectSettings, RawResponse, utc_now
from store2crm.sandbox.store_emulator.dialects import get_dialect
from store2crm.sandbox.store_emulator.faults import FaultInjector, FaultSettings

Clock = Callable[[], pendulum.DateTime]
Sleep = Callable[[float], None]
SANDBOX_PREFIX = "/_sandbox/"
SERVE_POLL_SECONDS = 0.5  # how often serve_store checks its stop flag between signals


class StoreEmulator(LoopbackServer):
    """Serves a generated Dataset in a store platform's API dialect on loopback."""

    def __init__(
        self,
        dataset: Dataset,
        dialect: str = "woocommerce",
        *,
        consumer_key: str = "ck_sandbox",
        consumer_secret: str = "cs_sandbox",  # noqa: S107 - sandbox credential, printed on start by design
        port: int = 0,
        clock: Clock = utc_now,
        site_timezone: str = "UTC",
        faults: FaultSettings | None = None,
        sleep: Sleep = time.sleep,
        dialect_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(port)
        self.dataset = dataset
        self.clock = clock
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.faults = FaultInjector(faults)
        self._sleep = sleep
        settings = DialectSettings(
            consumer_key, consumer_secret, site_timezone, clock, self.faults, dict(dialect_options or {})
        )
        self.dialect = get_dialect(dialect)(dataset, settings)
        self.dialect_name = dialect
        self._lock = settings.lock  # shared with the dialect (Shopify exports bulk results under it)
        self._requests: Counter[str] = Counter()

    def start(self) -> StoreEmulator:
        """Serve as LoopbackServer does, with a request handler that can also send raw (JSONL) bodies."""
        super().start()
        assert self._httpd is not None
        self._httpd.RequestHandlerClass = _raw_capable(self._httpd.RequestHandlerClass)
        return self

    def stop(self) -> None:
        """Stop serving, then the dialect's background work (Shopify's bulk exports), so no thread outlives it."""
        super().stop()
        close = getattr(self.dialect, "close", None)
        if close is not None:
            close()

    def configure_faults(self, **changes: Any) -> FaultSettings:
        """Change fault settings at runtime (same names as FaultSettings); returns the new settings."""
        with self._lock:
            return self.faults.configure(**changes)

    def describe(self) -> str:
        """One line with the base URL and credentials of the running emulator."""
        return self.dialect.describe(self.base_url)

    def handle(self, request: Request) -> Response:
        """Count the request, then answer a sandbox control call or hand it to the dialect, faults applied."""
        with self._lock:
            self._requests[request.path] += 1
            if request.path.startswith(SANDBOX_PREFIX):
                return self._control(request)
            if not self.dialect.is_api_call(request):
                return self.dialect.handle(request, self.base_url)
            delay = self.faults.delay()
            response = self._api_call(request)
        if delay:
            self._sleep(delay)  # outside the lock: a slow page must not stall other callers
        return response

    def _api_call(self, request: Request) -> Response:
        fault = self.faults.intercept(self.clock())
        if fault is not None:
            return self.dialect.fault_response(fault, request, self.faults.settings.retry_after)
        changes = self.faults.mutation_due()
        if changes:
            self.dataset.mutate(changes, self.clock())
        response = self.dialect.handle(request, self.base_url)
        if self.faults.settings.malformed_rate and response.status == 200:
            self.dialect.malform(request, response, self.faults.malformed_kind)
        return response

    def _control(self, request: Request) -> Response:
        action = (request.method, request.path.removeprefix(SANDBOX_PREFIX).rstrip("/"))
        if action == ("POST", "mutate"):
            return self._mutate(request)
        if action == ("GET", "truth"):
            truth = [{"stream": s, "id": i, "person": p} for (s, i), p in self.dataset.truth.items()]
            return Response(200, truth)
        if action == ("GET", "stats"):
            return Response(
                200,
                {
                    "requests": dict(self._requests),
                    "total": sum(self._requests.values()),
                    "faults": dict(self.faults.injected),
                },
            )
        if action == ("GET", "faults"):
            return Response(200, self.faults.describe())
        if action == ("POST", "faults"):
            return self._set_faults(request)
        return Response(404, {"error": f"no sandbox endpoint {request.method} {request.path}"})

    def _mutate(self, request: Request) -> Response:
        try:
            body = request.json() or {}
        except ValueError:
            body = None
        count = body.get("count") if isinstance(body, dict) else None
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            return Response(400, {"error": 'body must be {"count": <non-negative integer>}'})
        now = self.clock()
        changed = self.dataset.mutate(count, now)
        return Response(
            200,
            {
                "now": now.in_timezone("UTC").to_iso8601_string(),
                "changed": [{"stream": s, "id": i} for s, i in changed],
            },
        )

    def _set_faults(self, request: Request) -> Response:
        try:
            body = request.json() or {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return Response(400, {"error": "body must be a JSON object of fault settings"})
        try:
            settings = self.faults.configure(**body)
        except (TypeError, ValueError) as exc:
            return Response(400, {"error": str(exc)})
        return Response(200, {"settings": asdict(settings)})


def _raw_capable(handler_class: type) -> type:
    """A subclass of the loopback request handler that writes RawResponse bodies unencoded."""

    class _RawCapableHandler(handler_class):  # type: ignore[misc, valid-type]
        def _send(self, response: Response) -> None:
            if not isinstance(response, RawResponse):
                super()._send(response)
                return
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

    return _RawCapableHandler


def serve_store(
    *,
    seed: int = 42,
    scale: int = 500,
    dialect: str = "woocommerce",
    port: int = 0,
    consumer_key: str = "ck_sandbox",
    consumer_secret: str = "cs_sandbox",  # noqa: S107 - sandbox credential, printed on start by design
    site_timezone: str = "UTC",
    now: pendulum.DateTime | None = None,
    echo: Callable[[str], object] = print,
    stop: threading.Event | None = None,
    faults: FaultSettings | None = None,
    dialect_options: Mapping[str, Any] | None = None,
) -> None:
    """Generate a store, serve it, print one line with URL and credentials, block until stopped.

    Stops on Ctrl-C / SIGTERM (when called from the main thread) or when `stop` is set.
    """
    stop = stop or threading.Event()
    dataset = generate(seed=seed, scale=scale, now=now)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        with StoreEmulator(
            dataset,
            dialect,
            consumer_key=consumer_key,
            consumer_secret=consumer_secret,
            port=port,
            site_timezone=site_timezone,
            faults=faults,
            dialect_options=dialect_options,
        ) as emu:
            echo(f"{emu.describe()} (seed={seed}, scale={scale}); Ctrl-C to stop")
            while not stop.wait(SERVE_POLL_SECONDS):
                pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
