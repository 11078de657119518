"""Invalidation from outside the proxy (`ccproxy cache clear`, the tray): drop entries from `cache.db` and
signal running proxies, whose workers drop them from memory when `storage: memory`. No LiteLLM import."""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..config.paths import ConfigPaths, create_private_file
from ..config.schema import CacheSpec
from .store import CacheStats, ResponseStore, SqliteResponseStore, cache_db_path

__all__ = ["CLEAR_SIGNAL_NAME", "cache_stats", "clear_cache", "clear_signal_path", "read_clear_signal"]

CLEAR_SIGNAL_NAME = "cache.clear"


def clear_signal_path(paths: ConfigPaths) -> Path:
    """Rewritten by every clear; each proxy worker watches it."""
    return paths.config_dir / CLEAR_SIGNAL_NAME


def _disk_store(paths: ConfigPaths, spec: CacheSpec) -> SqliteResponseStore | None:
    path = cache_db_path(paths)
    if not path.exists():
        return None
    return SqliteResponseStore(path, spec.ttl_seconds, spec.max_entries, int(spec.max_size_mb * 1024 * 1024))


def clear_cache(paths: ConfigPaths, spec: CacheSpec, model: str | None = None) -> int:
    """Drop `model`'s cached answers (all when None) from `cache.db` and tell running proxies to drop them
    from memory. Returns how many entries left `cache.db`."""
    dropped = 0
    store = _disk_store(paths, spec)
    if store is not None:
        try:
            dropped = store.clear(model)
        finally:
            store.close()
    create_private_file(clear_signal_path(paths), json.dumps({"model": model, "ts": time.time()}))
    return dropped


def read_clear_signal(path: Path) -> tuple[bool, str | None]:
    """(valid, model) of a clear signal file: model None means every model."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False, None
    if not isinstance(payload, dict):
        return False, None
    model = payload.get("model")
    return True, model if isinstance(model, str) else None


def cache_stats(paths: ConfigPaths, spec: CacheSpec) -> CacheStats | None:
    """What `cache.db` holds now; None when there is no file (never enabled, or `storage: memory`)."""
    store: ResponseStore | None = _disk_store(paths, spec)
    if store is None:
        return None
    try:
        return store.stats()
    finally:
        store.close()
