"""Our LiteLLM callback: runs the pipeline before each request and records the outcome after it.

LiteLLM loads callbacks by import path from config.yaml, so this module exposes one instance,
`proxy_handler_instance`. It is a thin adapter: all decisions live in the pipeline (`ProxyApp`).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger

from ..config.loader import ConfigInvalid
from ..config.paths import ConfigPaths
from ..ledger.budgets import BudgetStatus
from ..ledger.records import TokenUsage
from ..pipeline.context import Reject
from .adapter import (
    ANTHROPIC_CALL_TYPES,
    ROUTED_CALL_TYPES,
    apply_to_litellm,
    context_from_litellm,
    validate_anthropic_request,
)
from .app import LiteLLMCatalog, LiteLLMModels, ProxyApp
from .logs import set_debug
from .retry import RetryPolicy, parse_retry_after
from .retrying import current_attempt
from .sse_check import MalformedStream, checked_stream
from .usage import timings_ms, usage_from_litellm
from .users import authenticated_user

__all__ = ["CCProxyHandler", "proxy_handler_instance"]

log = logging.getLogger(__name__)

_ERROR_HEADERS_KEPT = 1000  # refusals whose response is still being written; far more than are in flight


def _http_error(reject: Reject) -> HTTPException:
    # LiteLLM's /v1/messages turns an HTTPException into {"type":"error","error":{"type":...,"message":...}}
    # choosing the type from the status; our ASGI guard restores `reject.error_type` when they differ.
    headers = {**reject.headers, "x-ccproxy-error-type": reject.error_type}
    attempt = current_attempt()
    if attempt is not None:  # our refusal is the answer: the retry layer must not send it again
        attempt.refused = True
    return HTTPException(status_code=reject.status, detail=reject.message, headers=headers)


class CCProxyHandler(CustomLogger):  # type: ignore[misc]  # LiteLLM is not type-checked here
    """The LiteLLM side of ccproxy-desktop. `app` is built on first use from `CCPROXY_CONFIG_DIR`."""

    def __init__(self, app: ProxyApp | None = None) -> None:
        super().__init__()
        self._app = app
        self._error_headers: OrderedDict[str, dict[str, str]] = OrderedDict()

    @property
    def app(self) -> ProxyApp:
        if self._app is None:
            self._app = ProxyApp(ConfigPaths.from_env(), catalog=LiteLLMCatalog(), models=LiteLLMModels())
            set_debug(self._app.settings.ccproxy.debug)
            for warning in self._app.warnings:
                log.warning("config: %s", warning)
        return self._app

    async def start(self) -> None:
        """Called on the server's event loop before it serves: build the app, load credentials, watch the
        config."""
        try:
            await self.app.start()
            if self.app.response_store is not None:
                from ..cache.litellm_cache import install

                install(self.app.response_store)
        except ConfigInvalid as exc:  # changed between the server's check and now: requests will say so
            log.error("config invalid at start-up: %s", exc)

    async def unauthorized(self, request_id: str) -> bool:
        """The guard's hook for a 401 from the provider: refresh our token once if this request used one."""
        return await self.app.unauthorized(request_id) if self._app is not None else False

    def retry_policy(self) -> RetryPolicy | None:
        """The retry settings in force now; None before the app is built (no retries then)."""
        return self._app.retry_policy() if self._app is not None else None

    def is_user_key(self, key: str) -> bool:
        """The guard's check for a key that isn't the master key: a configured user's key?"""
        return self._app is not None and self._app.users.identify(key) is not None

    def error_headers(self, call_id: str) -> dict[str, str]:
        """The guard's hook for an error response: headers of our refusal that LiteLLM's error response leaves
        out (`retry-after`), given once."""
        return self._error_headers.pop(call_id, {})

    def status(self) -> dict[str, Any]:
        """The guard's `GET /ccproxy/status` (see `ProxyApp.status`)."""
        return self.app.status()

    def stop(self) -> None:
        """Called at shutdown: stop watching and flush the ledger."""
        if self._app is not None:
            self._app.close()

    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: Any
    ) -> Any:
        """Classify and route one request; refuse it with a client error when the pipeline or a budget says so."""
        kind = str(getattr(call_type, "value", call_type))
        if kind not in ROUTED_CALL_TYPES:
            return data
        app = self.app
        user = authenticated_user(user_api_key_dict)
        try:
            if kind in ANTHROPIC_CALL_TYPES:
                validate_anthropic_request(data)
            ctx = context_from_litellm(data, kind)
        except Reject as reject:
            raise _http_error(reject) from None
        attempt = current_attempt()
        if attempt is not None:
            ctx.forced_model = attempt.fallback_model
        ctx.user = user or ctx.user
        try:
            await app.pipeline.run(ctx)
        except Reject as reject:
            log.info("refused %s: %s %s", ctx.request_id, reject.status, reject.message)
            app.record_refusal(ctx, f"error:{reject.error_type}")
            raise _http_error(reject) from None
        ctx.user = user or ctx.user  # the key names the user; a hook can't make it someone else
        over = app.accounting.over_budget(ctx.target_model, ctx.user)
        if over is not None:
            app.record_refusal(ctx, "refused")
            raise _http_error(budget_reject(over)) from None
        if attempt is not None:
            _follow_fallback(ctx)
            attempt.routed_model = ctx.target_model
        refusal = None
        if user:  # a retry or fallback try of a request is not another request for the rate limit
            retry = attempt is not None and attempt.number > 0
            check = app.users.check(user, ctx.model, ctx.target_model)
            refusal = check if check is not None or retry else await app.users.admit(user)
        if refusal is not None:
            log.info("refused %s: %s %s", ctx.request_id, refusal.status, refusal.message)
            app.record_refusal(ctx, "refused")
            if refusal.headers:
                self._error_headers[ctx.request_id] = refusal.headers
                while len(self._error_headers) > _ERROR_HEADERS_KEPT:
                    self._error_headers.popitem(last=False)
            raise _http_error(refusal) from None
        apply_to_litellm(ctx, data)
        app.remember(ctx, attempt)
        provider = ctx.notes.get("credential_provider")
        if isinstance(provider, str) and ctx.upstream_api_key:
            app.used_token(ctx.request_id, provider, ctx.upstream_api_key)
        return data

    async def async_post_call_streaming_iterator_hook(
        self, user_api_key_dict: Any, response: Any, request_data: dict[str, Any]
    ) -> AsyncIterator[Any]:
        """Pass a streamed answer on, ending it with an error event if the provider's stream is malformed."""
        relayed = False
        try:
            async for chunk in checked_stream(response):
                yield chunk
                relayed = True
        except MalformedStream as exc:
            self._stream_failed(request_data, exc, relayed)
            raise

    def _stream_failed(self, request_data: dict[str, Any], exc: Exception, relayed: bool) -> None:
        """Record now a stream we ended with an error: LiteLLM logs a relayed stream that we stopped as a
        success (later), which then finds no route left to record. Nothing relayed yet: the client gets a 500,
        which the retry layer may retry; then the last try's row is the request's."""
        call_id = request_data.get("litellm_call_id")
        route = self.app.records.pop(str(call_id)) if call_id else None
        if route is None:
            return
        outcome = f"error:{type(exc).__name__}"
        if not relayed and route.attempt is not None and route.attempt.will_retry(500):
            log.info(
                "try %s of %s failed (%s); retrying", route.attempt.number + 1, route.request_id, outcome
            )
            return
        latency = (time.monotonic() - route.started) * 1000
        model = str(request_data.get("model") or route.routed_model)
        self.app.record_outcome(route, model, TokenUsage(), latency, None, outcome)
        log.warning("stream of %s ended: %s", route.request_id, exc, extra={"request_id": route.request_id})

    async def async_post_call_failure_hook(
        self, request_data: Any, original_exception: Any, user_api_key_dict: Any, traceback_str: Any = None
    ) -> Any:
        """Runs before LiteLLM answers a failed request: tell the retry layer the provider's retry-after."""
        attempt = current_attempt()
        if attempt is not None:
            attempt.retry_after = _retry_after(original_exception)
        return None

    async def async_log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._finish(kwargs, response_obj, start_time, end_time, "ok")

    async def async_log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        exc = kwargs.get("exception") if isinstance(kwargs, dict) else None
        self._finish(kwargs, None, start_time, end_time, f"error:{type(exc).__name__ if exc else 'unknown'}")

    def _finish(self, kwargs: Any, response: Any, start: Any, end: Any, outcome: str) -> None:
        if not isinstance(kwargs, dict):
            return
        call_id = kwargs.get("litellm_call_id")
        route = self.app.records.pop(str(call_id)) if call_id else None
        if route is None:
            return
        if outcome != "ok" and route.attempt is not None and route.attempt.will_retry(_status(kwargs)):
            log.info(
                "try %s of %s failed (%s); retrying", route.attempt.number + 1, route.request_id, outcome
            )
            return
        latency, ttfb = timings_ms(kwargs, start, end)
        cached = kwargs.get("cache_hit") is True  # answered by the response cache: no provider tokens
        usage = TokenUsage() if cached else usage_from_litellm(response)
        record = self.app.record_outcome(
            route, _provider_model(kwargs), usage, latency, ttfb, outcome, cached=cached
        )
        log.info(
            "done %s: %s via %s in %.0f ms, $%s%s",
            record.request_id,
            outcome,
            record.routed_model,
            latency,
            "?" if record.cost_usd is None else f"{record.cost_usd:.6f}",
            " (response cache)" if cached else "",
            extra={"request_id": record.request_id, "outcome": outcome},
        )


def _follow_fallback(ctx: Any) -> None:
    """A fallback try whose pipeline has no router hook to honour `forced_model`: route it here, without the
    credentials the pipeline picked for the other model."""
    if ctx.forced_model and ctx.target_model != ctx.forced_model:
        ctx.routed_model, ctx.route_reason = ctx.forced_model, "fallback"
        ctx.upstream_api_key = None
        ctx.upstream_headers.pop("authorization", None)


def _status(kwargs: dict[str, Any]) -> int | None:
    """The HTTP status LiteLLM answers a failed call with (its exception's `status_code`)."""
    status = getattr(kwargs.get("exception"), "status_code", None)
    return status if isinstance(status, int) else None


def _retry_after(exc: Any) -> float | None:
    """The provider's `retry-after` (seconds) from a LiteLLM exception, if it sent one."""
    response = getattr(exc, "response", None)
    for headers in (getattr(exc, "litellm_response_headers", None), getattr(response, "headers", None)):
        if headers is not None and hasattr(headers, "get"):
            value = parse_retry_after(headers.get("retry-after"))
            if value is not None:
                return value
    return None


def _provider_model(kwargs: dict[str, Any]) -> str:
    model = str(kwargs.get("model") or "")
    logged = kwargs.get("standard_logging_object")
    provider = kwargs.get("custom_llm_provider") or (
        logged.get("custom_llm_provider") if isinstance(logged, dict) else None
    )
    if provider and not model.startswith(f"{provider}/"):
        return f"{provider}/{model}"
    return model


_PERIOD_WORDS = {"day": "today", "week": "this week", "month": "this month", "total": "in total"}


def budget_reject(status: BudgetStatus) -> Reject:
    """The error a client sees for a blocking budget: a 400 like Anthropic's own "credit balance too low",
    which Claude Code shows at once (it retries 429s and 5xx for minutes)."""
    return Reject(
        400,
        "invalid_request_error",
        f"ccproxy budget {status.name!r} reached: spent ${status.spent_usd:.2f} of ${status.limit_usd:.2f} "
        f"{_PERIOD_WORDS.get(status.period, '')}; requests in its scope are refused until the period ends "
        f"or the limit is raised in ccproxy.yaml",
    )


proxy_handler_instance = CCProxyHandler()
