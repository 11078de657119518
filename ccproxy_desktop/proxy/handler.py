"""Our LiteLLM callback: runs the pipeline before each request and records the outcome after it.

LiteLLM loads callbacks by import path from config.yaml, so this module exposes one instance,
`proxy_handler_instance`. It is a thin adapter: all decisions live in the pipeline (`ProxyApp`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger

from ..config.paths import ConfigPaths
from ..pipeline.context import Reject
from .adapter import (
    ANTHROPIC_CALL_TYPES,
    ROUTED_CALL_TYPES,
    apply_to_litellm,
    context_from_litellm,
    validate_anthropic_request,
)
from .app import LiteLLMCatalog, ProxyApp

__all__ = ["CCProxyHandler", "proxy_handler_instance"]

log = logging.getLogger(__name__)


def _http_error(reject: Reject) -> HTTPException:
    # LiteLLM's /v1/messages turns an HTTPException into {"type":"error","error":{"type":...,"message":...}}
    # choosing the type from the status; our ASGI guard restores `reject.error_type` when they differ.
    headers = {**reject.headers, "x-ccproxy-error-type": reject.error_type}
    return HTTPException(status_code=reject.status, detail=reject.message, headers=headers)


class CCProxyHandler(CustomLogger):
    """The LiteLLM side of ccproxy-desktop. `app` is built on first use from `CCPROXY_CONFIG_DIR`."""

    def __init__(self, app: ProxyApp | None = None) -> None:
        super().__init__()
        self._app = app

    @property
    def app(self) -> ProxyApp:
        if self._app is None:
            self._app = ProxyApp.from_paths(ConfigPaths.from_env(), catalog=LiteLLMCatalog())
            for warning in self._app.warnings:
                log.warning("config: %s", warning)
        return self._app

    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: Any
    ) -> Any:
        """Classify and route one request; refuse it with a client error when the pipeline says so."""
        kind = str(getattr(call_type, "value", call_type))
        if kind not in ROUTED_CALL_TYPES:
            return data
        app = self.app
        try:
            if kind in ANTHROPIC_CALL_TYPES:
                validate_anthropic_request(data)
            ctx = context_from_litellm(data, kind)
            await app.pipeline.run(ctx)
        except Reject as reject:
            log.info("refused %s: %s %s", data.get("litellm_call_id"), reject.status, reject.message)
            raise _http_error(reject) from None
        apply_to_litellm(ctx, data)
        app.remember(ctx)
        return data

    async def async_log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._finish(kwargs, "ok")

    async def async_log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        exc = kwargs.get("exception") if isinstance(kwargs, dict) else None
        self._finish(kwargs, type(exc).__name__ if exc is not None else "error")

    def _finish(self, kwargs: Any, outcome: str) -> None:
        call_id = kwargs.get("litellm_call_id") if isinstance(kwargs, dict) else None
        record = self.app.records.pop(str(call_id)) if call_id else None
        if record is None:
            return
        log.info(
            "done %s: %s via %s in %.0f ms",
            record.request_id,
            outcome,
            record.routed_model,
            (time.monotonic() - record.started) * 1000,
            extra={"request_id": record.request_id, "outcome": outcome},
        )


proxy_handler_instance = CCProxyHandler()
