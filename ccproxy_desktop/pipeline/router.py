"""Which model_name serves a request: from the rule label, the quick-switch override and passthrough.

Pure: the live model list comes through the `ModelCatalog` protocol (the LiteLLM router in the proxy,
a fixed list in tests) and time through an injected clock.
"""

from __future__ import annotations

import fnmatch
import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..config.override import ModelChoice

__all__ = ["CatalogUnavailable", "ModelCatalog", "ModelChoice", "ModelRouter", "Route", "StaticCatalog"]

log = logging.getLogger(__name__)

RELOAD_COOLDOWN_SECONDS = 5.0


class CatalogUnavailable(Exception):
    """The live model list can't be read yet (e.g. LiteLLM's router is still starting)."""


class ModelCatalog(Protocol):
    def model_names(self) -> Collection[str]:
        """Every model_name the proxy can serve, wildcard patterns included. May raise CatalogUnavailable."""


@dataclass(frozen=True)
class StaticCatalog:
    names: tuple[str, ...]

    def model_names(self) -> Collection[str]:
        return self.names


@dataclass(frozen=True)
class Route:
    model: str
    reason: str
    by_override: bool = False  # the quick model switch chose it


class ModelRouter:
    """Maps a rule label to a model_name.

    `aliases` maps model_names that only rename another model_name (an upstream config idiom:
    `default -> claude-sonnet-4-5`) so the request goes to the entry that holds the endpoint.
    Loaded names are cached; the live catalog is read again at most every `reload_cooldown` seconds, and
    only a successful read marks the list loaded (a failed one is retried on a later request).
    """

    def __init__(
        self,
        catalog: ModelCatalog,
        aliases: dict[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        reload_cooldown: float = RELOAD_COOLDOWN_SECONDS,
    ) -> None:
        self._catalog = catalog
        self._aliases = dict(aliases or {})
        self._clock = clock
        self._cooldown = reload_cooldown
        self._names: frozenset[str] = frozenset()
        self._loaded = False
        self._last_attempt: float | None = None

    @property
    def loaded(self) -> bool:
        return self._loaded

    def _reload(self, force: bool = False) -> None:
        now = self._clock()
        if not force and self._last_attempt is not None and now - self._last_attempt < self._cooldown:
            return
        self._last_attempt = now
        try:
            names = frozenset(self._catalog.model_names())
        except CatalogUnavailable as exc:
            log.debug("model list not available yet: %s", exc)
            return
        if not names:
            log.debug("model list is empty; will retry")
            return
        self._names = names
        self._loaded = True

    def knows(self, name: str) -> bool:
        """True if `name` is a model_name or matches a wildcard model_name. Reloads (with cooldown) on a miss."""
        if not self._loaded:
            self._reload(force=self._last_attempt is None)
        if self._matches(name):
            return True
        self._reload()
        return self._matches(name)

    def _matches(self, name: str) -> bool:
        if name in self._names:
            return True
        return any("*" in pattern and fnmatch.fnmatchcase(name, pattern) for pattern in self._names)

    def names(self) -> Sequence[str]:
        if not self._loaded:
            self._reload(force=self._last_attempt is None)
        return sorted(self._names)

    def resolve(self, name: str) -> str | None:
        """The served model_name for `name`: through its alias chain (upstream's `default -> claude-...`)
        as far as the targets are served, else `name` itself; None if neither is served."""
        seen = {name}
        current = name
        while (
            current in self._aliases
            and self._aliases[current] not in seen
            and self.knows(self._aliases[current])
        ):
            current = self._aliases[current]
            seen.add(current)
        return current if current != name or self.knows(name) else None

    def route(
        self, label: str | None, requested: str, passthrough: bool, override: ModelChoice | None = None
    ) -> Route:
        """Choose the model_name for a request.

        - a rule label routes to the model_name equal to the label, else to `default`;
        - `override` (the quick model switch) serves requests that matched no rule, or all with `force_all`;
        - with `passthrough` the requested model is kept (reason "unknown" if the proxy doesn't serve it);
        - otherwise the `default` model serves it.
        """
        default = self.resolve("default")
        chosen = self.resolve(override.model) if override is not None else None
        if override is not None and override.force_all and chosen is not None:
            return Route(chosen, f"override {override.model} (all requests)", by_override=True)
        if label is not None and label != "default":
            target = self.resolve(label)
            if target is not None:
                return Route(target, f"rule {label}")
            if default is not None:
                return Route(default, f"rule {label} (no model {label!r}; default)")
        if override is not None and chosen is not None:
            return Route(chosen, f"override {override.model}", by_override=True)
        if passthrough or default is None:
            return Route(requested, "passthrough" if self.knows(requested) else "unknown")
        return Route(default, "default")
