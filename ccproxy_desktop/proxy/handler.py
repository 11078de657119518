"""The team road: our pipeline inside a stock `litellm --config` proxy, the way upstream ccproxy runs.

For teams who already run LiteLLM's own proxy (its database, Redis, several instances): config.yaml names
`ccproxy_desktop.proxy.handler.proxy_handler_instance` in `litellm_settings.callbacks` (upstream's
`ccproxy.handler` does not load there: stock LiteLLM imports the string itself and there is no `ccproxy`
module); LiteLLM imports this module and calls the instance before and after each request. A thin adapter:
`ProxyApp.admit` decides (rules, route, budgets, user limits, credentials), the ledger records the outcome.
Our own server (`ccproxy start`) does not use this module. Retries and fallbacks there are LiteLLM's own.
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
from .users import authenticated_user

__all__ = ["CCProxyHandler", "proxy_handler_instance"]

log = logging.getLogger(__name__)


def _http_error(reject: Reject) -> HTTPException:
    # LiteLLM's /v1/messages turns an HTTPException into {"type":"error","error":{"type":...,"message":...}}.
    return HTTPException(status_code=reject.status, detail=reject.message, headers=dict(reject.headers))


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
        """Build the app on the proxy's event loop, load credentials and watch the config."""
        try:
            await self.app.start()
        except ConfigInvalid as exc:  # requests will say so
            log.error("config invalid at start-up: %s", exc)

    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: Any
    ) -> Any:
        """Classify and route one request; refuse it with a client error when the pipeline or a budget says so."""
        kind = str(getattr(call_type, "value", call_type))
        if kind not in ROUTED_CALL_TYPES:
            return data
        app = self.app
        if not app.started_on_loop:
            await self.start()
        try:
            if kind in ANTHROPIC_CALL_TYPES:
                validate_anthropic_request(data)
            ctx = context_from_litellm(data, kind)
        except Reject as reject:
            raise _http_error(reject) from None
        try:
            await app.admit(ctx, authenticated_user(user_api_key_dict))
        except Reject as reject:
            raise _http_error(reject) from None
        apply_to_litellm(ctx, data)
        app.remember(ctx)
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
        latency = (time.monotonic() - route.started) * 1000
        model = str(request_data.get("model") or route.routed_model)
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


def _provider_model(kwargs: dict[str, Any]) -> str:
    model = str(kwargs.get("model") or "")
    logged = kwargs.get("standard_logging_object")
    provider = kwargs.get("custom_llm_provider") or (
        logged.get("custom_llm_provider") if isinstance(logged, dict) else None
    )
    if provider and not model.startswith(f"{provider}/"):
        return f"{provider}/{model}"
    return model


proxy_handler_instance = CCProxyHandler()
