"""`FakeProvider`: the fake provider server on its own event loop in one named background thread."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Self

from .recording import DEFAULT_MAX_RECORDED, RecordedRequest, RequestLog
from .scenario import Scenario
from .server import HOST, FakeProviderServer

__all__ = ["FakeProvider"]

START_TIMEOUT_S = 10.0


class FakeProvider:
    """A fake Anthropic/OpenAI upstream for tests, benchmarks and demos, served from a background thread.

    `start()` returns once the server listens on 127.0.0.1; `stop()` (or leaving the `with` block) releases
    hanging requests, closes every connection and joins the thread. `scenario` controls the answers and
    `requests` shows what was received; both are safe to use from any thread while the server runs.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        latency_ms: float = 0.0,
        chunk_delay_ms: float = 0.0,
        expected_token: str | None = None,
        max_recorded: int = DEFAULT_MAX_RECORDED,
    ) -> None:
        self.scenario = Scenario(
            latency_ms=latency_ms, chunk_delay_ms=chunk_delay_ms, expected_token=expected_token
        )
        self.log = RequestLog(max_recorded)
        self._requested_port = port
        self._server = FakeProviderServer(self.scenario, self.log)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._started = threading.Event()
        self._startup_error: BaseException | None = None
        self._port: int | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT_S) -> Self:
        """Start serving and return once listening. Raises OSError if the port is taken, TimeoutError if the
        server is not up within `timeout` seconds, RuntimeError if already started."""
        if self._thread is not None:
            raise RuntimeError("the fake provider is already started")
        self._started.clear()
        self._startup_error = None
        self._thread = threading.Thread(target=self._run, name="fake-provider", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise TimeoutError(f"the fake provider did not start within {timeout}s")
        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            raise self._startup_error
        return self

    def stop(self, timeout: float = START_TIMEOUT_S) -> None:
        """Stop serving and join the thread. Idempotent; the provider can be started again afterwards."""
        thread, loop, stop_requested = self._thread, self._loop, self._stop_requested
        if thread is None:
            return
        if loop is not None and stop_requested is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop_requested.set)
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError(f"the fake provider did not stop within {timeout}s")
        self._thread = None
        self._port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        try:
            self._port = await self._server.start(self._requested_port)
        except OSError as exc:
            self._startup_error = exc
            self._started.set()
            return
        self._started.set()
        try:
            await self._stop_requested.wait()
        finally:
            await self._server.stop()

    # -- addresses -----------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on; RuntimeError when not started."""
        if self._port is None:
            raise RuntimeError("the fake provider is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`, the `base_url`/`api_base` to give clients (without `/v1`)."""
        return f"http://{HOST}:{self.port}"

    # -- recorded requests ---------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """The recorded requests, oldest first (the last `max_recorded` only)."""
        return self.log.snapshot()

    def clear(self) -> None:
        """Forget the recorded requests."""
        self.log.clear()

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until `count` requests are recorded and return them; TimeoutError after `timeout` seconds."""
        return self.log.wait_for(count, timeout)
