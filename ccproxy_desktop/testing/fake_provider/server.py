"""The aiohttp application of the fake provider and its lifecycle on the caller's event loop.

Every request to a model endpoint or the OAuth endpoint is recorded first, then answered according to the
`Scenario`: auth check, next behaviour, latency, then the behaviour itself. The answer is rendered whole and
attached to the request's record (`RecordedRequest.response`) before its first byte is written, so a client
that has read any of it finds the exact bytes in the log. Behaviours that never answer
(`timeout`, `hang_after_headers`) end when the client disconnects (handlers are cancelled on disconnect) or
when the server stops, whichever comes first, so a stopped server leaves no pending handler behind.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import replace

from aiohttp import web
from pydantic import ValidationError

from . import anthropic_format, bedrock_format, ollama_format, vertex_format
from .endpoints import Endpoint, Rendered, endpoints
from .recording import RecordedRequest, RecordedResponse, RequestLog
from .scenario import (
    BEDROCK_PATH,
    COUNT_TOKENS_PATH,
    GEMINI_PATH,
    GOOGLE_TOKEN_PATH,
    OAUTH_TOKEN_PATH,
    VERTEX_PATH,
    Behaviour,
    Scenario,
)

__all__ = ["HOST", "FakeProviderServer"]

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
MAX_REQUEST_BYTES = 64 * 1024 * 1024
SHUTDOWN_TIMEOUT_S = 2.0

_GARBAGE_SSE = (
    b"this line is not server-sent events\n",
    b"event: message_start\ndata: {not json\n\n",
    b"data: \x00\xff garbage\n\n",
)
_GARBAGE_JSON = b'{"this is": not json'

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _presented_tokens(request: web.Request, accepted: str = "any") -> list[str]:
    """Credentials of a request: its `x-api-key`, its `Authorization: Bearer` token, and Gemini's
    `x-goog-api-key` header or `?key=` parameter, when present; only the `x-api-key` or only the Bearer token
    when the scenario accepts only that one (`Scenario.accepted_auth`)."""
    names = {"any": ("x-api-key", "x-goog-api-key"), "x-api-key": ("x-api-key",)}.get(accepted, ())
    tokens = [request.headers[name] for name in names if name in request.headers]
    if accepted == "any" and GEMINI_PATH.match(request.path) and request.query.get("key"):
        tokens.append(request.query["key"])
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if accepted != "x-api-key" and scheme.lower() == "bearer" and credentials.strip():
        tokens.append(credentials.strip())
    return tokens


def _cloud_auth_failure(request: web.Request, scenario: Scenario) -> Behaviour | None:
    """Bedrock's 403 for a request without a well-formed SigV4 signature (or, when the scenario expects a
    token, signed with another access key id); Google's 401 for a Vertex request without a Bearer token the
    fake's token endpoint issued. None otherwise, and for the other paths."""
    if BEDROCK_PATH.match(request.path):
        problem = bedrock_format.signature_problem(request.headers)
        if problem is not None:
            return Behaviour(kind="status", status=403, error_type=problem[0], message=problem[1])
        key = bedrock_format.access_key(request.headers)
        if not scenario.accepts(key):
            message = "The security token included in the request is invalid."
            return Behaviour(
                kind="status", status=403, error_type="UnrecognizedClientException", message=message
            )
        return None
    if VERTEX_PATH.match(request.path):
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not scenario.issued(token.strip()):
            message = vertex_format.UNAUTHENTICATED_MESSAGE
            return Behaviour(kind="status", status=401, error_type="UNAUTHENTICATED", message=message)
    return None


OAUTH_TOKEN_PREFIX = "sk-ant-oat"
OAUTH_BETA = "oauth-2025-04-20"


def _oauth_without_beta(request: web.Request) -> bool:
    """A Claude subscription (OAuth) token on the Messages API without the `oauth-2025-04-20` beta: Anthropic
    refuses those, so a proxy that drops or rewrites `anthropic-beta` fails here as it would there."""
    if not request.path.startswith("/v1/messages"):
        return False
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip().startswith(OAUTH_TOKEN_PREFIX):
        return False
    betas = {
        beta.strip() for value in request.headers.getall("anthropic-beta", []) for beta in value.split(",")
    }
    return OAUTH_BETA not in betas


def _decode_body(content_type: str, raw: bytes) -> tuple[object | None, dict[str, str] | None]:
    """(JSON value, form fields) of a body; each None when the body is not of that kind."""
    if content_type == "application/x-www-form-urlencoded":
        return None, dict(urllib.parse.parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    try:
        return (json.loads(raw) if raw.strip() else None), None
    except ValueError:
        return None, None


def _drop_connection(request: web.Request, response: web.StreamResponse | None = None) -> web.StreamResponse:
    """Close the client connection now (what was already written is flushed first, nothing more is sent).

    aiohttp's attempt to finish the returned response fails with a ConnectionError, which it handles quietly.
    """
    if request.transport is not None:
        request.transport.close()
    return response if response is not None else web.Response(status=204)


class FakeProviderServer:
    """The fake provider's aiohttp app, served on 127.0.0.1 from the event loop that calls `start`."""

    def __init__(self, scenario: Scenario, log: RequestLog) -> None:
        self.scenario = scenario
        self.log = log
        self._endpoints = endpoints(scenario)
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Event | None = None
        self._port: int | None = None
        self._request_numbers = itertools.count(1)

    @property
    def port(self) -> int:
        """The bound port; RuntimeError before `start`."""
        if self._port is None:
            raise RuntimeError("the fake provider is not listening")
        return self._port

    def build_app(self) -> web.Application:
        """The aiohttp application: model and OAuth endpoints, `/_fake/*` control, a recording catch-all."""
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        for path, endpoint in self._endpoints.items():
            app.router.add_post(path, self._handler(endpoint))
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_get("/api/tags", self._list_models)
        app.router.add_post("/api/show", self._show_model)
        app.router.add_get("/_fake/health", self._health)
        app.router.add_get("/_fake/requests", self._get_requests)
        app.router.add_delete("/_fake/requests", self._clear_requests)
        app.router.add_get("/_fake/scenario", self._get_scenario)
        app.router.add_post("/_fake/scenario", self._update_scenario)
        app.router.add_delete("/_fake/scenario", self._reset_scenario)
        app.router.add_route("*", "/{tail:.*}", self._unknown_route)
        return app

    async def start(self, port: int = 0) -> int:
        """Listen on 127.0.0.1:`port` (0: a free port chosen by the OS) and return the bound port.

        Raises OSError when the port is taken."""
        self._closing = asyncio.Event()
        runner = web.AppRunner(
            self.build_app(), handler_cancellation=True, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, HOST, port).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        logger.info("fake provider listening", extra={"port": self._port})
        return self._port

    async def stop(self) -> None:
        """Release hanging requests, close all connections and the listening socket. Idempotent."""
        if self._closing is not None:
            self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._port = None

    # -- model and OAuth endpoints -------------------------------------------------------------------------

    def _handler(self, endpoint: Endpoint) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, endpoint)

        return handle

    async def _serve(self, request: web.Request, endpoint: Endpoint) -> web.StreamResponse:
        if request.path == COUNT_TOKENS_PATH and not self.scenario.count_tokens:
            return await self._unknown_route(request)  # a provider that doesn't implement count_tokens
        record = await self._record(request)
        behaviour = self._behaviour_for(request, record)
        latency_ms = self.scenario.first_byte_delay_ms(behaviour)
        if latency_ms > 0:
            await asyncio.sleep(latency_ms / 1000)
        return await self._act(request, endpoint, record, behaviour)

    async def _record(self, request: web.Request) -> RecordedRequest:
        raw = await request.read()
        json_body, form = _decode_body(request.content_type, raw)
        header_items = tuple((name.lower(), value) for name, value in request.headers.items())
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=request.query_string,
            raw_path=request.rel_url.raw_path,
            headers=dict(header_items),
            json=json_body,
            form=form,
            body_size=len(raw),
            time=time.time(),
            raw=raw,
            header_items=header_items,
            request_id=f"req_fake_{next(self._request_numbers)}",
        )
        self.log.append(record)
        return record

    def _record_response(self, record: RecordedRequest, rendered: Rendered) -> None:
        """Log what is about to be sent for `record`: status, the provider's own headers, every frame."""
        response = RecordedResponse(rendered.status, rendered.all_headers(), b"".join(rendered.frames))
        self.log.record_response(record.request_id, response)

    def _behaviour_for(self, request: web.Request, record: RecordedRequest) -> Behaviour:
        """401 for bad credentials on model paths (the queue is left alone), else the scenario's next one."""
        if request.path == GOOGLE_TOKEN_PATH:
            return self.scenario.next_behaviour(request.path, None)
        cloud = _cloud_auth_failure(request, self.scenario)
        if cloud is not None:
            return cloud
        if BEDROCK_PATH.match(request.path) or VERTEX_PATH.match(request.path):
            return self.scenario.next_behaviour(request.path, record.model)
        if request.path != OAUTH_TOKEN_PATH and not self._authorized(request):
            message = "invalid x-api-key"
            if self.scenario.accepted_auth == "bearer":
                message = "send the key as Authorization: Bearer, with no x-api-key"
            return Behaviour(kind="status", status=401, message=message)
        if _oauth_without_beta(request):
            # What Anthropic answers a Claude subscription token sent without the OAuth beta.
            return Behaviour(
                kind="status", status=401, message="OAuth authentication is currently not supported."
            )
        return self.scenario.next_behaviour(request.path, record.model)

    def _authorized(self, request: web.Request) -> bool:
        accepted = self.scenario.accepted_auth
        if accepted == "bearer" and "x-api-key" in request.headers:
            return False
        tokens = _presented_tokens(request, accepted)
        if not tokens:
            return self.scenario.accepts(None)
        return any(self.scenario.accepts(token) for token in tokens)

    async def _act(
        self, request: web.Request, endpoint: Endpoint, record: RecordedRequest, behaviour: Behaviour
    ) -> web.StreamResponse:
        kind = behaviour.kind
        if kind == "reset":
            return _drop_connection(request)
        if kind == "timeout":
            await self._until_closing()
            return _drop_connection(request)
        if kind == "status":
            rendered = endpoint.render_error(behaviour, record.request_id).with_headers(behaviour.headers)
            return self._respond(record, rendered)
        rendered = endpoint.render_ok(record, behaviour).with_headers(behaviour.headers)
        chunk_delay_ms = (
            self.scenario.chunk_delay_ms if behaviour.chunk_delay_ms is None else behaviour.chunk_delay_ms
        )
        if kind == "hang_after_headers":
            response = await self._send(request, record, replace(rendered, frames=[]), chunk_delay_ms)
            await self._until_closing()
            return _drop_connection(request, response)
        if kind == "cut_stream":
            return await self._send_cut(request, record, rendered, behaviour.cut_after_events, chunk_delay_ms)
        if kind == "malformed_sse":
            garbage = replace(
                rendered, status=200, frames=list(_GARBAGE_SSE) if rendered.streaming else [_GARBAGE_JSON]
            )
            return await self._send(request, record, garbage, chunk_delay_ms)
        if rendered.streaming:
            return await self._send(request, record, rendered, chunk_delay_ms)
        return self._respond(record, rendered)

    def _respond(self, record: RecordedRequest, rendered: Rendered) -> web.Response:
        self._record_response(record, rendered)
        return web.Response(
            status=rendered.status, body=b"".join(rendered.frames), headers=rendered.all_headers()
        )

    async def _send(
        self, request: web.Request, record: RecordedRequest, rendered: Rendered, chunk_delay_ms: float
    ) -> web.StreamResponse:
        """Send headers, then the frames `chunk_delay_ms` apart; stops early if the client leaves."""
        self._record_response(record, rendered)
        response = web.StreamResponse(status=rendered.status, headers=rendered.all_headers())
        await response.prepare(request)
        try:
            for index, frame in enumerate(rendered.frames):
                if index and chunk_delay_ms > 0:
                    await asyncio.sleep(chunk_delay_ms / 1000)
                await response.write(frame)
        except ConnectionError:
            logger.debug("client left mid-stream", extra={"path": request.path})
        return response

    async def _send_cut(
        self,
        request: web.Request,
        record: RecordedRequest,
        rendered: Rendered,
        cut_after: int | None,
        chunk_delay_ms: float,
    ) -> web.StreamResponse:
        """Send part of the answer, then close: `cut_after` SSE frames (default half), or half a JSON body
        that announced its full length."""
        if rendered.streaming:
            count = max(1, len(rendered.frames) // 2) if cut_after is None else cut_after
            response = await self._send(
                request, record, replace(rendered, frames=rendered.frames[:count]), chunk_delay_ms
            )
            return _drop_connection(request, response)
        body = b"".join(rendered.frames)
        self._record_response(record, replace(rendered, frames=[body[: len(body) // 2]]))
        response = web.StreamResponse(status=rendered.status, headers=rendered.all_headers())
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        return _drop_connection(request, response)

    async def _until_closing(self) -> None:
        """Wait until the server stops (a client disconnect cancels the waiting handler instead)."""
        assert self._closing is not None, "handlers run only between start() and stop()"
        await self._closing.wait()

    # -- model discovery -----------------------------------------------------------------------------------

    async def _list_models(self, request: web.Request) -> web.Response:
        """`GET /v1/models` (Anthropic's and OpenAI's list shapes in one body) and Ollama's `GET /api/tags`:
        the scenario's `listed_models`. Recorded; a bad credential gets 401 like the model paths."""
        record = await self._record(request)
        if not self._authorized(request):
            body = anthropic_format.error_body(401, None, "invalid x-api-key", record.request_id)
            return self._respond(record, Rendered(401, [json.dumps(body).encode()]))
        names = self.scenario.listed_models
        if request.path == "/api/tags":
            listing: dict[str, object] = ollama_format.tags_body(names)
        else:
            created = "2026-01-01T00:00:00Z"
            rows = [
                {"type": "model", "id": name, "display_name": name, "created_at": created}
                | {"object": "model", "created": 1767225600, "owned_by": "fake-provider"}
                for name in names
            ]
            listing = {
                "object": "list",
                "data": rows,
                "has_more": False,
                "first_id": names[0] if names else None,
                "last_id": names[-1] if names else None,
            }
        return self._respond(record, Rendered(200, [json.dumps(listing).encode()]))

    async def _show_model(self, request: web.Request) -> web.Response:
        """Ollama's `POST /api/show {"model": NAME}`: the model's details (any model, as /api/chat answers
        any); 400 without a name."""
        record = await self._record(request)
        body = record.json if isinstance(record.json, dict) else {}
        name = body.get("model") or body.get("name")
        if not isinstance(name, str) or not name:
            error = ollama_format.error_body(400, None, "model is required")
            return self._respond(record, Rendered(400, [json.dumps(error).encode()]))
        return self._respond(record, Rendered(200, [json.dumps(ollama_format.show_body(name)).encode()]))

    # -- control endpoints ---------------------------------------------------------------------------------

    async def _health(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _get_requests(self, _request: web.Request) -> web.Response:
        return web.json_response({"requests": [record.to_dict() for record in self.log.snapshot()]})

    async def _clear_requests(self, _request: web.Request) -> web.Response:
        self.log.clear()
        return web.json_response({"requests": []})

    async def _get_scenario(self, _request: web.Request) -> web.Response:
        return web.json_response(self.scenario.to_dict())

    async def _update_scenario(self, request: web.Request) -> web.Response:
        try:
            self.scenario.apply(await request.json())
        except (ValidationError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(self.scenario.to_dict())

    async def _reset_scenario(self, _request: web.Request) -> web.Response:
        self.scenario.reset()
        return web.json_response(self.scenario.to_dict())

    async def _unknown_route(self, request: web.Request) -> web.Response:
        """Record the request (so tests can see what a client called) and answer an Anthropic-style 404."""
        record = await self._record(request)
        message = f"fake provider has no route {request.method} {request.path}"
        body = anthropic_format.error_body(404, None, message, record.request_id)
        return self._respond(record, Rendered(404, [json.dumps(body).encode()]))
