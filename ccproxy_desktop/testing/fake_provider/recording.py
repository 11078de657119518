"""The bounded, thread-safe log of requests the fake provider received, and of the answers it sent."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from dataclasses import dataclass, replace

from pydantic import ConfigDict, TypeAdapter

from .scenario import path_model

__all__ = ["DEFAULT_MAX_RECORDED", "RecordedRequest", "RecordedResponse", "RequestLog"]

DEFAULT_MAX_RECORDED = 10_000

# In the JSON form (`to_dict`, `GET /_fake/requests`) bytes are base64 strings.
_BYTES_AS_BASE64 = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")


@dataclass(frozen=True)
class RecordedResponse:
    """The answer the provider sent to one request, recorded just before its first byte is written.

    `headers` are the ones the provider set itself (lowercase names: content-type, request-id, ratelimit,
    retry-after, a behaviour's `headers`...), not those the HTTP server adds (date, server, content-length,
    transfer-encoding). `body` is every byte of the answer: the JSON body, or all the SSE frames, pings
    included; for `cut_stream` the part sent before the cut, for `hang_after_headers` nothing. A client that
    leaves early receives a prefix of `body`.
    """

    __pydantic_config__ = _BYTES_AS_BASE64

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of `body`, to compare with what a client received."""
        return hashlib.sha256(self.body).hexdigest()


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the provider saw it, recorded before any behaviour (even `reset`) is applied.

    `headers` has lowercase names (a repeated header keeps its last value); `header_items` every header in
    the order received, repeats included (lowercase names too). `raw` is the body exactly as received, `json`
    its decoded value when it was JSON, `form` the fields when it was form-encoded; `body_size` is `len(raw)`;
    `time` is the wall-clock arrival time (`time.time()`). `path` is decoded, `raw_path` as sent (Bedrock's
    Converse URL-encodes the model id, and SigV4 signs that form). `request_id` is the id the provider answers with
    (`req_fake_<n>`, counting from 1 per server). `response` is None until the answer is about to be sent,
    and stays None for behaviours that send nothing (`timeout`, `reset`).
    """

    __pydantic_config__ = _BYTES_AS_BASE64

    method: str
    path: str
    query: str
    headers: dict[str, str]
    json: object | None
    form: dict[str, str] | None
    body_size: int
    time: float
    raw: bytes = b""
    header_items: tuple[tuple[str, str], ...] = ()
    request_id: str = ""
    response: RecordedResponse | None = None
    raw_path: str = ""

    @property
    def model(self) -> str | None:
        """The `model` field of a JSON body, else the model a Gemini, Bedrock or Vertex path names, if any."""
        if isinstance(self.json, dict) and isinstance(self.json.get("model"), str):
            return str(self.json["model"])
        return path_model(self.path)

    def to_dict(self) -> dict[str, object]:
        """A JSON-serialisable copy (the element format of `GET /_fake/requests`); bytes become base64."""
        data: dict[str, object] = _RECORD_ADAPTER.dump_python(self, mode="json")
        return data

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

    def record_response(self, request_id: str, response: RecordedResponse) -> None:
        """Attach `response` to the recorded request `request_id` (nothing if it was dropped or cleared)."""
        with self._changed:
            for index in range(len(self._records) - 1, -1, -1):
                record = self._records[index]
                if record.request_id == request_id:
                    self._records[index] = replace(record, response=response)
                    self._changed.notify_all()
                    return

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
