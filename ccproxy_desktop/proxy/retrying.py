"""An ASGI layer between our guard and LiteLLM's app that retries failed model requests.

Each try replays the request through LiteLLM (so our pipeline, budgets and ledger see every try). An error
response LiteLLM produced for a retryable status is held back, the layer waits (`RetryPolicy.delay`) and
tries again; after the last try it sends the request once to `retry_fallback_model`. Once a response has
started reaching the client nothing is retried: a stream that breaks after that ends with an Anthropic
`event: error` (LiteLLM writes one for a dropped upstream; this layer adds one if a stream ends without it).

LiteLLM's own router retries are switched off (`num_retries: 0` in the effective config) so that only the
delays configured here apply. See docs/architecture.md, "Retries and fallbacks".
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from collections.abc import Awaitable, Callable

from .guard import ASGIApp, Message, Receive, Scope, Send, replay_body
from .retry import Attempt, RetryPolicy, Step

__all__ = ["RETRY_PATHS", "RetryingApp", "current_attempt"]

log = logging.getLogger(__name__)

RETRY_PATHS = frozenset({"/v1/messages", "/v1/chat/completions", "/chat/completions", "/v1/responses"})
ANTHROPIC_STREAM_PATH = "/v1/messages"
STREAM_ENDS = (b"event: message_stop", b"event: error")
STREAM_BROKEN_MESSAGE = "the provider's stream ended before the message was complete; send the request again"

_CURRENT: contextvars.ContextVar[Attempt | None] = contextvars.ContextVar("ccproxy_attempt", default=None)


def current_attempt() -> Attempt | None:
    """The try of the request being handled on this task (None outside the retry layer)."""
    return _CURRENT.get()


def stream_error_frame(message: str) -> bytes:
    data = {"type": "error", "error": {"type": "api_error", "message": message}}
    return b"event: error\ndata: " + json.dumps(data).encode() + b"\n\n"


class RetryingApp:
    """Wraps `app`; `policy` returns the retry settings in force now (None: no retries)."""

    def __init__(
        self,
        app: ASGIApp,
        policy: Callable[[], RetryPolicy | None],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.app = app
        self.policy = policy
        self.sleep = sleep

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") not in RETRY_PATHS:
            await self.app(scope, receive, send)
            return
        policy = self.policy()
        body = await _read_body(receive)
        if body is None:
            return
        attempt = Attempt(policy or RetryPolicy(enabled=False))
        stream_checked = scope.get("path") == ANTHROPIC_STREAM_PATH
        while True:
            sender = _AttemptSend(send, attempt, stream_checked)
            token = _CURRENT.set(attempt)
            try:
                await self.app(scope, replay_body(body, receive), sender)
            except Exception:
                if not sender.streaming:
                    raise
                log.exception("stream of a model request failed after it started")
            finally:
                _CURRENT.reset(token)
            await sender.finish()
            if sender.step is None:
                return
            wait = attempt.wait_before(sender.step)
            log.info(
                "request to %s failed with %s; %s in %.2f s",
                attempt.routed_model or "?",
                sender.status,
                "falling back to " + str(attempt.policy.fallback_model)
                if sender.step is Step.FALLBACK
                else f"retry {attempt.number + 1} of {attempt.policy.max_attempts - 1}",
                wait,
            )
            if not await self._wait_for_client(receive, wait):
                log.info("the client left during the wait; not sending the request again")
                return
            attempt = attempt.following(sender.step)

    async def _wait_for_client(self, receive: Receive, seconds: float) -> bool:
        """Wait `seconds`; False as soon as the client disconnects (nobody would read the answer)."""
        pause = asyncio.ensure_future(self.sleep(seconds))
        listen = asyncio.ensure_future(receive())
        try:
            done, _ = await asyncio.wait({pause, listen}, return_when=asyncio.FIRST_COMPLETED)
            if listen in done and listen.result().get("type") == "http.disconnect":
                return False
            await pause
            return True
        finally:
            for task in (pause, listen):
                task.cancel()


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _is_ours(start: Message) -> bool:
    """An error our own pipeline raised (a refusal, a budget): never retried."""
    return any(k.lower() == b"x-ccproxy-error-type" for k, _ in start.get("headers", []))


def _is_sse(start: Message) -> bool:
    return any(
        k.lower() == b"content-type" and v.startswith(b"text/event-stream")
        for k, v in start.get("headers", [])
    )


class _AttemptSend:
    """The `send` of one try: passes a response through, or swallows an error response the layer will
    retry (`step` says how). A successful Anthropic stream that ends without `message_stop` or an error
    event gets a terminating `event: error`."""

    def __init__(self, send: Send, attempt: Attempt, stream_checked: bool) -> None:
        self.send = send
        self.attempt = attempt
        self.stream_checked = stream_checked
        self.status: int | None = None
        self.step: Step | None = None
        self.streaming = False
        self.ended = False
        self._before = b""
        self._last = b""

    async def __call__(self, message: Message) -> None:
        if self.streaming and message["type"] == "http.response.body":  # the hot path: one SSE chunk
            chunk = message.get("body", b"")
            if chunk:  # the last event decides how the stream ended: keep the last two chunks
                self._before, self._last = self._last, chunk
            if message.get("more_body", False):
                await self.send(message)
                return
            if chunk:
                await self.send({"type": "http.response.body", "body": chunk, "more_body": True})
            await self._end()
            return
        if message["type"] == "http.response.start":
            self.status = int(message.get("status", 200))
            step = Step.GIVE_UP if _is_ours(message) else self.attempt.next_step(self.status)
            if step is not Step.GIVE_UP:
                self.step = step
                return
            self.attempt.committed = True
            self.streaming = self.stream_checked and self.status < 400 and _is_sse(message)
        elif self.step is not None:
            return  # the body of an error we retry
        await self.send(message)

    async def _end(self) -> None:
        if self.ended:
            return
        self.ended = True
        ending = self._before + self._last
        if not any(end in ending for end in STREAM_ENDS):
            log.warning("a model stream ended without message_stop; sent the client an error event")
            await self.send(
                {
                    "type": "http.response.body",
                    "body": stream_error_frame(STREAM_BROKEN_MESSAGE),
                    "more_body": True,
                }
            )
        await self.send({"type": "http.response.body", "body": b"", "more_body": False})

    async def finish(self) -> None:
        """After the app returned (or raised): close a stream it left open."""
        if self.streaming:
            await self._end()
