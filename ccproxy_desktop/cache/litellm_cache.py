"""Our cache plugged into LiteLLM's: LiteLLM looks the answer up after our pre-call hook has routed the
request, captures complete streams (provider SSE events up to `message_stop`, never error events) and
replays them; we give it the key (`key.py`) and the storage (`store.py`).

`install` replaces `litellm.cache` for this process; only Anthropic Messages calls are cached.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from typing import Any

import litellm
from litellm.caching.base_cache import BaseCache
from litellm.caching.caching import Cache
from litellm.llms.anthropic.pass_through.messages.utils import anthropic_messages_optional_param_keys

from .key import model_of_key, request_key
from .store import ResponseStore

__all__ = ["CACHED_CALL_TYPES", "StoreBackend", "install", "keyed_cache", "keyed_fields"]

log = logging.getLogger(__name__)

CACHED_CALL_TYPES = ["anthropic_messages", "aanthropic_messages"]


def keyed_fields() -> frozenset[str]:
    """Every Anthropic Messages request field LiteLLM forwards, plus `messages` and the beta header."""
    fields: frozenset[str] = anthropic_messages_optional_param_keys()
    return fields | {"messages", "anthropic_beta"}


class StoreBackend(BaseCache):  # type: ignore[misc]  # LiteLLM is not type-checked here
    """A LiteLLM cache backend over a `ResponseStore`: values as JSON text, store calls off the event loop."""

    def __init__(self, store: ResponseStore) -> None:
        super().__init__()
        self.store = store

    def get_cache(self, key: str, **kwargs: Any) -> Any:
        raw = self.store.get(key)
        return None if raw is None else json.loads(raw)

    def set_cache(self, key: str, value: Any, **kwargs: Any) -> None:
        self.store.put(key, model_of_key(key), json.dumps(value, default=str))

    async def async_get_cache(self, key: str, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.get_cache, key)

    async def async_set_cache(self, key: str, value: Any, **kwargs: Any) -> None:
        await asyncio.to_thread(self.set_cache, key, value)

    async def async_set_cache_pipeline(self, cache_list: Iterable[tuple[str, Any]], **kwargs: Any) -> None:
        for key, value in cache_list:
            await self.async_set_cache(key, value)

    async def disconnect(self) -> None:
        return None


def _beta_headers(kwargs: dict[str, Any]) -> list[str]:
    """The `anthropic-beta` values of the client's request and of the headers our hooks add upstream."""
    client = kwargs.get("proxy_server_request")
    sources = (client.get("headers") if isinstance(client, dict) else None, kwargs.get("extra_headers"))
    return sorted(
        str(value)
        for headers in sources
        if isinstance(headers, dict)
        for name, value in headers.items()
        if str(name).lower() == "anthropic-beta"
    )


class _KeyedCache(Cache):  # type: ignore[misc]
    """LiteLLM's `Cache` with our key: the routed model group and the canonical request (`key.py`)."""

    fields: frozenset[str] = frozenset()

    def get_cache_key(self, **kwargs: Any) -> str:
        preset = self.get_preset_cache_key_from_kwargs(**kwargs)
        if preset is not None:
            return str(preset)
        request = dict(kwargs)
        request["anthropic_beta"] = _beta_headers(kwargs)
        key = request_key(self._get_model_param_value(kwargs), request, self.fields)
        self._set_preset_cache_key_in_kwargs(
            preset_cache_key=key, **{k: v for k, v in kwargs.items() if k != "preset_cache_key"}
        )
        return key


def keyed_cache(store: ResponseStore) -> Cache:
    """A LiteLLM `Cache` for Anthropic Messages calls with our key, over `store`."""
    cache = _KeyedCache(type="local", supported_call_types=CACHED_CALL_TYPES)
    cache.fields = keyed_fields()
    cache.cache = StoreBackend(store)
    return cache


def install(store: ResponseStore) -> None:
    """Answer identical Anthropic Messages requests from `store` in this process from now on."""
    cache = keyed_cache(store)
    if litellm.cache is not None:
        log.warning("response cache: replacing the cache set in config.yaml's litellm_settings")
    litellm.cache = cache
    # The proxy's router passes `caching=False` on every call unless it was built with a cache configured.
    from litellm.proxy import proxy_server

    if proxy_server.llm_router is not None:
        proxy_server.llm_router.cache_responses = True
