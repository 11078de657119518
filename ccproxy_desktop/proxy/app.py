"""The proxy process's application object: settings, pipeline and per-request records, built once."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from ..auth.claude_import import import_claude_credentials
from ..auth.manager import CredentialManager
from ..auth.stores import open_store
from ..config.loader import ConfigInvalid, Settings, load_settings
from ..config.override import OverrideFile
from ..config.paths import ConfigPaths
from ..config.yamlsrc import ConfigIssue
from ..ledger.clock import local_now
from ..ledger.pricing import PriceBook
from ..ledger.records import RequestRecord, TokenUsage
from ..pipeline.context import RequestContext
from ..pipeline.pipeline import Pipeline, build_pipeline
from ..pipeline.router import CatalogUnavailable
from ..pipeline.tokens import TokenCounter
from .accounting import Accounting, litellm_price_lookup, load_callbacks
from .effective import effective_litellm_config, write_effective_config
from .keys import proxy_keys
from .retry import Attempt, RetryPolicy
from .watcher import ConfigWatcher

__all__ = ["BoundedStore", "LiteLLMCatalog", "LiteLLMModels", "ProxyApp", "RouteRecord"]

log = logging.getLogger(__name__)

METADATA_STORE_SIZE = 10_000

# Settings a running proxy can't change: (how to read it, what to tell the user).
_RESTART_ONLY: tuple[tuple[Any, str], ...] = (
    (lambda s: s.server, "the `litellm:` section of ccproxy.yaml (host, port, workers)"),
    (
        lambda s: (s.ccproxy.oat_sources, s.ccproxy.oauth_refresh_interval, s.ccproxy.credential_store),
        "oat_sources/oauth_refresh_interval/credential_store",
    ),
    (
        lambda s: (s.litellm.litellm_settings, s.litellm.general_settings, s.litellm.router_settings),
        "litellm_settings/general_settings/router_settings in config.yaml",
    ),
)


@dataclass(frozen=True)
class RouteRecord:
    """What the pipeline decided for one request; kept until the request's outcome is logged."""

    request_id: str
    requested_model: str
    routed_model: str
    label: str
    reason: str
    session_id: str | None
    user: str | None
    stream: bool
    started: float
    attempt: Attempt | None = None


class BoundedStore:
    """A thread-safe LRU mapping of request id to `RouteRecord`, never more than `size` entries."""

    def __init__(self, size: int = METADATA_STORE_SIZE) -> None:
        self._size = size
        self._items: OrderedDict[str, RouteRecord] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, record: RouteRecord) -> None:
        with self._lock:
            self._items[record.request_id] = record
            self._items.move_to_end(record.request_id)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def pop(self, request_id: str) -> RouteRecord | None:
        with self._lock:
            return self._items.pop(request_id, None)

    def __len__(self) -> int:
        return len(self._items)


class ModelListSink(Protocol):
    def replace(self, settings: Settings) -> None:
        """Serve `settings`' model list from now on."""


class LiteLLMModels:
    """Replaces LiteLLM's model list in place (`Router.set_model_list`), on the event loop thread."""

    def replace(self, settings: Settings) -> None:
        from litellm.proxy import proxy_server

        router = proxy_server.llm_router
        if router is None:
            return
        router.set_model_list(effective_litellm_config(settings)["model_list"])
        proxy_server.llm_model_list = router.get_model_list()
        write_effective_config(settings)


class LiteLLMCatalog:
    """The model names LiteLLM's router serves right now (follows hot reloads of config.yaml)."""

    def model_names(self) -> Collection[str]:
        from litellm.proxy import proxy_server

        router = getattr(proxy_server, "llm_router", None)
        if router is None:
            raise CatalogUnavailable("LiteLLM's router is not initialised yet")
        return list(router.get_model_names())


class ProxyApp:
    """Owns the settings, the pipeline and the accounting of one proxy process.

    A config reload builds the new pipeline beside the old one and swaps it in with one assignment; if
    anything is invalid the old one keeps serving and the problem is logged and recorded as an event.
    """

    def __init__(self, paths: ConfigPaths, catalog: Any = None, models: ModelListSink | None = None) -> None:
        """Load and validate the config of `paths`; raises ConfigInvalid."""
        self.paths = paths
        self.catalog = catalog
        self.models = models
        self.token_counter = TokenCounter()
        self.override = OverrideFile(paths.model_override_file)
        self.settings = load_settings(paths)
        self.proxy_keys = proxy_keys(self.settings)
        self.store, store_warning = open_store(paths, self.settings.ccproxy.credential_store)
        self.http = httpx.AsyncClient(timeout=30)
        self.credentials = CredentialManager(
            self.store,
            self.http,
            sources=self.settings.ccproxy.oat_sources,
            refresh_interval=self.settings.ccproxy.oauth_refresh_interval,
            on_failure=self._credential_failed,
            claude_reader=import_claude_credentials,
        )
        self.used_tokens: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self.pipeline, self.warnings = self._build(self.settings)
        self.accounting = Accounting(
            self.settings,
            PriceBook(self.settings.ccproxy.pricing, litellm_price_lookup),
            local_now,
            load_callbacks(self.settings.ccproxy.alert_callbacks),
        )
        self.records = BoundedStore()
        self.started = time.time()
        self._watcher: ConfigWatcher | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._refresher: asyncio.Task[None] | None = None
        if store_warning:
            log.warning("credentials: %s", store_warning)
            self.accounting.ledger.add_event("credential_failure", {"provider": "", "message": store_warning})

    def _build(self, settings: Settings) -> tuple[Pipeline, list[ConfigIssue]]:
        return build_pipeline(
            settings,
            self.token_counter,
            catalog=self.catalog,
            override=self.override.read,
            tokens=self.credentials,
            proxy_keys=self.proxy_keys,
        )

    # -- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """On the proxy's event loop, before it serves: load credentials, schedule their refreshes, and watch
        the config folder (reloads run on this loop, so a swap never races a request)."""
        self._loop = asyncio.get_running_loop()
        await self.credentials.load()
        self._refresher = self._loop.create_task(self.credentials.run(), name="credential-refresh")
        watched = {
            self.paths.ccproxy_yaml.name,
            self.paths.litellm_yaml.name,
            self.paths.credentials_changed.name,
        }
        self._watcher = ConfigWatcher(self.paths.config_dir, watched, self._changed)
        self._watcher.start()

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
        if self._refresher is not None:
            self._refresher.cancel()
        self.accounting.close()

    def _changed(self, path: Path) -> None:
        if self._loop is None or self._loop.is_closed():
            return
        work = (
            self._reload_credentials() if path == self.paths.credentials_changed else self._reload_on_loop()
        )
        asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout=60)

    async def _reload_credentials(self) -> None:
        """`ccproxy auth` changed the store: re-read it and re-plan the refreshes (the refresh loop may be
        sleeping until a time computed before)."""
        await self.credentials.load()
        if self._refresher is not None:
            self._refresher.cancel()
        self._refresher = asyncio.get_running_loop().create_task(
            self.credentials.run(), name="credential-refresh"
        )

    async def _reload_on_loop(self) -> None:
        self.reload()

    # -- credentials -----------------------------------------------------------------------------------

    def _credential_failed(self, provider: str, message: str) -> None:
        log.warning("credentials for %s: %s", provider or "the secret store", message)
        self.accounting.ledger.add_event("credential_failure", {"provider": provider, "message": message})

    def used_token(self, request_id: str, provider: str, token: str) -> None:
        """Remember which of our tokens a request carried (bounded), for a refresh on a 401."""
        self.used_tokens[request_id] = (provider, token)
        while len(self.used_tokens) > METADATA_STORE_SIZE:
            self.used_tokens.popitem(last=False)

    async def unauthorized(self, request_id: str) -> bool:
        """The provider refused request `request_id` with 401: True if it carried our token and a refreshed
        one is now available (the request is then retried once)."""
        used = self.used_tokens.pop(request_id, None)
        if used is None:
            return False
        provider, token = used
        return await self.credentials.on_unauthorized(provider, token)

    # -- reload ----------------------------------------------------------------------------------------

    def reload(self) -> list[ConfigIssue]:
        """Validate the config files and swap them in. Returns the errors (none: reloaded)."""
        try:
            settings = load_settings(self.paths)
            pipeline, warnings = self._build(settings)
            callbacks = load_callbacks(settings.ccproxy.alert_callbacks)
        except ConfigInvalid as exc:
            self._refused(exc.issues)
            return exc.issues
        except ImportError as exc:
            issue = settings.ccproxy_issue(("ccproxy", "alert_callbacks"), str(exc))
            self._refused([issue])
            return [issue]
        models_changed = settings.litellm.model_list != self.settings.litellm.model_list
        if models_changed and self.models is not None:
            self.models.replace(settings)
        for key, what in _RESTART_ONLY:
            if key(settings) != key(self.settings):
                log.warning("config: %s changed; that takes effect at the next restart", what)
        self.accounting.reconfigure(
            settings, PriceBook(settings.ccproxy.pricing, litellm_price_lookup), callbacks
        )
        self.settings, self.pipeline, self.warnings = settings, pipeline, warnings
        log.info("config reloaded%s", " (model list updated)" if models_changed else "")
        self.accounting.ledger.add_event("config_reloaded", {"models_changed": models_changed})
        return []

    def _refused(self, issues: list[ConfigIssue]) -> None:
        lines = [str(issue) for issue in issues]
        log.error("config not reloaded, the last good config keeps serving:\n  %s", "\n  ".join(lines))
        self.accounting.ledger.add_event(
            "config_error",
            {"issues": lines, "message": f"Config error, last good config kept: {lines[0]}"},
        )

    def retry_policy(self) -> RetryPolicy:
        """The `retry_*` settings in force now (they follow a reload)."""
        return RetryPolicy.from_settings(self.settings.ccproxy)

    def remember(self, ctx: RequestContext, attempt: Attempt | None = None) -> None:
        self.records.put(
            RouteRecord(
                request_id=ctx.request_id,
                requested_model=ctx.model,
                routed_model=ctx.target_model,
                label=ctx.label or "default",
                reason=ctx.route_reason,
                session_id=ctx.session_id,
                user=ctx.user,
                stream=ctx.stream,
                started=time.monotonic(),
                attempt=attempt,
            )
        )
        log.info(
            "route %s: %s -> %s (%s)",
            ctx.request_id,
            ctx.model,
            ctx.target_model,
            ctx.route_reason or "no routing hook",
            extra={"request_id": ctx.request_id, "label": ctx.label, "session_id": ctx.session_id},
        )

    def record_outcome(
        self,
        route: RouteRecord,
        provider_model: str,
        usage: TokenUsage,
        latency_ms: float,
        ttfb_ms: float | None,
        outcome: str,
    ) -> RequestRecord:
        """Price a finished request and queue its ledger row."""
        ok = outcome == "ok"
        record = RequestRecord(
            request_id=route.request_id,
            ts=time.time(),
            label=route.label,
            requested_model=route.requested_model,
            routed_model=route.routed_model,
            provider_model=provider_model,
            usage=usage,
            cost_usd=self.accounting.price(route.routed_model, provider_model, usage) if ok else 0.0,
            latency_ms=latency_ms,
            ttfb_ms=ttfb_ms,
            outcome=outcome,
            stream=route.stream,
            session_id=route.session_id,
            user=route.user,
            retried=route.attempt.retries if route.attempt else 0,
            fallback=bool(route.attempt and route.attempt.fallback_model),
        )
        self.accounting.record(record)
        return record

    def record_refusal(self, ctx: RequestContext, outcome: str) -> None:
        """A request we refused before it reached the provider: a ledger row at $0."""
        self.accounting.record(
            RequestRecord(
                request_id=ctx.request_id,
                ts=time.time(),
                label=ctx.label or "default",
                requested_model=ctx.model,
                routed_model=ctx.target_model,
                provider_model="",
                cost_usd=0.0,
                outcome=outcome,
                stream=ctx.stream,
                session_id=ctx.session_id,
                user=ctx.user,
            )
        )
