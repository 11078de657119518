"""Where credentials are kept: the `SecretStore` protocol and the stores that need no OS keyring.

The OS keyring store is `keyring_store.KeyringStore` (a separate module, so that the credential manager and its
tests never import the `keyring` library). `MemoryStore` keeps secrets for the running process only;
`FileStore` is an explicit opt-in to a plaintext file.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any, Protocol

from ..config.paths import atomic_write
from .credential import Credential, CredentialError

__all__ = [
    "MASTER_KEY_NAME",
    "SERVICE_NAME",
    "FileStore",
    "MemoryStore",
    "SecretStore",
    "SecretStoreUnavailable",
    "check_provider_name",
    "keyring_help",
]

SERVICE_NAME = "ccproxy-desktop"
"""The keyring service every entry of ours is stored under."""

MASTER_KEY_NAME = "__master_key__"
"""The entry (keyring username) holding the proxy's master key."""

_RESERVED_PREFIX = "__"


class SecretStoreUnavailable(Exception):
    """The store can't be used: the message says what is missing and how to fix it, never a secret."""


class SecretStore(Protocol):
    """Credentials by provider name, plus the proxy's master key.

    Every method may raise `SecretStoreUnavailable`; `get` raises `CredentialError` for an entry it can read
    but not parse. Calls may block (D-Bus, a file): call them from a thread, not on an event loop.
    """

    def get(self, provider: str) -> Credential | None:
        """The credential stored for `provider`, or None."""

    def set(self, credential: Credential) -> None:
        """Store `credential` under its provider's name, replacing any previous one."""

    def delete(self, provider: str) -> bool:
        """Remove `provider`'s credential; False when there was none."""

    def providers(self) -> list[str]:
        """The providers with a stored credential, sorted."""

    def get_master_key(self) -> str | None: ...

    def set_master_key(self, key: str) -> None: ...

    def describe(self) -> str:
        """Which backend this is, for `ccproxy doctor`, `auth status` and the tray."""


def check_provider_name(provider: str) -> str:
    """`provider`, if it can name an entry; ValueError for empty or reserved (`__...`) names."""
    if not provider or provider.startswith(_RESERVED_PREFIX):
        raise ValueError(f"{provider!r} can't be a provider name")
    return provider


def keyring_help(platform: str = sys.platform) -> str:
    """How to get a working OS keyring on `platform` (a `sys.platform` value)."""
    if platform == "darwin":
        return (
            "unlock the login keychain (Keychain Access, or `security unlock-keychain`) and allow this Python "
            "to use it when macOS asks"
        )
    if platform == "win32":
        return (
            "run as a user whose Windows Credential Manager is available (a logged-in user with a profile, "
            "not a service account)"
        )
    return (
        "install and unlock a Secret Service keyring, such as GNOME Keyring (`gnome-keyring`) or KWallet, "
        "in a desktop session with a D-Bus session bus; or choose another backend with "
        "PYTHON_KEYRING_BACKEND; `python3 -m keyring diagnose` shows what keyring finds"
    )


class MemoryStore:
    """Secrets for this process only: lost when it exits. Thread-safe."""

    def __init__(self) -> None:
        self._entries: dict[str, str] = {}
        self._master_key: str | None = None
        self._lock = threading.Lock()

    def get(self, provider: str) -> Credential | None:
        with self._lock:
            text = self._entries.get(check_provider_name(provider))
        return None if text is None else Credential.from_json(text, provider)

    def set(self, credential: Credential) -> None:
        text = credential.to_json()
        with self._lock:
            self._entries[check_provider_name(credential.provider)] = text

    def delete(self, provider: str) -> bool:
        with self._lock:
            return self._entries.pop(check_provider_name(provider), None) is not None

    def providers(self) -> list[str]:
        with self._lock:
            return sorted(self._entries)

    def get_master_key(self) -> str | None:
        with self._lock:
            return self._master_key

    def set_master_key(self, key: str) -> None:
        with self._lock:
            self._master_key = key

    def describe(self) -> str:
        return "memory (this session only: secrets are lost when the proxy stops)"


class FileStore:
    """PLAINTEXT secrets in one JSON file (mode 0600): anyone who can read the file, or a backup of it, has
    the tokens. Used only when the user opts in explicitly in the config, for machines without a keyring.

    The file is re-read on every call (another process may have changed it) and replaced atomically.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def get(self, provider: str) -> Credential | None:
        entry = self._read()["credentials"].get(check_provider_name(provider))
        if entry is None:
            return None
        if not isinstance(entry, dict):
            raise CredentialError(f"the credential for {provider} in {self.path} is not a JSON object")
        return Credential.from_json(json.dumps(entry), provider)

    def set(self, credential: Credential) -> None:
        entry = json.loads(credential.to_json())
        with self._lock:
            document = self._read()
            document["credentials"][check_provider_name(credential.provider)] = entry
            self._write(document)

    def delete(self, provider: str) -> bool:
        with self._lock:
            document = self._read()
            if document["credentials"].pop(check_provider_name(provider), None) is None:
                return False
            self._write(document)
            return True

    def providers(self) -> list[str]:
        return sorted(self._read()["credentials"])

    def get_master_key(self) -> str | None:
        key = self._read().get("master_key")
        return key if isinstance(key, str) and key else None

    def set_master_key(self, key: str) -> None:
        with self._lock:
            document = self._read()
            document["master_key"] = key
            self._write(document)

    def describe(self) -> str:
        return f"plaintext file {self.path} (not encrypted: readable by anyone who can read the file)"

    def _read(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"version": 1, "credentials": {}}
        except OSError as exc:
            raise SecretStoreUnavailable(f"can't read the secrets file {self.path}: {exc.strerror}") from None
        try:
            document = json.loads(text)
        except ValueError:
            raise SecretStoreUnavailable(
                f"the secrets file {self.path} is not JSON: fix or remove it"
            ) from None
        if not isinstance(document, dict) or not isinstance(document.get("credentials", {}), dict):
            raise SecretStoreUnavailable(f"the secrets file {self.path} is malformed: fix or remove it")
        document.setdefault("credentials", {})
        return document

    def _write(self, document: dict[str, Any]) -> None:
        text = json.dumps(document, indent=2)
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            atomic_write(self.path, text.encode("utf-8"), 0o600)
        except OSError as exc:
            raise SecretStoreUnavailable(
                f"can't write the secrets file {self.path}: {exc.strerror}"
            ) from None
