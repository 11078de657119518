"""The proxy process's application object: settings, pipeline and per-request records, built once."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from ..auth.claude_import import import_claude_credentials
from ..auth.manager import CredentialManager
from ..auth.stores import open_store
from ..cache.control import CLEAR_SIGNAL_NAME, clear_signal_path, read_clear_signal
from ..cache.store import ResponseStore, open_response_store
from ..config.loader import ConfigInvalid, Settings, load_settings
from ..config.override import OverrideFile
from ..config.paths import ConfigPaths
from ..config.yamlsrc import ConfigIssue
from ..ledger.budgets import BudgetStatus
from ..ledger.clock import local_now
from ..ledger.pricing import PriceBook
from ..ledger.records import RequestRecord, TokenUsage
from ..pipeline.context import Reject, RequestContext
from ..pipeline.pipeline import Pipeline, build_pipeline
from ..pipeline.router import CatalogUnavailable
from ..pipeline.tokens import TokenCounter
from .accounting import Accounting, AlertCallback, load_callbacks, price_book
from .deployments import Deployments
from .effective import effective_litellm_config, write_effective_config
from .keys import proxy_keys
from .retry import Attempt, RetryPolicy
from .runtime_files import RuntimeFiles
from .subscription import SubscriptionState
from .translated import LiteLLMTranslator
from .users import UserGate
from .watcher import ConfigWatcher

__all__ = [
    "BoundedStore",
    "Generation",
    "LiteLLMCatalog",
    "LiteLLMModels",
    "ProxyApp",
    "RouteRecord",
    "budget_reject",
]

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
    (lambda s: s.ccproxy.cache, "the `cache:` section (response cache)"),
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
    variant: str | None = None  # "<A/B test>:<model_name>"
    project: str | None = None
    agent: str | None = None


@dataclass(frozen=True)
class Generation:
    """Everything one config load decides, built whole off the event loop and swapped in with one
    assignment (`ProxyApp.current`): a request reads `app.current` once and sees one consistent config."""

    settings: Settings
    pipeline: Pipeline
    warnings: list[ConfigIssue]
    users: UserGate
    deployments: Deployments
    retry_policy: RetryPolicy
    translator: LiteLLMTranslator
    prices: PriceBook
    callbacks: tuple[AlertCallback, ...]


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
        """Load and validate the config of `paths`; raises ConfigInvalid. `catalog`/`models` are LiteLLM's
        live model list on the team road (our handler inside LiteLLM's proxy); None on our own server."""
        self.paths = paths
        self.catalog = catalog
        self.models = models
        self.token_counter = TokenCounter()
        self.override = OverrideFile(paths.model_override_file)
        settings = load_settings(paths)
        self.proxy_keys = proxy_keys(settings)
        self.store, store_warning = open_store(paths, settings.ccproxy.credential_store)
        self.http = httpx.AsyncClient(timeout=30)
        self.credentials = CredentialManager(
            self.store,
            self.http,
            sources=settings.ccproxy.oat_sources,
            refresh_interval=settings.ccproxy.oauth_refresh_interval,
            on_failure=self._credential_failed,
            claude_reader=import_claude_credentials,
        )
        self.used_tokens: OrderedDict[str, tuple[str, str]] = OrderedDict()
        callbacks = load_callbacks(settings.ccproxy.alert_callbacks)
        prices = price_book(settings)
        self.accounting = Accounting(settings, prices, local_now, callbacks)
        self.current = self._generation(settings, prices, callbacks)
        self.records = BoundedStore()
        self.response_store = self._open_response_store()
        self.runtime_files = RuntimeFiles(paths)
        # Claude subscription limits from the provider's `anthropic-ratelimit-unified-*` headers (issue 12).
        self.subscription = SubscriptionState(paths.subscription_file)
        self.started = time.time()
        self._watcher: ConfigWatcher | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._refresher: asyncio.Task[None] | None = None
        if store_warning:
            log.warning("credentials: %s", store_warning)
            self.accounting.ledger.add_event("credential_failure", {"provider": "", "message": store_warning})

    def _generation(
        self, settings: Settings, prices: PriceBook, callbacks: Sequence[AlertCallback]
    ) -> Generation:
        """Build a whole generation for `settings` (raises ConfigInvalid). Touches nothing in force."""
        pipeline, warnings = self._build(settings)
        timeout = settings.litellm.litellm_settings.get("request_timeout")
        return Generation(
            settings=settings,
            pipeline=pipeline,
            warnings=warnings,
            users=UserGate(settings.ccproxy.users, self.accounting),
            deployments=Deployments(
                settings.litellm.model_list,
                default_timeout=float(timeout)
                if isinstance(timeout, (int, float)) and timeout > 0
                else 600.0,
                credential_hosts=settings.ccproxy.claude_credential_hosts,
            ),
            retry_policy=RetryPolicy.from_settings(settings.ccproxy),
            translator=LiteLLMTranslator(settings),
            prices=prices,
            callbacks=tuple(callbacks),
        )

    @property
    def settings(self) -> Settings:
        return self.current.settings

    @property
    def pipeline(self) -> Pipeline:
        return self.current.pipeline

    @property
    def warnings(self) -> list[ConfigIssue]:
        return self.current.warnings

    @property
    def users(self) -> UserGate:
        return self.current.users

    def _build(self, settings: Settings) -> tuple[Pipeline, list[ConfigIssue]]:
        return build_pipeline(
            settings,
            self.token_counter,
            catalog=self.catalog,
            override=self.override.read,
            tokens=self.credentials,
            proxy_keys=self.proxy_keys,
        )

    def _open_response_store(self) -> ResponseStore | None:
        spec = self.settings.ccproxy.cache
        if not spec.enabled:
            return None
        try:
            return open_response_store(self.paths, spec)
        except (OSError, sqlite3.Error) as exc:
            log.error("response cache disabled: cannot open its store: %s", exc)
            return None

    # -- lifecycle -------------------------------------------------------------------------------------

    @property
    def started_on_loop(self) -> bool:
        return self._loop is not None

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
            CLEAR_SIGNAL_NAME,
        }
        self._watcher = ConfigWatcher(
            self.paths.config_dir, watched, self._changed, on_folder_change=self._folder_changed
        )
        self._watcher.start()

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
        if self._refresher is not None:
            self._refresher.cancel()
        self.accounting.close()
        self.subscription.close()
        if self.response_store is not None:
            self.response_store.close()

    def status(self) -> dict[str, Any]:
        """What `GET /ccproxy/status` answers: this process's pid and its ledger writer's state (records waiting
        and why the last write failed). A full or read-only disk shows here, not in the ledger or the log,
        which sit on that disk. `translated_path_loaded`: whether this worker has imported LiteLLM yet."""
        ledger = self.accounting.ledger
        return {
            "pid": os.getpid(),
            "ledger": {"pending": ledger.pending, "last_error": ledger.last_error},
            "translated_path_loaded": "litellm" in sys.modules,
        }

    def _changed(self, path: Path) -> None:
        if path.name == CLEAR_SIGNAL_NAME:
            self._clear_cache()
            return
        if self._loop is None or self._loop.is_closed():
            return
        if path != self.paths.credentials_changed and self.models is None:
            self.reload()  # built here, on the watcher thread; the swap is one assignment
            return
        work = (
            self._reload_credentials() if path == self.paths.credentials_changed else self._reload_on_loop()
        )
        asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout=60)

    def _folder_changed(self, present: bool) -> None:
        """The config folder was deleted (or created again). Keep serving with the settings in memory; put back
        the files the CLI and the tray need to find this proxy (which re-creates the folder); a config written
        into it later is loaded as any change is."""
        if present:
            log.info(
                "config folder %s exists again; config files written into it will be loaded",
                self.paths.config_dir,
            )
            return
        try:
            restored = self.runtime_files.restore()
        except OSError as exc:
            restored = []
            log.error("cannot re-create the proxy's state file in %s: %s", self.paths.config_dir, exc)
        log.warning(
            "the config folder %s was deleted while the proxy runs: it keeps serving with the last good config%s; "
            "`ccproxy install` writes default config files (loaded at once), `ccproxy stop` stops the proxy",
            self.paths.config_dir,
            f" (re-created {', '.join(p.name for p in restored)})" if restored else "",
        )

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

    def _clear_cache(self) -> None:
        """`ccproxy cache clear` or the tray asked every worker to drop cached answers (one model or all)."""
        valid, model = read_clear_signal(clear_signal_path(self.paths))
        if valid and self.response_store is not None:
            dropped = self.response_store.clear(model)
            log.info("response cache: dropped %d entries of %s", dropped, model or "every model")

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
        """Validate the config files, build a whole new generation beside the one serving, and swap it in
        with one assignment. Returns the errors (none: reloaded); on an error nothing in force changed."""
        try:
            settings = load_settings(self.paths)
            callbacks = load_callbacks(settings.ccproxy.alert_callbacks)
            prices = price_book(settings)
            generation = self._generation(settings, prices, callbacks)
        except ConfigInvalid as exc:
            self._refused(exc.issues)
            return exc.issues
        except ImportError as exc:
            issue = settings.ccproxy_issue(("ccproxy", "alert_callbacks"), str(exc))
            self._refused([issue])
            return [issue]
        before = self.current.settings
        models_changed = settings.litellm.model_list != before.litellm.model_list
        if models_changed and self.models is not None:
            self.models.replace(settings)
        for key, what in _RESTART_ONLY:
            if key(settings) != key(before):
                log.warning("config: %s changed; that takes effect at the next restart", what)
        self.accounting.reconfigure(settings, prices, callbacks)
        self.current = generation
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
        return self.current.retry_policy

    # -- admission -------------------------------------------------------------------------------------

    async def admit(self, ctx: RequestContext, user: str | None, attempt: Attempt | None = None) -> None:
        """Decide one try of a request: run the pipeline (rules, routing, credentials, headers), then the
        blocking budgets and the user's limits. Sets the decisions in `ctx`; raises `Reject` (after recording
        the refusal in the ledger) when the proxy refuses it. On a fallback try (`attempt.fallback_model`) the
        router sends it to the fallback model; a retry try does not count again against a rate limit. A
        count_tokens request is routed but neither budgeted nor rate-limited, and never a ledger row."""
        generation = self.current
        if attempt is not None:
            ctx.forced_model = attempt.fallback_model
        ctx.user = user or ctx.user
        counting = ctx.call_type == "count_tokens"  # routed like the request it counts; costs nothing
        try:
            await generation.pipeline.run(ctx)
        except Reject as reject:
            log.info("refused %s: %s %s", ctx.request_id, reject.status, reject.message)
            if not counting:
                self.record_refusal(ctx, f"error:{reject.error_type}")
            raise
        ctx.user = user or ctx.user  # the key names the user; a hook can't make it someone else
        if counting:
            return
        over = self.accounting.over_budget(ctx.target_model, ctx.user, ctx.project)
        if over is not None:
            self.record_refusal(ctx, "refused")
            raise budget_reject(over)
        if attempt is not None:
            _follow_fallback(ctx)
            attempt.routed_model = ctx.target_model
        if user:
            refusal = generation.users.check(user, ctx.model, ctx.target_model)
            if refusal is None and (attempt is None or attempt.number == 0):
                refusal = await generation.users.admit(user)
            if refusal is not None:
                log.info("refused %s: %s %s", ctx.request_id, refusal.status, refusal.message)
                self.record_refusal(ctx, "refused")
                raise refusal

    def remember(self, ctx: RequestContext, attempt: Attempt | None = None) -> None:
        """The team road: keep the route until LiteLLM's outcome callback records the request."""
        self.records.put(route_record(ctx, attempt, time.monotonic()))
        self.log_route(ctx)

    def log_route(self, ctx: RequestContext) -> None:
        log.info(
            "route %s: %s -> %s (%s)",
            ctx.request_id,
            ctx.model,
            ctx.target_model,
            ctx.route_reason or "no routing hook",
            extra={"request_id": ctx.request_id, "label": ctx.label, "session_id": ctx.session_id},
        )

    def record_request(
        self,
        ctx: RequestContext,
        attempt: Attempt | None,
        provider_model: str,
        usage: TokenUsage,
        latency_ms: float,
        ttfb_ms: float | None,
        outcome: str,
        cached: bool = False,
    ) -> RequestRecord:
        """Price one finished request of our own server and queue its ledger row."""
        route = route_record(ctx, attempt, 0.0)
        return self.record_outcome(route, provider_model, usage, latency_ms, ttfb_ms, outcome, cached=cached)

    def record_outcome(
        self,
        route: RouteRecord,
        provider_model: str,
        usage: TokenUsage,
        latency_ms: float,
        ttfb_ms: float | None,
        outcome: str,
        cached: bool = False,
    ) -> RequestRecord:
        """Price a finished request and queue its ledger row (an answer from the response cache costs $0)."""
        ok = outcome == "ok" and not cached
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
            cached=cached,
            retried=route.attempt.retries if route.attempt else 0,
            fallback=bool(route.attempt and route.attempt.fallback_model),
            variant=route.variant,
            project=route.project,
            agent=route.agent,
        )
        self.accounting.record(record)
        return record

    def record_refusal(self, ctx: RequestContext, outcome: str) -> None:
        """A request we refused before it reached the provider: a ledger row at $0. It never reached an A/B
        variant's model, so it is not tagged with one (it doesn't count in the test)."""
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
                project=ctx.project,
                agent=ctx.agent,
            )
        )


def route_record(ctx: RequestContext, attempt: Attempt | None, started: float) -> RouteRecord:
    return RouteRecord(
        request_id=ctx.request_id,
        requested_model=ctx.model,
        routed_model=ctx.target_model,
        label=ctx.label or "default",
        reason=ctx.route_reason,
        session_id=ctx.session_id,
        user=ctx.user,
        stream=ctx.stream,
        started=started,
        attempt=attempt,
        variant=ctx.variant,
        project=ctx.project,
        agent=ctx.agent,
    )


def _follow_fallback(ctx: RequestContext) -> None:
    """A fallback try whose pipeline has no router hook to honour `forced_model`: route it here, without the
    credentials the pipeline picked for the other model."""
    if ctx.forced_model and ctx.target_model != ctx.forced_model:
        ctx.routed_model, ctx.route_reason = ctx.forced_model, "fallback"
        ctx.upstream_api_key = None
        ctx.upstream_headers.pop("authorization", None)


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
