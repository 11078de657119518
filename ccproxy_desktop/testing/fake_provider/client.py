"""`FakeProviderClient`: control a fake provider running in another process over its `/_fake/*` endpoints."""

from __future__ import annotations

import time
from collections.abc import Mapping

import httpx

from .recording import RecordedRequest
from .scenario import Behaviour, QueuedBehaviour, ScenarioUpdate

__all__ = ["FakeProviderClient"]

_POLL_INTERVAL_S = 0.02


class FakeProviderClient:
    """The HTTP twin of `FakeProvider.scenario` and `.requests`; a rejected call raises HTTPStatusError."""

    def __init__(self, base_url: str, *, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FakeProviderClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def wait_until_ready(self, timeout: float = 10.0) -> None:
        """Poll `/_fake/health` until it answers; TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._http.get("/_fake/health").raise_for_status()
                return
            except httpx.TransportError as exc:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"no fake provider at {self.base_url} after {timeout}s") from exc
            _pause_before_retry()

    # -- requests ------------------------------------------------------------------------------------------

    def requests(self) -> list[RecordedRequest]:
        response = self._http.get("/_fake/requests")
        response.raise_for_status()
        return [RecordedRequest.from_dict(item) for item in response.json()["requests"]]

    def clear(self) -> None:
        self._http.delete("/_fake/requests").raise_for_status()

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Poll until at least `count` requests are recorded; TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while len(recorded := self.requests()) < count:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{len(recorded)} requests recorded after {timeout}s, wanted {count}")
            _pause_before_retry()
        return recorded

    # -- scenario ------------------------------------------------------------------------------------------

    def scenario(self) -> dict[str, object]:
        """The provider's current scenario (the `POST /_fake/scenario` format)."""
        response = self._http.get("/_fake/scenario")
        response.raise_for_status()
        state: dict[str, object] = response.json()
        return state

    def update(self, update: ScenarioUpdate | Mapping[str, object]) -> None:
        """Apply a scenario update (see `ScenarioUpdate`)."""
        body = update.model_dump(exclude_unset=True) if isinstance(update, ScenarioUpdate) else dict(update)
        self._http.post("/_fake/scenario", json=body).raise_for_status()

    def push(
        self, behaviour: Behaviour, *, path: str | None = None, model: str | None = None, times: int = 1
    ) -> None:
        entry = QueuedBehaviour.model_validate(
            {**behaviour.model_dump(), "path": path, "model": model, "times": times}
        )
        self.update({"queue": [entry.model_dump()]})

    def set_default(self, behaviour: Behaviour) -> None:
        self.update({"default": behaviour.model_dump()})

    def reset(self) -> None:
        self._http.delete("/_fake/scenario").raise_for_status()


def _pause_before_retry() -> None:
    """The polling interval of the wait helpers (they poll another process; there is no event to wait on)."""
    time.sleep(_POLL_INTERVAL_S)
