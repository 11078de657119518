"""The bounded, thread-safe log of requests the fake provider received."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass

from pydantic import TypeAdapter

__all__ = ["DEFAULT_MAX_RECORDED", "RecordedRequest", "RequestLog"]

DEFAULT_MAX_RECORDED = 10_000


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the provider saw it, recorded before any behaviour (even `reset`) is applied.

    `headers` has lowercase names (a repeated header keeps its last value); `json` is the decoded body when it
    was JSON, `form` the fields when it was form-encoded; `body_size` is the raw body length in bytes; `time`
    is the wall-clock arrival time (`time.time()`).
    """

    method: str
    path: str
    query: str
    headers: dict[str, str]
    json: object | None
    form: dict[str, str] | None
    body_size: int
    time: float

    @property
    def model(self) -> str | None:
        """The `model` field of a JSON body, if any."""
        if isinstance(self.json, dict):
            model = self.json.get("model")
            return model if isinstance(model, str) else None
        return None

    def to_dict(self) -> dict[str, object]:
        """A JSON-serialisable copy (the element format of `GET /_fake/requests`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> RecordedRequest:
        """Inverse of `to_dict`, for clients of `GET /_fake/requests`."""
        return _RECORD_ADAPTER.validate_python(data)


_RECORD_ADAPTER: TypeAdapter[RecordedRequest] = TypeAdapter(RecordedRequest)


class RequestLog:
    """Keeps the last `max_size` requests; older ones are dropped silently."""

    def __init__(self, max_size: int = DEFAULT_MAX_RECORDED) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, got {max_size}")
        self._records: deque[RecordedRequest] = deque(maxlen=max_size)
        self._changed = threading.Condition()

    @property
    def max_size(self) -> int:
        return self._records.maxlen or 0

    def append(self, record: RecordedRequest) -> None:
        """Record one request and wake `wait_for` callers."""
        with self._changed:
            self._records.append(record)
            self._changed.notify_all()

    def snapshot(self) -> list[RecordedRequest]:
        """The recorded requests, oldest first."""
        with self._changed:
            return list(self._records)

    def clear(self) -> None:
        with self._changed:
            self._records.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until at least `count` requests are recorded and return them; raise TimeoutError after
        `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._records) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{len(self._records)} requests recorded after {timeout}s, wanted {count}"
                    )
                self._changed.wait(remaining)
            return list(self._records)
