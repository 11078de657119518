"""Model discovery for the tray's pickers: which models each added provider lists that config.yaml doesn't
have yet, asked (`ccproxy provider models NAME --json`, in a child) in a thread of its own when the added
providers change and every `interval` seconds after.

Only providers whose preset lists models (OpenRouter, Ollama, LM Studio, OpenAI-compatible servers) are
asked. A provider that can't be asked (unreachable, refused, slow) keeps what it offered last time.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence

from ..providers.presets import PRESETS

__all__ = ["ModelDiscoverer", "Offered", "parse_offered"]

log = logging.getLogger(__name__)

Offered = tuple[tuple[str, tuple[str, ...]], ...]
"""(provider, the model names it lists that config.yaml doesn't have), in the providers' order."""

ListModels = Callable[[str], str | None]
"""`ccproxy provider models NAME --json`'s output, or None when it failed."""

_LISTS_MODELS = frozenset(p.name for p in PRESETS if p.discovery is not None)


def parse_offered(output: str) -> tuple[str, ...] | None:
    """The not-yet-added models in `provider models --json` output; None unless they came from the provider
    itself (the preset's own list is already what `provider add` offers)."""
    try:
        data = json.loads(output)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("source") != "provider":
        return None
    rows = data.get("models")
    if not isinstance(rows, list):
        return None
    return tuple(
        str(row["name"]) for row in rows if isinstance(row, dict) and row.get("name") and not row.get("added")
    )


class ModelDiscoverer:
    def __init__(
        self,
        list_models: ListModels,
        on_update: Callable[[Offered], None],
        interval: float = 600.0,
    ) -> None:
        self._list_models = list_models
        self._on_update = on_update
        self._interval = interval
        self._providers: tuple[str, ...] = ()
        self._offered: dict[str, tuple[str, ...]] = {}
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def want(self, providers: Sequence[str]) -> None:
        """Ask these providers (the added ones, in menu order) from now on; asks at once when they changed."""
        wanted = tuple(name for name in providers if name in _LISTS_MODELS)
        with self._lock:
            if wanted == self._providers:
                return
            self._providers = wanted
        self._wake.set()

    def refresh(self) -> None:
        """Ask again now (after a model was added from a picker)."""
        self._wake.set()

    def discover_once(self) -> Offered:
        """Ask every wanted provider once; returns (and reports) what they offer."""
        with self._lock:
            providers = self._providers
        for name in providers:
            output = self._list_models(name)
            offered = parse_offered(output) if output is not None else None
            if offered is not None:
                self._offered[name] = offered
            else:
                log.info("model discovery: %s did not answer; its picker keeps what it listed before", name)
        result = tuple((name, self._offered[name]) for name in providers if self._offered.get(name))
        self._on_update(result)
        return result

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tray-model-discovery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stopped.is_set():
                return
            try:
                self.discover_once()
            except Exception:  # a picker's extras must never take the tray down
                log.exception("model discovery failed")
