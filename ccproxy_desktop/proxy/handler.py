"""Our LiteLLM callback: runs the pipeline before each request and records the outcome after it.

LiteLLM loads callbacks by import path from config.yaml, so this module exposes one instance,
`proxy_handler_instance`. It is a thin adapter: all decisions live in the pipeline (`ProxyApp`).
"""

from __future__ import annotations

import logging
import time
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
from .sse_check import MalformedStream, checked_stream
from .usage import timings_ms, usage_from_litellm

__all__ = ["CCProxyHandler", "proxy_handler_instance"]

log = logging.getLogger(__name__)


def _http_error(reject: Reject) -> HTTPException:
    # LiteLLM's /v1/messages turns an HTTPException into {"type":"error","error":{"type":...,"message":...}}
    # choosing the type from the status; our ASGI guard restores `reject.error_type` when they differ.
    headers = {**reject.headers, "x-ccproxy-error-type": reject.error_type}
    return HTTPException(status_code=reject.status, detail=reject.message, headers=headers)


class CCProxyHandler(CustomLogger):  # type: ignore[misc]  # LiteLLM is not type-checked here
    """The LiteLLM side of ccproxy-desktop. `app` is built on first use from `CCPROXY_CONFIG_DIR`."""

    def __init__(self, app: ProxyApp | None = None) -> None:
        super().__init__()
        self._app = app

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
        except ConfigInvalid as exc:  # changed between the server's check and now: requests will say so
            log.error("config invalid at start-up: %s", exc)

    async def unauthorized(self, request_id: str) -> bool:
        """The guard's hook for a 401 from the provider: refresh our token once if this request used one."""
        return await self.app.unauthorized(request_id) if self._app is not None else False

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
        try:
            if kind in ANTHROPIC_CALL_TYPES:
                validate_anthropic_request(data)
            ctx = context_from_litellm(data, kind)
        except Reject as reject:
            raise _http_error(reject) from None
        try:
            await app.pipeline.run(ctx)
        except Reject as reject:
            log.info("refused %s: %s %s", ctx.request_id, reject.status, reject.message)
            app.record_refusal(ctx, f"error:{reject.error_type}")
            raise _http_error(reject) from None
        over = app.accounting.over_budget(ctx.target_model, ctx.user)
        if over is not None:
            app.record_refusal(ctx, "refused")
            raise _http_error(budget_reject(over)) from None
        apply_to_litellm(ctx, data)
        app.remember(ctx)
        provider = ctx.notes.get("credential_provider")
        if isinstance(provider, str) and ctx.upstream_api_key:
            app.used_token(ctx.request_id, provider, ctx.upstream_api_key)
        return data

    async def async_post_call_streaming_iterator_hook(
        self, user_api_key_dict: Any, response: Any, request_data: dict[str, Any]
    ) -> AsyncIterator[Any]:
        """Pass a streamed answer on, ending it with an error event if the provider's stream is malformed."""
        try:
            async for chunk in checked_stream(response):
                yield chunk
        except MalformedStream as exc:
            self._stream_failed(request_data, exc)
            raise

    def _stream_failed(self, request_data: dict[str, Any], exc: Exception) -> None:
        """Record now a stream we ended with an error: LiteLLM logs a relayed stream that we stopped as a
        success (later), which then finds no route left to record."""
        call_id = request_data.get("litellm_call_id")
        route = self.app.records.pop(str(call_id)) if call_id else None
        if route is None:
            return
        latency = (time.monotonic() - route.started) * 1000
        model = str(request_data.get("model") or route.routed_model)
        outcome = f"error:{type(exc).__name__}"
        self.app.record_outcome(route, model, TokenUsage(), latency, None, outcome)
        log.warning("stream of %s ended: %s", route.request_id, exc, extra={"request_id": route.request_id})

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
        latency, ttfb = timings_ms(kwargs, start, end)
        record = self.app.record_outcome(
            route, _provider_model(kwargs), usage_from_litellm(response), latency, ttfb, outcome
        )
        log.info(
            "done %s: %s via %s in %.0f ms, $%s",
            record.request_id,
            outcome,
            record.routed_model,
            latency,
            "?" if record.cost_usd is None else f"{record.cost_usd:.6f}",
            extra={"request_id": record.request_id, "outcome": outcome},
        )


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
