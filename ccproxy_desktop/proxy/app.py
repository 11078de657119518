"""The proxy process's application object: settings, pipeline and per-request records, built once."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from ..auth.sources import StaticTokenStore
from ..config.loader import Settings, load_settings
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
from .keys import proxy_keys

__all__ = ["BoundedStore", "LiteLLMCatalog", "ProxyApp", "RouteRecord"]

log = logging.getLogger(__name__)

METADATA_STORE_SIZE = 10_000


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


class LiteLLMCatalog:
    """The model names LiteLLM's router serves right now (follows hot reloads of config.yaml)."""

    def model_names(self) -> Collection[str]:
        from litellm.proxy import proxy_server

        router = getattr(proxy_server, "llm_router", None)
        if router is None:
            raise CatalogUnavailable("LiteLLM's router is not initialised yet")
        return list(router.get_model_names())


class ProxyApp:
    """Owns the settings, the pipeline and the accounting of one proxy process; `pipeline` is swapped whole
    on reload."""

    def __init__(
        self, settings: Settings, pipeline: Pipeline, warnings: list[ConfigIssue], accounting: Accounting
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.warnings = warnings
        self.accounting = accounting
        self.records = BoundedStore()
        self.started = time.time()

    @classmethod
    def from_paths(cls, paths: ConfigPaths, catalog: Any = None) -> ProxyApp:
        """Load and validate the config of `paths`; raises ConfigInvalid."""
        settings = load_settings(paths)
        override = OverrideFile(paths.model_override_file)
        pipeline, warnings = build_pipeline(
            settings,
            TokenCounter(),
            catalog=catalog,
            override=override.read,
            tokens=StaticTokenStore.load(settings.ccproxy.oat_sources),
            proxy_keys=proxy_keys(settings),
        )
        accounting = Accounting(
            settings,
            PriceBook(settings.ccproxy.pricing, litellm_price_lookup),
            local_now,
            load_callbacks(settings.ccproxy.alert_callbacks),
        )
        return cls(settings, pipeline, warnings, accounting)

    def remember(self, ctx: RequestContext) -> None:
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
