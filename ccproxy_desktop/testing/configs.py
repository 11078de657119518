"""Config folders wired to a fake provider: used by `ccproxy demo`, the tests and the benchmarks."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import yaml

from ..config.loader import install_defaults
from ..config.paths import ConfigPaths

__all__ = ["DEMO_MODELS", "free_port", "write_fake_config"]

# model_name -> (provider model, format). Every rule of the default ccproxy.yaml has a model here.
DEMO_MODELS: dict[str, tuple[str, str]] = {
    "default": ("claude-sonnet-5", "anthropic"),
    "background": ("claude-haiku-4-5-20251001", "anthropic"),
    "think": ("claude-opus-4-8", "anthropic"),
    "token_count": ("claude-sonnet-5-1m", "anthropic"),
    "web_search": ("gpt-4o-search-preview", "openai"),
    "claude-*": ("claude-*", "anthropic"),
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def model_entry(
    name: str, target: str, fmt: str, provider_url: str, api_key: str = "fake-provider-key"
) -> dict[str, Any]:
    if fmt == "openai":
        params = {"model": f"openai/{target}", "api_base": f"{provider_url}/v1", "api_key": api_key}
    elif fmt == "gemini":  # as `ccproxy provider add gemini --api-base URL` writes it
        params = {"model": f"gemini/{target}", "api_base": f"{provider_url}/v1beta", "api_key": api_key}
    elif fmt == "ollama":  # Ollama's native /api/chat; a local server takes no key
        params = {"model": f"ollama_chat/{target}", "api_base": provider_url}
    else:
        params = {"model": f"anthropic/{target}", "api_base": provider_url, "api_key": api_key}
    return {"model_name": name, "litellm_params": params}


def write_fake_config(
    config_dir: Path,
    provider_url: str,
    port: int,
    models: dict[str, tuple[str, str]] | None = None,
    ccproxy: dict[str, Any] | None = None,
    litellm_extra: dict[str, Any] | None = None,
    workers: int = 1,
) -> ConfigPaths:
    """Write ccproxy.yaml (the default rules unless `ccproxy` overrides the section; `workers` uvicorn
    workers) and a config.yaml whose models all point at the fake provider at `provider_url`."""
    paths = ConfigPaths(config_dir)
    install_defaults(paths, force=True)
    for backup in config_dir.glob("*.bak"):
        backup.unlink()
    settings = yaml.safe_load(paths.ccproxy_yaml.read_text())
    settings["litellm"] = {"host": "127.0.0.1", "port": port, "num_workers": workers}
    if ccproxy is not None:
        settings["ccproxy"] = ccproxy
    paths.ccproxy_yaml.write_text(yaml.safe_dump(settings, sort_keys=False))
    entries = [
        model_entry(name, target, fmt, provider_url)
        for name, (target, fmt) in (models or DEMO_MODELS).items()
    ]
    litellm: dict[str, Any] = {"model_list": entries, "litellm_settings": {"drop_params": True}}
    litellm.update(litellm_extra or {})
    paths.litellm_yaml.write_text(yaml.safe_dump(litellm, sort_keys=False))
    return paths
