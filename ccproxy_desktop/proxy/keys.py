"""The proxy's master key: the key clients use. Kept in the OS keyring when a secure one exists (or the
opted-in credentials file), else in a 0600 file in the config folder; handed to `ccproxy run` children."""

from __future__ import annotations

import secrets

from ..auth.store import SecretStore, SecretStoreUnavailable
from ..auth.stores import is_persistent, store_for
from ..config.loader import Settings
from ..config.paths import ConfigPaths, create_private_file

__all__ = ["ensure_master_key", "master_key", "proxy_keys", "read_master_key"]


def _new_key() -> str:
    return "sk-ccproxy-" + secrets.token_urlsafe(32)


def _read_file(paths: ConfigPaths) -> str | None:
    try:
        value = paths.master_key_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return value or None


def _secure_store(paths: ConfigPaths) -> SecretStore | None:
    store, _ = store_for(paths)
    return store if is_persistent(store) else None


def ensure_master_key(paths: ConfigPaths) -> str:
    """The master key, created if there is none yet: in the secret store when one persists (moving an
    existing master.key file into it), else in master.key (0600)."""
    store = _secure_store(paths)
    if store is not None:
        try:
            key = store.get_master_key()
            if key:
                return key
            key = _read_file(paths) or _new_key()
            store.set_master_key(key)
            paths.master_key_file.unlink(missing_ok=True)
            return key
        except SecretStoreUnavailable:
            pass
    existing = _read_file(paths)
    if existing:
        return existing
    key = _new_key()
    create_private_file(paths.master_key_file, key + "\n")
    return key


def read_master_key(paths: ConfigPaths) -> str | None:
    existing = _read_file(paths)
    if existing:
        return existing
    store = _secure_store(paths)
    if store is None:
        return None
    try:
        return store.get_master_key()
    except SecretStoreUnavailable:
        return None


def master_key(settings: Settings) -> str | None:
    """The key clients use: config.yaml's own `general_settings.master_key` wins over ours."""
    configured = settings.litellm.general_settings.get("master_key")
    if isinstance(configured, str) and configured and not configured.startswith("os.environ/"):
        return configured
    return read_master_key(settings.paths)


def proxy_keys(settings: Settings) -> frozenset[str]:
    key = master_key(settings)
    return frozenset({key}) if key else frozenset()
