"""The store emulator server: a dialect over a dataset, sandbox control endpoints, and `serve_store`."""

from __future__ import annotations

import signal
import threading
from collections import Counter
from collections.abc import Callable

import pendulum

from store2crm.sandbox.generator import Dataset, generate
from store2crm.sandbox.server import LoopbackServer, Request, Response
from store2crm.sandbox.store_emulator.base import DialectSettings
from store2crm.sandbox.store_emulator.dialects import get_dialect

Clock = Callable[[], pendulum.DateTime]
SANDBOX_PREFIX = "/_sandbox/"
SERVE_POLL_SECONDS = 0.5  # how often serve_store checks its stop flag between signals


def utc_now() -> pendulum.DateTime:
    """The default emulator clock."""
    return pendulum.now("UTC")


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
    ) -> None:
        super().__init__(port)
        self.dataset = dataset
        self.clock = clock
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.dialect = get_dialect(dialect)(dataset, DialectSettings(consumer_key, consumer_secret, site_timezone))
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()

    def describe(self) -> str:
        """One line with the base URL and credentials of the running emulator."""
        return self.dialect.describe(self.base_url)

    def handle(self, request: Request) -> Response:
        """Count the request, then answer a sandbox control call or hand it to the dialect."""
        with self._lock:
            self._requests[request.path] += 1
            if request.path.startswith(SANDBOX_PREFIX):
                return self._control(request)
            return self.dialect.handle(request, self.base_url)

    def _control(self, request: Request) -> Response:
        action = (request.method, request.path.removeprefix(SANDBOX_PREFIX).rstrip("/"))
        if action == ("POST", "mutate"):
            return self._mutate(request)
        if action == ("GET", "truth"):
            truth = [{"stream": s, "id": i, "person": p} for (s, i), p in self.dataset.truth.items()]
            return Response(200, truth)
        if action == ("GET", "stats"):
            return Response(200, {"requests": dict(self._requests), "total": sum(self._requests.values())})
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
        ) as emu:
            echo(f"{emu.describe()} (seed={seed}, scale={scale}); Ctrl-C to stop")
            while not stop.wait(SERVE_POLL_SECONDS):
                pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
