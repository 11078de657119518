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
from ..config.paths import ConfigPaths
from ..config.yamlsrc import ConfigIssue
from ..pipeline.context import RequestContext
from ..pipeline.pipeline import Pipeline, build_pipeline
from ..pipeline.router import CatalogUnavailable
from ..pipeline.tokens import TokenCounter
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
    """Owns the settings and the pipeline of one proxy process; `pipeline` is swapped whole on reload."""

    def __init__(self, settings: Settings, pipeline: Pipeline, warnings: list[ConfigIssue]) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.warnings = warnings
        self.records = BoundedStore()
        self.started = time.time()

    @classmethod
    def from_paths(cls, paths: ConfigPaths, catalog: Any = None) -> ProxyApp:
        """Load and validate the config of `paths`; raises ConfigInvalid."""
        settings = load_settings(paths)
        pipeline, warnings = build_pipeline(
            settings,
            TokenCounter(),
            catalog=catalog,
            tokens=StaticTokenStore.load(settings.ccproxy.oat_sources),
            proxy_keys=proxy_keys(settings),
        )
        return cls(settings, pipeline, warnings)

    def remember(self, ctx: RequestContext) -> None:
        self.records.put(
            RouteRecord(
                request_id=ctx.request_id,
                requested_model=ctx.model,
                routed_model=ctx.target_model,
                label=ctx.label or "default",
                reason=ctx.route_reason,
                session_id=ctx.session_id,
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
