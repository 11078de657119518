"""The translated path: deployments in other formats (OpenAI, Responses, Gemini, Bedrock, Ollama...) through
LiteLLM used as a library, and every request of OpenAI-SDK clients (`/v1/chat/completions`).

LiteLLM is imported on the first translated request, never at start-up: the native path and the start of the
proxy don't pay its ~5 s and ~190 MB. Its Router is built from config.yaml's `model_list` and
`router_settings` (LiteLLM's own retries off unless `num_retries` is set: the proxy retries), and
`litellm_settings` are applied to the `litellm` module, as LiteLLM's proxy does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from ..config.loader import Settings

__all__ = ["LiteLLMTranslator", "caches_by_cached_contents", "without_cache_control"]

log = logging.getLogger(__name__)

# litellm_settings keys that are not attributes of the `litellm` module (LiteLLM's proxy handles them).
_PROXY_ONLY_SETTINGS = frozenset(
    {"callbacks", "success_callback", "failure_callback", "cache", "cache_params"}
)


def _router_config(settings: Settings) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    data = settings.litellm.model_dump(mode="json", exclude_none=True)
    names = {entry.model_name for entry in settings.litellm.model_list}
    # An alias (`model: OTHER_NAME`, nothing else, e.g. a rule's target set by `ccproxy route`) is followed by
    # our router; LiteLLM would read OTHER_NAME's prefix as a provider and refuse the whole list.
    model_list = [
        {k: v for k, v in entry.items() if not (k == "model_info" and not v)}
        for entry, spec in zip(data.get("model_list", []), settings.litellm.model_list, strict=True)
        if not (spec.is_alias and spec.target in names and spec.target != spec.model_name)
    ]
    router_settings = dict(data.get("router_settings") or {})
    litellm_settings = data.get("litellm_settings") or {}
    if "num_retries" not in router_settings:
        router_settings["num_retries"] = litellm_settings.get("num_retries", 0)
    return model_list, router_settings


def caches_by_cached_contents(provider: str, provider_model: str) -> bool:
    """True for a Gemini model (Google AI Studio, or Vertex AI): LiteLLM turns Anthropic `cache_control`
    breakpoints into Google's explicit context caches (a `cachedContents` resource made before the call)."""
    return provider == "gemini" or (provider.startswith("vertex_ai") and "gemini" in provider_model.lower())


def without_cache_control(body: Mapping[str, Any]) -> dict[str, Any]:
    """`body` (Anthropic Messages or OpenAI chat) without `cache_control` on its system blocks, messages,
    content blocks and tools.

    For Gemini routes. Claude Code marks its prompt with `cache_control` on every request, the last marker
    moving with each turn; LiteLLM then lists and creates a `cachedContents` resource before each call (a new
    one per turn, billed for storage), at `API_BASE/models/MODEL:cachedContents` when config.yaml sets an
    `api_base` (no such Google endpoint: the call fails with 404 before the model is asked). Gemini 2.5 and
    later cache repeated prefixes implicitly, which needs no marker."""

    def clean(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: v for k, v in value.items() if k != "cache_control"}
        return value

    def clean_blocks(value: Any) -> Any:
        return [clean(block) for block in value] if isinstance(value, list) else value

    data = dict(body)
    if "system" in data:
        data["system"] = clean_blocks(data["system"])
    if isinstance(data.get("messages"), list):
        data["messages"] = [
            {**clean(m), "content": clean_blocks(m["content"])}
            if isinstance(m, Mapping) and "content" in m
            else clean(m)
            for m in data["messages"]
        ]
    if "tools" in data:
        data["tools"] = clean_blocks(data["tools"])
    return data


class LiteLLMTranslator:
    """LiteLLM's Router for one config generation, built on first use (thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._router: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._router is not None

    def _build(self) -> Any:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm
        from litellm import Router

        for key, value in (self.settings.litellm.litellm_settings or {}).items():
            if key in _PROXY_ONLY_SETTINGS or key == "num_retries":
                continue
            setattr(litellm, key, value)
        model_list, router_settings = _router_config(self.settings)
        return Router(model_list=model_list, **router_settings)

    async def router(self) -> Any:
        if self._router is None:
            # The first import takes seconds: off the event loop, so native requests keep flowing.
            await asyncio.to_thread(self._ensure)
        return self._router

    def _ensure(self) -> None:
        with self._lock:
            if self._router is None:
                log.info("loading LiteLLM for the translated path")
                self._router = self._build()

    async def messages(self, model_name: str, body: Mapping[str, Any], extra: Mapping[str, Any]) -> Any:
        """An Anthropic Messages request to `model_name`: a dict, or an async iterator of SSE chunks."""
        router = await self.router()
        params = {k: v for k, v in body.items() if k != "model"}
        return await router.aanthropic_messages(model=model_name, **params, **extra)

    async def completion(self, model_name: str, body: Mapping[str, Any], extra: Mapping[str, Any]) -> Any:
        """An OpenAI chat completion to `model_name`: a ModelResponse, or an async stream of chunks (with the
        usage chunk at its end, for the ledger)."""
        router = await self.router()
        params = {k: v for k, v in body.items() if k != "model"}
        if params.get("stream") is True:
            options = dict(params.get("stream_options") or {})
            options.setdefault("include_usage", True)
            params["stream_options"] = options
        return await router.acompletion(model=model_name, **params, **extra)

    def max_input_tokens(self, model_name: str) -> int | None:
        """The context window LiteLLM knows for the deployment of `model_name`, if any."""
        if self._router is None:
            return None
        try:
            import litellm

            for entry in self._router.get_model_list(model_name=model_name) or []:
                info = litellm.get_model_info(entry["litellm_params"]["model"])
                value = info.get("max_input_tokens")
                if isinstance(value, int):
                    return value
        except Exception:  # unknown to LiteLLM's map: no number
            return None
        return None
