"""The CRM emulator server: picks a vendor dialect by name, adds inspection, sandbox control and faults."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from typing import Any, Protocol

from store2crm.sandbox.crm_emulator.faults import FaultInjector
from store2crm.sandbox.crm_emulator.hubspot import HubSpotDialect
from store2crm.sandbox.crm_emulator.salesforce import SalesforceDialect
from store2crm.sandbox.server import LoopbackServer, Request, Response

DEFAULT_ACCESS_TOKEN = "pat-sandbox"  # noqa: S105 - the sandbox's own token, never a real secret
SANDBOX_PREFIX = "/_sandbox/"

Clock = Callable[[], float | datetime]


class Dialect(Protocol):
    """What a CRM vendor dialect offers the emulator; it runs under the emulator's lock."""

    name: str

    def handle(self, request: Request) -> tuple[str, Response]:
        """Answer one API request; return its endpoint's stats key with the response."""
        ...

    def object_names(self) -> tuple[str, ...]:
        """The object types the CRM holds."""
        ...

    def objects(self, name: str) -> list[dict[str, Any]]:
        """Every stored record of one object type."""
        ...

    def associations(self) -> list[dict[str, Any]]:
        """Every stored association."""
        ...

    def reset(self) -> None:
        """Forget all data and quota use."""
        ...


DIALECTS: dict[str, Callable[..., Dialect]] = {"hubspot": HubSpotDialect, "salesforce": SalesforceDialect}


class UnknownDialectError(ValueError):
    """The dialect name is not in the registry."""


def epoch_clock(clock: Clock | None) -> Callable[[], float]:
    """Wrap a clock returning epoch seconds or a (pendulum) datetime into one returning epoch seconds."""
    if clock is None:
        return time.time

    def now() -> float:
        value = clock()
        return value.timestamp() if isinstance(value, datetime) else float(value)

    return now


class CrmEmulator(LoopbackServer):
    """A stateful CRM API on loopback, faithful to one vendor's dialect; tests drive it over HTTP.

    Extra keyword options go to the dialect (HubSpot: `path_prefix`, `api_version`, `window_seconds`,
    `window_limit`, `daily_limit`). `GET /_sandbox/objects/{object}`, `GET /_sandbox/associations`,
    `GET /_sandbox/stats`, `POST /_sandbox/reset` and `POST /_sandbox/faults` need no token and
    count against no quota.
    """

    def __init__(
        self,
        dialect: str = "hubspot",
        access_token: str = DEFAULT_ACCESS_TOKEN,
        tier: str = "starter",
        clock: Clock | None = None,
        port: int = 0,
        *,
        error_rate: float = 0.0,
        rate_limit_storm: int = 0,
        fault_seed: int = 0,
        **dialect_options: Any,
    ) -> None:
        if dialect not in DIALECTS:
            raise UnknownDialectError(f"unknown CRM dialect {dialect!r}; valid dialects: {', '.join(DIALECTS)}")
        super().__init__(port)
        self.dialect_name = dialect
        self.tier = tier
        self.access_token = access_token
        self._lock = threading.Lock()
        self._faults = FaultInjector(fault_seed)
        self._faults.configure(error_rate=error_rate, rate_limit_storm=rate_limit_storm)
        self._clock = epoch_clock(clock)
        self._dialect = DIALECTS[dialect](
            access_token=access_token, tier=tier, clock=self._clock, faults=self._faults, **dialect_options
        )
        self._calls: Counter[tuple[str, int]] = Counter()

    def __enter__(self) -> CrmEmulator:
        self.start()
        return self

    def handle(self, request: Request) -> Response:
        """Serve sandbox control paths, else the dialect's API, counting each API call by endpoint."""
        # Optional dialect hook, entered before queuing for the lock: Salesforce holds row locks there.
        in_flight = getattr(self._dialect, "in_flight", None)
        with in_flight(request) if in_flight else nullcontext(), self._lock:
            if request.path.startswith(SANDBOX_PREFIX):
                return self._sandbox(request)
            endpoint, response = self._dialect.handle(request)
            self._calls[(endpoint, response.status)] += 1
            return response

    # -- inspection and control -----------------------------------------------------------------

    def objects(self, name: str) -> list[dict[str, Any]]:
        """Every stored record of one object type (`contacts`, `companies`, `deals`)."""
        with self._lock:
            return self._dialect.objects(name)

    def associations(self) -> list[dict[str, Any]]:
        """Every stored association."""
        with self._lock:
            return self._dialect.associations()

    def call_count(self, endpoint: str | None = None, status: int | None = None) -> int:
        """API calls seen, optionally for one endpoint key (see `stats()`) and/or one HTTP status."""
        with self._lock:
            return sum(
                n
                for (seen_endpoint, seen_status), n in self._calls.items()
                if endpoint in (None, seen_endpoint) and status in (None, seen_status)
            )

    def stats(self) -> dict[str, Any]:
        """Calls by endpoint and status, record counts, association count and fault settings."""
        with self._lock:
            return self._stats()

    def configure_faults(
        self,
        *,
        error_rate: float | None = None,
        rate_limit_storm: int | None = None,
        error_statuses: tuple[int, ...] | None = None,
        seed: int | None = None,
        reset_rate: float | None = None,
        timeout_rate: float | None = None,
        partial_failure_rate: float | None = None,
        downtime_seconds: float | None = None,
    ) -> None:
        """Set a 5xx error rate, force the next N API calls to 429, or reseed; unset options stay.

        Connection faults: `reset_rate` drops calls unanswered before serving them, `timeout_rate`
        serves them and then drops the answer (a timeout after the write landed),
        `partial_failure_rate` fails single inputs of multi-status batches, and `downtime_seconds`
        answers every API call 503 for that long from now (0 ends a downtime window).
        """
        with self._lock:
            self._faults.configure(
                error_rate=error_rate, rate_limit_storm=rate_limit_storm, error_statuses=error_statuses, seed=seed
            )
            self._faults.configure_connection(
                reset_rate=reset_rate,
                timeout_rate=timeout_rate,
                partial_failure_rate=partial_failure_rate,
                down_until=None if downtime_seconds is None else self._clock() + downtime_seconds,
            )

    def reset(self) -> None:
        """Forget data, call stats and quota use; the fault settings stay."""
        with self._lock:
            self._dialect.reset()
            self._calls.clear()

    # -- sandbox HTTP ---------------------------------------------------------------------------

    def _stats(self) -> dict[str, Any]:
        by_endpoint: dict[str, dict[int, int]] = {}
        by_status: Counter[int] = Counter()
        for (endpoint, status), n in sorted(self._calls.items()):
            by_endpoint.setdefault(endpoint, {})[status] = n
            by_status[status] += n
        return {
            "dialect": self.dialect_name,
            "calls": {"total": sum(by_status.values()), "by_status": dict(by_status), "by_endpoint": by_endpoint},
            "objects": {name: len(self._dialect.objects(name)) for name in self._dialect.object_names()},
            "associations": len(self._dialect.associations()),
            "faults": self._faults.settings(),
        }

    def _sandbox(self, request: Request) -> Response:
        path = request.path.removeprefix(SANDBOX_PREFIX)
        if request.method == "GET" and path.startswith("objects/"):
            return self._sandbox_objects(path.removeprefix("objects/"))
        handlers: dict[tuple[str, str], Callable[[Request], Response]] = {
            ("GET", "stats"): lambda _: Response(200, self._stats()),
            ("GET", "associations"): lambda _: Response(200, {"results": self._dialect.associations()}),
            ("POST", "reset"): self._sandbox_reset,
            ("POST", "faults"): self._sandbox_faults,
        }
        handler = handlers.get((request.method, path))
        dialect_sandbox = getattr(self._dialect, "sandbox", None)  # optional hook for dialect-only controls
        answer = dialect_sandbox(request) if handler is None and dialect_sandbox else None
        if answer is not None:
            return answer
        if handler is None:
            message = f"no sandbox endpoint {request.method} {request.path}"
            return Response(404, {"status": "error", "message": message})
        return handler(request)

    def _sandbox_objects(self, name: str) -> Response:
        try:
            return Response(200, {"results": self._dialect.objects(name)})
        except ValueError as unknown:
            return Response(404, {"status": "error", "message": str(unknown)})

    def _sandbox_reset(self, request: Request) -> Response:
        self._dialect.reset()
        self._calls.clear()
        return Response(200, {"status": "reset"})

    def _sandbox_faults(self, request: Request) -> Response:
        try:
            options = request.json() or {}
            self._faults.configure(
                error_rate=options.get("error_rate"),
                rate_limit_storm=options.get("rate_limit_storm"),
                error_statuses=tuple(options["error_statuses"]) if "error_statuses" in options else None,
                seed=options.get("seed"),
            )
            downtime = options.get("downtime_seconds")
            self._faults.configure_connection(
                reset_rate=options.get("reset_rate"),
                timeout_rate=options.get("timeout_rate"),
                partial_failure_rate=options.get("partial_failure_rate"),
                down_until=None if downtime is None else self._clock() + float(downtime),
            )
        except (ValueError, TypeError, AttributeError) as bad:
            return Response(400, {"status": "error", "message": f"bad fault settings: {bad}"})
        return Response(200, self._faults.settings())


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Turn Ctrl-C and SIGTERM into `stop.set()` while serving (signals reach only the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve_crm(
    dialect: str = "hubspot",
    port: int = 0,
    tier: str = "starter",
    access_token: str = DEFAULT_ACCESS_TOKEN,
    *,
    stop: threading.Event | None = None,
    echo: Callable[[str], None] = print,
    **options: Any,
) -> None:
    """Run a CRM emulator until Ctrl-C, SIGTERM or `stop`; first echo one line with its URL and token.

    Example: `serve_crm("hubspot", port=8765, tier="professional")`.
    """
    stop = stop or threading.Event()
    with CrmEmulator(dialect, access_token, tier, port=port, **options) as crm, _stop_on_signals(stop):
        echo(f"CRM emulator ({dialect}, {tier} tier) at {crm.base_url} - access token: {access_token}")
        stop.wait()
