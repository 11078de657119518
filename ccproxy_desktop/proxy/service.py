"""The proxy's HTTP service: the routes we serve, and for each model request its tries.

Behind the `Guard` (which made the request's `Exchange`), a model request goes:
context -> `ProxyApp.admit` (rules, route, budgets, user limits, credentials) -> the response cache ->
the native path (a byte pipe to an Anthropic-format deployment, `native.py`) or the translated path
(LiteLLM as a library, `translated.py`) -> the answer relayed as it arrives -> one ledger row.

Retries happen here, before the first byte reaches the client: a retryable status (429, 500, 502, 503, 529)
or a dropped connection waits (`RetryPolicy`, the provider's `retry-after` first) and tries again, then tries
`retry_fallback_model` once; a 401 for a credential the proxy injected refreshes it once and tries again.
Once the answer has started reaching the client nothing is retried: a stream that breaks ends with an
Anthropic `event: error`. Provider errors that are not retried pass through as the provider sent them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from ..cache.key import request_key
from ..dashboard.app import DashboardApp
from ..ledger.records import TokenUsage
from ..pipeline.context import Reject, RequestContext
from .adapter import context_from_litellm, validate_anthropic_request
from .app import ProxyApp
from .deployments import Deployment
from .errors import (
    ProxyError,
    anthropic_error_body,
    outcome_for_status,
    stream_error_frame,
    translate_exception,
)
from .exchange import Exchange, exchange_of
from .guard import STATUS_PATH, Receive, Scope, Send, send_body
from .native import NativeForwarder, Upstream, UpstreamError, UpstreamTimeout, relayed_response_headers
from .retry import Attempt, RetryPolicy, Step, parse_retry_after
from .sse_check import MalformedStream
from .stream_watch import JsonWatch, StreamWatch
from .translated import caches_by_cached_contents, without_cache_control
from .usage import usage_from_litellm

__all__ = ["REQUEST_ID_HEADER", "ProxyService"]

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = b"x-ccproxy-request-id"
MAX_ERROR_BODY = 1024 * 1024
STREAM_BROKEN = "the provider's stream ended before the message was complete; send the request again"
HEALTH_BODY = b'"I\'m alive!"'
ALIAS_PREFIX = "anthropic/"


@dataclass
class _Failed:
    """A try that failed before anything reached the client: what the client would get if it is the last."""

    error: ProxyError | None = None  # an error of ours
    status: int = 0  # or the provider's own error, passed through
    headers: list[tuple[bytes, bytes]] | None = None
    body: bytes = b""
    retry_after: float | None = None
    unauthorized: bool = False  # the provider refused a credential the proxy injected

    @property
    def code(self) -> int:
        return self.error.status if self.error is not None else self.status

    @property
    def outcome(self) -> str:
        return self.error.outcome if self.error is not None else outcome_for_status(self.status, self.body)


class ProxyService:
    """The ASGI app behind the guard. `is_proxy_key` tells the proxy's own keys (never forwarded)."""

    def __init__(
        self,
        app: ProxyApp,
        is_proxy_key: Callable[[str], bool],
        forwarder: NativeForwarder | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.app = app
        self.is_proxy_key = is_proxy_key
        self.forwarder = forwarder or NativeForwarder()
        self.sleep = sleep
        self.routes: dict[tuple[str, str], Callable[[Exchange, Receive, Send], Awaitable[None]]] = {
            ("POST", "/v1/messages"): self.messages,
            ("POST", "/v1/messages/count_tokens"): self.count_tokens,
            ("POST", "/v1/chat/completions"): self.chat_completions,
            ("POST", "/chat/completions"): self.chat_completions,
            ("GET", "/v1/models"): self.models,
            ("GET", STATUS_PATH): self.status,
        }
        self.dashboard = DashboardApp(app)  # /ccproxy/dashboard/..., called by the Guard (issue 13)

    # -- ASGI ------------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        method, path = scope.get("method", ""), scope.get("path", "")
        if path in ("/health/liveliness", "/health/readiness", "/health/liveness", "/health"):
            await send_body(send, 200, HEALTH_BODY)
            return
        if path == "/api/hello":  # Claude Code's gateway probe (HEAD)
            await send_body(send, 200, b"{}" if method != "HEAD" else b"")
            return
        exchange = exchange_of(scope)
        handler = self.routes.get((method, path))
        if handler is None and method == "GET" and path.startswith("/v1/models/"):
            handler = self.model
        if handler is None:
            known = any(p == path for _, p in self.routes)
            status = 405 if known else 404
            message = f"{method} {path} is not served by this proxy" if not known else f"{method} not allowed"
            await send_body(
                send,
                status,
                anthropic_error_body(status, message, "not_found_error" if status == 404 else None),
            )
            return
        await handler(exchange, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.app.start()
                except Exception as exc:  # the proxy can't serve without its app
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.forwarder.aclose()
                self.app.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- small routes ------------------------------------------------------------------------------------

    async def status(self, exchange: Exchange, receive: Receive, send: Send) -> None:
        if exchange.user is not None:
            await send_body(send, 403, anthropic_error_body(403, "the proxy's status is for its owner's key"))
            return
        await send_body(send, 200, json.dumps(self.app.status()).encode())

    def _model_objects(self) -> list[dict[str, Any]]:
        """Every model_name of config.yaml (wildcards left out), and every Claude model an Anthropic
        deployment serves by its own id. Claude Code's model discovery keeps only ids that contain `claude`
        or `anthropic`: a route named otherwise (`think`, `gpt`) is listed as `anthropic/<name>`, which the
        proxy routes like `<name>`."""
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.app.started))
        deployments = self.app.current.deployments
        seen: dict[str, dict[str, Any]] = {}
        for name in deployments.names():
            if "*" in name:
                continue
            deployment = deployments.pick(name)
            target = deployment.ledger_model if deployment else name
            model_id = name if _discoverable(name) else f"{ALIAS_PREFIX}{name}"
            seen.setdefault(
                model_id,
                {
                    "type": "model",
                    "id": model_id,
                    "display_name": name,
                    "created_at": created,
                    "description": f"ccproxy route {name} -> {target}",
                },
            )
            if deployment is not None and deployment.native and _discoverable(deployment.provider_model):
                own = deployment.provider_model
                if own not in seen and deployments.entries_for(own):
                    seen[own] = {
                        "type": "model",
                        "id": own,
                        "display_name": own,
                        "created_at": created,
                        "description": f"served by ccproxy ({target})",
                    }
        return list(seen.values())

    async def models(self, exchange: Exchange, receive: Receive, send: Send) -> None:
        """Anthropic's model list (Claude Code's gateway model discovery): every model_name of config.yaml
        (wildcard entries left out), in one page."""
        data = self._model_objects()
        page = {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
        await send_body(send, 200, json.dumps(page).encode())

    async def model(self, exchange: Exchange, receive: Receive, send: Send) -> None:
        wanted = exchange.path.removeprefix("/v1/models/")
        found = next((m for m in self._model_objects() if m["id"] == wanted), None)
        if found is None:
            await send_body(
                send, 404, anthropic_error_body(404, f"model: {wanted} is not served by this proxy")
            )
            return
        await send_body(send, 200, json.dumps(found).encode())

    # -- model requests --------------------------------------------------------------------------------

    def _context(self, exchange: Exchange, call_type: str) -> RequestContext:
        assert exchange.body is not None
        data = {
            **exchange.body.data,
            "litellm_call_id": exchange.request_id,
            "proxy_server_request": {"headers": exchange.header_map()},
        }
        anthropic_shape = call_type in ("anthropic_messages", "count_tokens")
        ctx = context_from_litellm(data, "anthropic_messages" if anthropic_shape else call_type)
        ctx.call_type = call_type
        if ctx.model.startswith(ALIAS_PREFIX):  # a route as model discovery lists it
            name = ctx.model.removeprefix(ALIAS_PREFIX)
            deployments = self.app.current.deployments
            # Unless the whole name is served itself (`anthropic/claude-sonnet-4-6` of `provider add`).
            if not deployments.serves_exactly(ctx.model) and deployments.entries_for(name):
                ctx.model = name
        return ctx

    async def _refuse(
        self, exchange: Exchange, send: Send, reject: Reject | ProxyError, openai: bool = False
    ) -> None:
        status, message = reject.status, reject.message
        error_type = reject.error_type
        body = (
            _openai_error(status, message, error_type)
            if openai
            else anthropic_error_body(status, message, error_type)
        )
        headers = [(k.encode(), v.encode()) for k, v in reject.headers.items()]
        headers.append((REQUEST_ID_HEADER, exchange.request_id.encode()))
        await send_body(send, status, body, headers)

    async def messages(self, exchange: Exchange, receive: Receive, send: Send) -> None:
        await self._model_request(exchange, receive, send, "anthropic_messages")

    async def count_tokens(self, exchange: Exchange, receive: Receive, send: Send) -> None:
        await self._model_request(exchange, receive, send, "count_tokens")

    async def chat_completions(self, exchange: Exchange, receive: Receive, send: Send) -> None:
        await self._model_request(exchange, receive, send, "acompletion")

    async def _model_request(self, exchange: Exchange, receive: Receive, send: Send, call_type: str) -> None:
        assert exchange.body is not None
        anthropic = call_type != "acompletion"
        if anthropic:
            try:
                if call_type == "count_tokens":
                    _validate_count_tokens(exchange.body.data)
                else:
                    validate_anthropic_request(exchange.body.data)
            except Reject as reject:
                await self._refuse(exchange, send, reject)
                return
        watcher = asyncio.ensure_future(_watch_disconnect(receive, exchange))
        try:
            await self._tries(exchange, send, call_type)
        finally:
            watcher.cancel()

    async def _tries(self, exchange: Exchange, send: Send, call_type: str) -> None:
        anthropic = call_type != "acompletion"
        policy = self.app.retry_policy() if call_type != "count_tokens" else RetryPolicy(enabled=False)
        attempt = Attempt(policy, client_retries=_is_claude_code(exchange))
        refreshed = False
        while True:
            ctx = self._context(exchange, call_type)
            try:
                await self.app.admit(ctx, exchange.user, attempt)
            except Reject as reject:
                await self._refuse(exchange, send, reject, openai=not anthropic)
                return
            exchange.ctx = ctx
            self.app.log_route(ctx)
            failed = await self._try(exchange, ctx, call_type, send, attempt)
            if failed is None:
                return
            if failed.unauthorized and not refreshed and exchange.credential is not None:
                refreshed = True
                provider, token = exchange.credential
                if await self.app.credentials.on_unauthorized(provider, token):
                    log.info(
                        "provider refused the credential of %s; refreshed, sending again", exchange.request_id
                    )
                    continue
            attempt.retry_after = failed.retry_after
            step = attempt.next_step(failed.code)
            if step is Step.GIVE_UP:
                await self._answer_failure(exchange, ctx, attempt, failed, send, openai=not anthropic)
                return
            wait = attempt.wait_before(step)
            log.info(
                "request %s to %s failed with %s; %s in %.2f s",
                exchange.request_id,
                attempt.routed_model or "?",
                failed.code,
                f"falling back to {attempt.policy.fallback_model}"
                if step is Step.FALLBACK
                else f"retry {attempt.number + 1} of {attempt.policy.max_attempts - 1}",
                wait,
            )
            if not await self._wait_for_client(exchange, wait):
                log.info("the client left during the wait; not sending %s again", exchange.request_id)
                return
            attempt = attempt.following(step)

    async def _wait_for_client(self, exchange: Exchange, seconds: float) -> bool:
        """Wait `seconds`; False as soon as the client disconnects (nobody would read the answer)."""
        pause = asyncio.ensure_future(self.sleep(seconds))
        left = asyncio.ensure_future(exchange.disconnected.wait())
        try:
            await asyncio.wait({pause, left}, return_when=asyncio.FIRST_COMPLETED)
            return not exchange.disconnected.is_set()
        finally:
            for task in (pause, left):
                task.cancel()

    async def _answer_failure(
        self,
        exchange: Exchange,
        ctx: RequestContext,
        attempt: Attempt,
        failed: _Failed,
        send: Send,
        openai: bool,
    ) -> None:
        """The last try failed before anything reached the client: pass the provider's error through as it
        came, or answer ours; record the request."""
        if failed.error is not None:
            await self._refuse(exchange, send, failed.error, openai=openai)
        else:
            headers = [*(failed.headers or []), (REQUEST_ID_HEADER, exchange.request_id.encode())]
            await send({"type": "http.response.start", "status": failed.status, "headers": headers})
            await send({"type": "http.response.body", "body": failed.body})
        exchange.status = failed.code
        self._record(exchange, ctx, attempt, TokenUsage(), failed.outcome)

    def _record(
        self,
        exchange: Exchange,
        ctx: RequestContext,
        attempt: Attempt,
        usage: TokenUsage,
        outcome: str,
        cached: bool = False,
    ) -> None:
        if ctx.call_type == "count_tokens":
            return  # not a model call: no tokens used, no ledger row
        deployment = exchange.deployment
        record = self.app.record_request(
            ctx,
            attempt,
            provider_model=exchange.provider_model or (deployment.ledger_model if deployment else ""),
            usage=usage,
            latency_ms=exchange.elapsed_ms(),
            ttfb_ms=exchange.ttfb_ms,
            outcome=outcome,
            cached=cached,
        )
        log.info(
            "done %s: %s via %s in %.0f ms, $%s%s",
            record.request_id,
            outcome,
            record.routed_model,
            record.latency_ms,
            "?" if record.cost_usd is None else f"{record.cost_usd:.6f}",
            " (response cache)" if cached else "",
            extra={"request_id": record.request_id, "outcome": outcome},
        )

    async def _try(
        self, exchange: Exchange, ctx: RequestContext, call_type: str, send: Send, attempt_state: Attempt
    ) -> _Failed | None:
        """One try. None when the client got its answer (success, or an error after the first byte)."""
        generation = self.app.current
        deployment = generation.deployments.pick(ctx.target_model)
        if deployment is None:
            return _Failed(
                error=ProxyError(
                    404, f"model: {ctx.target_model} is not served by this proxy", "not_found_error"
                )
            )
        if deployment.keyring_credential is not None:  # `api_key: keyring/NAME` (ccproxy provider add)
            stored = self.app.credentials.token_for(deployment.keyring_credential)
            if stored is None:
                return _Failed(error=_no_stored_key(deployment.keyring_credential))
            deployment = replace(deployment, api_key=stored)
        exchange.deployment = deployment
        exchange.provider_model = deployment.ledger_model
        exchange.credential = None
        exchange.cache_key = None
        cacheable = call_type == "anthropic_messages" and self.app.response_store is not None
        if cacheable and await self._replay_cached(exchange, ctx, send, attempt_state):
            return None
        if generation.deployments.is_native(ctx.target_model):
            return await self._native(exchange, ctx, deployment, send, attempt_state)
        if call_type == "count_tokens":
            await self._estimate_tokens(exchange, ctx, send)
            return None
        return await self._translated(exchange, ctx, call_type, send, attempt_state)

    # -- native path -----------------------------------------------------------------------------------

    async def _native(
        self, exchange: Exchange, ctx: RequestContext, deployment: Deployment, send: Send, attempt: Attempt
    ) -> _Failed | None:
        try:
            response, credential = await self.forwarder.open(exchange, ctx, deployment, self.is_proxy_key)
        except UpstreamTimeout as exc:
            return _Failed(error=_timeout(deployment, exc))
        except UpstreamError as exc:
            return _Failed(error=_unreachable(deployment, exc))
        if credential is not None and ctx.upstream_api_key == credential:
            provider = ctx.credential_provider or deployment.provider
            exchange.credential = (provider, credential)
        self.app.subscription.observe(ctx, response.raw_headers)  # subscription limits (issue 12)
        try:
            if _count_tokens_missing(ctx, deployment, response.status):
                with contextlib.suppress(UpstreamError):
                    await response.read(MAX_ERROR_BODY)  # so the connection goes back to the pool
                log.info(
                    "%s has no count_tokens (HTTP %s): answering %s with the local count",
                    deployment.api_base,
                    response.status,
                    exchange.request_id,
                )
                await self._estimate_tokens(exchange, ctx, send)
                return None
            if response.status >= 400:
                return await self._provider_error(exchange, response)
            content_type = response.header("content-type") or ""
            if content_type.startswith("text/event-stream"):
                return await self._relay_stream(exchange, ctx, attempt, response, send)
            return await self._relay_whole(exchange, ctx, attempt, response, send)
        finally:
            response.close()

    async def _provider_error(self, exchange: Exchange, response: Upstream) -> _Failed:
        try:
            body = await response.read(MAX_ERROR_BODY)
        except UpstreamError as exc:
            assert exchange.deployment is not None
            return _Failed(error=_unreachable(exchange.deployment, exc))
        return _Failed(
            status=response.status,
            headers=relayed_response_headers(response.raw_headers),
            body=body,
            retry_after=parse_retry_after(response.header("retry-after")),
            unauthorized=response.status == 401 and exchange.credential is not None,
        )

    async def _relay_whole(
        self, exchange: Exchange, ctx: RequestContext, attempt: Attempt, response: Upstream, send: Send
    ) -> _Failed | None:
        """A JSON answer: read whole (so a cut answer is still a clean, retryable error), then relayed."""
        assert exchange.deployment is not None
        try:
            body = await response.read()
        except UpstreamTimeout as exc:
            return _Failed(error=_timeout(exchange.deployment, exc))
        except UpstreamError as exc:
            return _Failed(error=_unreachable(exchange.deployment, exc))
        watch = JsonWatch(response.header("content-encoding"))
        watch.feed(body)
        parsed = watch.parsed()
        if parsed is None and not watch.unreadable and "json" in (response.header("content-type") or "json"):
            return _Failed(
                error=ProxyError(
                    502, "the provider sent a malformed JSON answer", "api_error", "error:MalformedResponse"
                )
            )
        exchange.first_byte()
        headers = [
            *relayed_response_headers(response.raw_headers),
            (REQUEST_ID_HEADER, exchange.request_id.encode()),
        ]
        attempt.committed = True
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        exchange.responded = True
        if ctx.call_type == "count_tokens":
            return None
        self._record(exchange, ctx, attempt, watch.token_usage(), "ok")
        if isinstance(parsed, dict) and response.status == 200:
            await self._store_cached(exchange, ctx, False, body)
        return None

    async def _relay_stream(
        self, exchange: Exchange, ctx: RequestContext, attempt: Attempt, response: Upstream, send: Send
    ) -> _Failed | None:
        """Server-sent events: each chunk checked (`StreamWatch`) and relayed as it arrives."""
        assert exchange.deployment is not None
        deployment = exchange.deployment
        watch = StreamWatch(content_encoding=response.header("content-encoding"))
        chunks = response.chunks()
        keep: list[bytes] | None = [] if self.app.response_store is not None else None
        try:
            first = await _first_chunk(chunks)
            watch.feed(first)
        except MalformedStream as exc:
            return _Failed(error=ProxyError(500, str(exc), "api_error", "error:MalformedStream"))
        except UpstreamTimeout as exc:
            return _Failed(error=_timeout(deployment, exc))
        except UpstreamError as exc:
            return _Failed(error=_unreachable(deployment, exc))
        headers = [
            *relayed_response_headers(response.raw_headers),
            (REQUEST_ID_HEADER, exchange.request_id.encode()),
        ]
        attempt.committed = True
        exchange.first_byte()
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        exchange.responded = True
        outcome = "ok"
        ending = b""
        try:
            if first:
                await send({"type": "http.response.body", "body": first, "more_body": True})
                if keep is not None:
                    keep.append(first)
            async for chunk in chunks:
                if exchange.disconnected.is_set():
                    raise ClientLeft
                watch.feed(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if keep is not None:
                    keep.append(chunk)
        except ClientLeft:
            outcome = "error:ClientDisconnected"  # the upstream stream is closed: no more tokens billed
        except MalformedStream as exc:
            outcome, ending = "error:MalformedStream", stream_error_frame(str(exc))
        except UpstreamTimeout:
            outcome = "error:Timeout"
            ending = stream_error_frame(
                f"the provider went silent for {deployment.timeout:.0f} s; send the request again"
            )
        except UpstreamError as exc:
            outcome = "error:APIConnectionError"
            ending = stream_error_frame(f"{STREAM_BROKEN} ({type(exc).__name__})")
        if outcome == "ok" and watch.error is not None:
            outcome = f"error:{_stream_error_outcome(watch.error)}"
        elif outcome == "ok" and not watch.completed:
            outcome, ending = "error:IncompleteStream", stream_error_frame(STREAM_BROKEN)
        if ending:
            log.warning(
                "stream of %s ended: %s",
                exchange.request_id,
                outcome,
                extra={"request_id": exchange.request_id},
            )
        await send({"type": "http.response.body", "body": ending, "more_body": False})
        if watch.model:
            exchange.provider_model = (
                f"{deployment.provider}/{watch.model}" if deployment.provider else watch.model
            )
        self._record(exchange, ctx, attempt, watch.token_usage(), outcome)
        if outcome == "ok" and keep is not None:
            await self._store_cached(exchange, ctx, True, b"".join(keep))
        return None

    # -- translated path -------------------------------------------------------------------------------

    async def _translated(
        self, exchange: Exchange, ctx: RequestContext, call_type: str, send: Send, attempt: Attempt
    ) -> _Failed | None:
        assert exchange.body is not None
        translator = self.app.current.translator
        data = dict(exchange.body.data)
        if call_type == "anthropic_messages" and ctx.system is not None:
            data["system"] = ctx.system
        deployment = exchange.deployment
        if deployment is not None and caches_by_cached_contents(
            deployment.provider, deployment.provider_model
        ):
            data = without_cache_control(data)  # Gemini caches implicitly; see `without_cache_control`
        extra: dict[str, Any] = {}
        if ctx.upstream_headers:
            extra["extra_headers"] = dict(ctx.upstream_headers)
        if ctx.upstream_api_key:
            extra["api_key"] = ctx.upstream_api_key
        elif exchange.deployment is not None and exchange.deployment.keyring_credential is not None:
            extra["api_key"] = exchange.deployment.api_key
        openai = call_type == "acompletion"
        try:
            if openai:
                result = await translator.completion(ctx.target_model, data, extra)
            else:
                result = await translator.messages(ctx.target_model, data, extra)
        except Exception as exc:  # LiteLLM's exceptions: the error Anthropic would give
            return _Failed(error=await self._translated_error(ctx, exc))
        if _is_stream(result):
            return await self._translated_stream(exchange, ctx, attempt, result, send, openai)
        if isinstance(result, dict):
            result = {k: v for k, v in result.items() if k != "_hidden_params"}  # LiteLLM's internals
        body = _dump(result)
        exchange.first_byte()
        attempt.committed = True
        headers = [(REQUEST_ID_HEADER, exchange.request_id.encode())]
        await send_body(send, 200, body, headers)
        exchange.responded = True
        parsed = json.loads(body)
        model = parsed.get("model") if isinstance(parsed, dict) else None
        if isinstance(model, str) and exchange.deployment is not None and exchange.deployment.provider:
            exchange.provider_model = f"{exchange.deployment.provider}/{model}"
        self._record(exchange, ctx, attempt, usage_from_litellm(parsed), "ok")
        if not openai and isinstance(parsed, dict):
            await self._store_cached(exchange, ctx, False, body)
        return None

    async def _translated_error(self, ctx: RequestContext, exc: BaseException) -> ProxyError:
        counted = maximum = None
        if type(exc).__name__ == "ContextWindowExceededError":
            maximum = self.app.current.translator.max_input_tokens(ctx.target_model)
            counted = await self.app.token_counter.count_request_async(ctx.system, ctx.tools, ctx.messages)
        error = translate_exception(exc, counted, maximum)
        log.info("translated request %s failed: %s %s", ctx.request_id, error.status, type(exc).__name__)
        return error

    async def _translated_stream(
        self, exchange: Exchange, ctx: RequestContext, attempt: Attempt, result: Any, send: Send, openai: bool
    ) -> _Failed | None:
        iterator = result.__aiter__()
        watch = StreamWatch()
        usage = TokenUsage()
        keep: list[bytes] | None = [] if (self.app.response_store is not None and not openai) else None
        try:
            first = await iterator.__anext__()
        except StopAsyncIteration:
            first = None
        except Exception as exc:
            return _Failed(error=await self._translated_error(ctx, exc))
        attempt.committed = True
        exchange.first_byte()
        content_type = b"text/event-stream"
        headers = [
            (b"content-type", content_type),
            (b"cache-control", b"no-cache"),
            (REQUEST_ID_HEADER, exchange.request_id.encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        exchange.responded = True
        outcome, ending = "ok", b""
        try:
            chunk: Any = first
            while chunk is not None:
                if openai:
                    data = _dump(chunk)
                    found = usage_from_litellm(json.loads(data))
                    if found != TokenUsage():
                        usage = found
                    frame = b"data: " + data + b"\n\n"
                else:
                    frame = sse_frame(chunk)
                    watch.feed(frame)
                    if keep is not None:
                        keep.append(frame)
                await send({"type": "http.response.body", "body": frame, "more_body": True})
                if exchange.disconnected.is_set():
                    raise ClientLeft
                try:
                    chunk = await iterator.__anext__()
                except StopAsyncIteration:
                    chunk = None
        except ClientLeft:
            outcome = "error:ClientDisconnected"
            await _close(iterator)
        except MalformedStream as exc:
            outcome, ending = "error:MalformedStream", stream_error_frame(str(exc))
        except Exception as exc:  # LiteLLM failed mid-stream
            error = translate_exception(exc)
            outcome = error.outcome
            ending = (
                stream_error_frame(error.message, error.error_type)
                if not openai
                else _openai_stream_error(error)
            )
        if openai:
            ending = ending or b"data: [DONE]\n\n"
        else:
            if outcome == "ok" and watch.error is not None:
                outcome = f"error:{_stream_error_outcome(watch.error)}"
            elif outcome == "ok" and not watch.completed:
                outcome, ending = "error:IncompleteStream", stream_error_frame(STREAM_BROKEN)
            usage = watch.token_usage()
        await send({"type": "http.response.body", "body": ending, "more_body": False})
        self._record(exchange, ctx, attempt, usage, outcome)
        if outcome == "ok" and keep is not None:
            await self._store_cached(exchange, ctx, True, b"".join(keep))
        return None

    async def _estimate_tokens(self, exchange: Exchange, ctx: RequestContext, send: Send) -> None:
        """count_tokens for a translated route, or a native one whose provider doesn't implement it: our
        estimate (cl100k), so `/context` and compaction work."""
        counted = await self.app.token_counter.count_request_async(ctx.system, ctx.tools, ctx.messages)
        body = json.dumps({"input_tokens": counted}).encode()
        await send_body(send, 200, body, [(REQUEST_ID_HEADER, exchange.request_id.encode())])

    # -- response cache --------------------------------------------------------------------------------

    def _cache_key(self, exchange: Exchange, ctx: RequestContext) -> str:
        assert exchange.body is not None
        beta = sorted(v.decode("latin-1") for k, v in exchange.headers if k.lower() == b"anthropic-beta")
        request = {**exchange.body.data, "anthropic_beta": beta or None}
        if ctx.system is not None:
            request["system"] = ctx.system
        return request_key(ctx.target_model, request, [k for k in request if k != "model"])

    async def _replay_cached(
        self, exchange: Exchange, ctx: RequestContext, send: Send, attempt: Attempt
    ) -> bool:
        store = self.app.response_store
        assert store is not None
        key = exchange.cache_key = self._cache_key(exchange, ctx)
        raw = await asyncio.to_thread(store.get, key)
        entry = _cache_entry(raw)
        if entry is None:
            return False
        stream, body = entry
        exchange.first_byte()
        attempt.committed = True
        content_type = b"text/event-stream" if stream else b"application/json"
        await send_body(send, 200, body, [(REQUEST_ID_HEADER, exchange.request_id.encode())], content_type)
        exchange.responded = True
        exchange.cached = True
        self._record(exchange, ctx, attempt, TokenUsage(), "ok", cached=True)
        return True

    async def _store_cached(self, exchange: Exchange, ctx: RequestContext, stream: bool, body: bytes) -> None:
        store = self.app.response_store
        key = exchange.cache_key
        if store is None or key is None or ctx.call_type != "anthropic_messages":
            return
        value = json.dumps({"v": 2, "stream": stream, "body": body.decode("utf-8", "replace")})
        try:
            await asyncio.to_thread(store.put, key, ctx.target_model, value)
        except Exception as exc:  # a full disk must not fail an answer already sent
            log.warning("response cache: not stored: %s", exc)


# -- helpers ---------------------------------------------------------------------------------------------


def _is_claude_code(exchange: Exchange) -> bool:
    """Claude Code's requests: its user agent (`claude-cli/<version> (...)`) or its `x-app: cli`."""
    agent = exchange.header(b"user-agent") or ""
    return agent.startswith("claude-cli/") or exchange.header(b"x-app") == "cli"


def _discoverable(model_id: str) -> bool:
    lowered = model_id.lower()
    return "claude" in lowered or "anthropic" in lowered


class ClientLeft(Exception):
    """The client disconnected while its answer was being relayed."""


async def _watch_disconnect(receive: Receive, exchange: Exchange) -> None:
    """The one reader of `receive` once the body is read: sets `exchange.disconnected` when the client
    leaves (a retry wait ends at once, a relayed stream is closed upstream)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            exchange.disconnected.set()
            return


async def _close(iterator: Any) -> None:
    closer = getattr(iterator, "aclose", None)
    if closer is not None:
        with contextlib.suppress(Exception):
            await closer()


COUNT_TOKENS_MISSING = frozenset({404, 405, 501})
"""What a provider's Anthropic-compatible endpoint answers a count_tokens it doesn't implement."""


def _count_tokens_missing(ctx: RequestContext, deployment: Deployment, status: int) -> bool:
    """A count_tokens that another provider's Anthropic endpoint (not Anthropic's own API, whose 404 means
    an unknown model) doesn't serve: Claude Code's `/context` and compaction need an answer, so the proxy
    counts locally, as for a translated route."""
    return (
        ctx.call_type == "count_tokens"
        and status in COUNT_TOKENS_MISSING
        and not deployment.takes_client_credentials
    )


def _validate_count_tokens(data: dict[str, Any]) -> None:
    if not isinstance(data.get("model"), str) or not data.get("model"):
        raise Reject(400, "invalid_request_error", "model: Field required")
    if not isinstance(data.get("messages"), list):
        raise Reject(400, "invalid_request_error", "messages: Field required")


def _cache_entry(raw: str | None) -> tuple[bool, bytes] | None:
    if raw is None:
        return None
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(entry, dict) or entry.get("v") != 2 or not isinstance(entry.get("body"), str):
        return None  # an entry of the LiteLLM-era cache: a miss
    return bool(entry.get("stream")), entry["body"].encode("utf-8")


async def _first_chunk(chunks: AsyncIterator[bytes]) -> bytes:
    try:
        return await chunks.__anext__()
    except StopAsyncIteration:
        return b""


def _timeout(deployment: Deployment, exc: Exception) -> ProxyError:
    return ProxyError(
        504,
        f"the provider at {deployment.api_base} did not answer within {deployment.timeout:.0f} s",
        "api_error",
        "error:Timeout",
    )


def _no_stored_key(name: str) -> ProxyError:
    return ProxyError(
        401,
        f"no key for provider {name!r} in the keyring (config.yaml says api_key: keyring/{name}): "
        f"run `ccproxy provider add {name}`",
        "authentication_error",
    )


def _unreachable(deployment: Deployment, exc: Exception) -> ProxyError:
    return ProxyError(
        502,
        f"could not reach the provider at {deployment.api_base}: {type(exc).__name__}: {exc}"[:500],
        "api_error",
        "error:APIConnectionError",
    )


def _stream_error_outcome(error: dict[str, Any]) -> str:
    kind = error.get("type")
    return {"overloaded_error": "OverloadedError", "rate_limit_error": "RateLimitError"}.get(
        str(kind), "APIError"
    )


def _is_stream(result: Any) -> bool:
    return hasattr(result, "__aiter__") and not isinstance(result, (dict, bytes, str))


def _dump(result: Any) -> bytes:
    if isinstance(result, (bytes, bytearray)):
        return bytes(result)
    if isinstance(result, dict):
        return json.dumps(result, default=str).encode()
    dump_json = getattr(result, "model_dump_json", None)
    if callable(dump_json):
        return str(dump_json()).encode()
    return json.dumps(result, default=str).encode()


def sse_frame(chunk: Any) -> bytes:
    """An Anthropic stream chunk from LiteLLM (bytes already framed, or an event dict) as SSE bytes."""
    if isinstance(chunk, (bytes, bytearray)):
        return bytes(chunk)
    if isinstance(chunk, str):
        return chunk.encode()
    data = chunk if isinstance(chunk, dict) else json.loads(_dump(chunk))
    kind = data.get("type", "message") if isinstance(data, dict) else "message"
    return f"event: {kind}\ndata: {json.dumps(data, default=str)}\n\n".encode()


def _openai_error(status: int, message: str, error_type: str) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": error_type, "param": None, "code": str(status)}}
    ).encode()


def _openai_stream_error(error: ProxyError) -> bytes:
    return b"data: " + _openai_error(error.status, error.message, error.error_type) + b"\n\n"
