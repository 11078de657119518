"""Model discovery: ask a provider which models it serves, with a short timeout.

OpenRouter (`GET /api/v1/models`), Ollama (`GET /api/tags`), LM Studio and any OpenAI-compatible server
(`GET /v1/models`). Any failure (unreachable, slow, a 401, an odd answer) returns None: callers fall back to
the preset's own list. The key is sent only as the Authorization header, never logged.
"""

from __future__ import annotations

from typing import Any

import httpx

from .presets import Preset

__all__ = ["DISCOVERY_TIMEOUT_S", "discover_models", "models_url"]

DISCOVERY_TIMEOUT_S = 3.0


def models_url(preset: Preset, api_base: str) -> str | None:
    """Where `preset` at `api_base` lists its models, or None when it doesn't."""
    base = api_base.rstrip("/")
    if preset.discovery == "ollama":
        return f"{base}/api/tags"
    if preset.discovery == "openrouter":
        # The Anthropic-compatible base is https://openrouter.ai/api; the list is under its v1.
        return f"{base.removesuffix('/v1')}/v1/models"
    if preset.discovery == "openai":
        return f"{base}/models" if base.endswith("/v1") else f"{base}/v1/models"
    return None


def _names(data: Any) -> list[str]:
    rows = data.get("models") if isinstance(data, dict) and "models" in data else None
    if rows is not None:  # Ollama: {"models": [{"name": "llama3.1:latest", ...}]}
        return [str(r.get("name") or r.get("model")) for r in rows if isinstance(r, dict)]
    rows = data.get("data") if isinstance(data, dict) else None  # OpenAI / OpenRouter: {"data": [{"id"}]}
    if isinstance(rows, list):
        return [str(r["id"]) for r in rows if isinstance(r, dict) and r.get("id")]
    return []


def discover_models(
    preset: Preset,
    api_base: str,
    api_key: str | None = None,
    timeout: float = DISCOVERY_TIMEOUT_S,
    transport: httpx.BaseTransport | None = None,
) -> list[str] | None:
    """The model ids the provider lists, sorted, or None when it can't be asked or didn't answer."""
    url = models_url(preset, api_base)
    if url is None:
        return None
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        with httpx.Client(timeout=timeout, transport=transport) as client:
            response = client.get(url, headers=headers)
        if response.status_code != 200:
            return None
        names = _names(response.json())
    except (httpx.HTTPError, ValueError):
        return None
    return sorted(set(names)) or None
