"""Which secret store this config folder uses: the OS keyring (default), or the plaintext file the user
opted into with `credential_store: file`. Without a secure keyring: memory only, and a warning."""

from __future__ import annotations

from ..config.paths import ConfigPaths
from .store import FileStore, MemoryStore, SecretStore

__all__ = ["open_store", "store_for"]


def open_store(paths: ConfigPaths, kind: str) -> tuple[SecretStore, str | None]:
    """(store, warning). `kind` is the config's `credential_store`."""
    if kind == "file":
        return FileStore(paths.credentials_file), None
    from .keyring_store import open_secret_store

    return open_secret_store()


def store_for(paths: ConfigPaths) -> tuple[SecretStore, str | None]:
    """The store named by the config folder's ccproxy.yaml (keyring if the config can't be read)."""
    from ..config.loader import ConfigInvalid, load_settings

    try:
        kind = load_settings(paths).ccproxy.credential_store
    except ConfigInvalid:
        kind = "keyring"
    return open_store(paths, kind)


def is_persistent(store: SecretStore) -> bool:
    return not isinstance(store, MemoryStore)
