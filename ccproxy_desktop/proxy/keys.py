"""The proxy's master key: created once, kept 0600 in the config folder, handed to `ccproxy run` children."""

from __future__ import annotations

import secrets

from ..config.loader import Settings
from ..config.paths import ConfigPaths, create_private_file

__all__ = ["ensure_master_key", "master_key", "proxy_keys"]


def ensure_master_key(paths: ConfigPaths) -> str:
    """The stored master key, creating it (0600) if there is none yet."""
    existing = read_master_key(paths)
    if existing:
        return existing
    key = "sk-ccproxy-" + secrets.token_urlsafe(32)
    create_private_file(paths.master_key_file, key + "\n")
    return key


def read_master_key(paths: ConfigPaths) -> str | None:
    try:
        value = paths.master_key_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return value or None


def master_key(settings: Settings) -> str | None:
    """The key clients use: config.yaml's own `general_settings.master_key` wins over ours."""
    configured = settings.litellm.general_settings.get("master_key")
    if isinstance(configured, str) and configured and not configured.startswith("os.environ/"):
        return configured
    return read_master_key(settings.paths)


def proxy_keys(settings: Settings) -> frozenset[str]:
    key = master_key(settings)
    return frozenset({key}) if key else frozenset()
