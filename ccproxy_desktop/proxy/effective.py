"""The LiteLLM config the proxy process actually runs: the user's config.yaml with our callback in it.

Written to `run/litellm.config.yaml` (0600: it may hold keys the user put in config.yaml).
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from ..config.compat import OUR_CALLBACK, UPSTREAM_CALLBACKS
from ..config.loader import Settings
from ..config.paths import create_private_file

__all__ = ["effective_litellm_config", "write_effective_config"]


def _callbacks(value: Any) -> list[Any]:
    items = value if isinstance(value, list) else ([value] if value else [])
    kept = [c for c in items if not (isinstance(c, str) and (c in UPSTREAM_CALLBACKS or c == OUR_CALLBACK))]
    return [OUR_CALLBACK, *kept]


def effective_litellm_config(settings: Settings) -> dict[str, Any]:
    """config.yaml as LiteLLM should load it: upstream ccproxy callback entries replaced by ours
    (first, so routing happens before other callbacks see the request), and LiteLLM's own retries off
    (`num_retries: 0`, our retry layer applies the `retry_*` keys) unless config.yaml sets `num_retries`."""
    data = copy.deepcopy(settings.litellm.model_dump(mode="json", exclude_none=True))
    litellm_settings = dict(data.get("litellm_settings") or {})
    litellm_settings["callbacks"] = _callbacks(litellm_settings.get("callbacks"))
    data["litellm_settings"] = litellm_settings
    data["model_list"] = [
        {k: v for k, v in entry.items() if not (k == "model_info" and not v)}
        for entry in data.get("model_list", [])
    ]
    router_settings = dict(data.get("router_settings") or {})
    if "num_retries" not in router_settings and "num_retries" not in litellm_settings:
        router_settings["num_retries"] = 0
    data["router_settings"] = router_settings
    if not router_settings:
        data.pop("router_settings")
    return data


def write_effective_config(settings: Settings) -> None:
    text = yaml.safe_dump(effective_litellm_config(settings), sort_keys=False)
    create_private_file(settings.paths.effective_litellm_yaml, text)
