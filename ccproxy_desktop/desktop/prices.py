"""What a model_name of config.yaml costs, for choosing a cheaper model: `pricing:` in ccproxy.yaml first, then
LiteLLM's bundled price map, read from its JSON file without importing LiteLLM (the tray must stay small:
importing LiteLLM takes tens of MB and seconds). The map is read only when a price is first asked for.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from ..config.loader import Settings
from ..ledger.pricing import Price, price_from_litellm_map, price_from_spec

__all__ = ["ModelPrices", "litellm_price_map"]

log = logging.getLogger(__name__)

PRICE_MAP_FILE = "model_prices_and_context_window_backup.json"

PriceMap = Mapping[str, Mapping[str, object]]


def litellm_price_map() -> PriceMap:
    """LiteLLM's bundled price map (empty if LiteLLM or the file is missing). Does not import LiteLLM."""
    try:
        spec = importlib.util.find_spec("litellm")
    except (ImportError, ValueError):
        return {}
    if spec is None or spec.origin is None:
        return {}
    path = Path(spec.origin).parent / PRICE_MAP_FILE
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        log.warning("LiteLLM's price map %s can't be read: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


class ModelPrices:
    """`price(model_name)`: USD per million input plus output tokens, or None when unknown."""

    def __init__(self, settings: Settings, price_map: Callable[[], PriceMap] = litellm_price_map) -> None:
        self._settings = settings
        self._price_map = price_map
        self._map: PriceMap | None = None
        self._cache: dict[str, float | None] = {}

    def price(self, model_name: str) -> float | None:
        if model_name not in self._cache:
            found = self._lookup(model_name)
            self._cache[model_name] = None if found is None else (found.input + found.output) * 1e6
        return self._cache[model_name]

    def _lookup(self, model_name: str) -> Price | None:
        overrides = self._settings.ccproxy.pricing
        target = next((m.target for m in self._settings.litellm.model_list if m.model_name == model_name), "")
        for name in (model_name, target, target.rsplit("/", 1)[-1]):
            if name and name in overrides:
                return price_from_spec(overrides[name])
        if not target or "*" in target:
            return None
        if self._map is None:
            self._map = self._price_map()
        return price_from_litellm_map(self._map, target)
