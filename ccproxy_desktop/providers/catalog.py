"""Context windows and prices of preset models, from LiteLLM's price map, read lazily as a JSON file.

`import litellm` costs seconds; this module never imports it. It finds the package's bundled
`model_prices_and_context_window_backup.json` on disk (LiteLLM's local copy, the one it uses with
LITELLM_LOCAL_MODEL_COST_MAP=True) and reads it once, on first use. Nothing here runs on the proxy's start path.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .presets import PresetModel

__all__ = ["ModelFacts", "PriceMap"]

_MAP_FILE = "model_prices_and_context_window_backup.json"


@dataclass(frozen=True)
class ModelFacts:
    """What is known about a model: USD per million tokens, the context window (None: unknown)."""

    name: str
    context_window: int | None
    input_per_mtok: float | None
    output_per_mtok: float | None
    from_price_map: bool

    def describe(self) -> str:
        parts = []
        if self.context_window:
            parts.append(f"{self.context_window // 1000}k context")
        if self.input_per_mtok is not None and self.output_per_mtok is not None:
            parts.append(f"${self.input_per_mtok:g}/${self.output_per_mtok:g} per Mtok in/out")
        return ", ".join(parts) or "no price data"


def _litellm_map_file() -> Path | None:
    spec = importlib.util.find_spec("litellm")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / _MAP_FILE
        if candidate.is_file():
            return candidate
    return None


def _per_mtok(value: Any) -> float | None:
    return round(float(value) * 1_000_000, 6) if isinstance(value, (int, float)) else None


class PriceMap:
    """LiteLLM's price map, loaded on first lookup. `source` overrides the file (tests)."""

    def __init__(self, source: Path | None = None, data: dict[str, Any] | None = None) -> None:
        self._source = source
        self._data = data
        self._lock = threading.Lock()

    def _entries(self) -> dict[str, Any]:
        with self._lock:
            if self._data is None:
                path = self._source or _litellm_map_file()
                try:
                    loaded = json.loads(path.read_text(encoding="utf-8")) if path else {}
                except (OSError, ValueError):
                    loaded = {}
                self._data = loaded if isinstance(loaded, dict) else {}
            return self._data

    def facts(self, model: PresetModel) -> ModelFacts:
        entry = self._entries().get(model.cost_key or "") if model.cost_key else None
        if not isinstance(entry, dict):
            return ModelFacts(model.name, model.context_window, None, None, False)
        window = entry.get("max_input_tokens") or entry.get("max_tokens")
        return ModelFacts(
            model.name,
            int(window) if isinstance(window, (int, float)) else model.context_window,
            _per_mtok(entry.get("input_cost_per_token")),
            _per_mtok(entry.get("output_cost_per_token")),
            True,
        )
