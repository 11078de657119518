"""The OS keyring as a `SecretStore` (the `keyring` library), and the choice of store at start-up.

Entries live under the service `ccproxy-desktop`: username = provider name, secret = the Credential's JSON;
the master key under `__master_key__`; `__providers__` lists the provider names (keyrings can't be listed).
Every backend error becomes `SecretStoreUnavailable` with what is missing and how to fix it, never a secret.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

import keyring
from keyring.backend import KeyringBackend
from keyring.backends.chainer import ChainerBackend
from keyring.errors import (
    InitError,
    KeyringError,
    KeyringLocked,
    NoKeyringError,
    PasswordDeleteError,
    PasswordSetError,
)

from .credential import Credential
from .store import (
    MASTER_KEY_NAME,
    SERVICE_NAME,
    MemoryStore,
    SecretStore,
    SecretStoreUnavailable,
    check_provider_name,
    keyring_help,
)

__all__ = [
    "BACKEND_ERRORS",
    "PROBE_TIMEOUT_S",
    "KeyringStore",
    "insecure_reason",
    "open_secret_store",
    "unavailable",
]

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 5.0
"""How long `open_secret_store` waits for the keyring to answer (a locked keyring may wait on a prompt)."""

INDEX_NAME = "__providers__"
_PROBE_NAME = "__probe__"

T = TypeVar("T")


def _backend_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a keyring call can raise for reasons outside our code. Besides keyring's own, the
    Secret Service backend lets D-Bus errors through when the daemon goes away mid-session."""
    errors: list[type[BaseException]] = [KeyringError, OSError]
    try:
        from jeepney.wrappers import DBusErrorResponse
        from secretstorage.exceptions import SecretStorageException
    except ImportError:  # not on macOS/Windows: those backends raise only KeyringError/OSError
        return tuple(errors)
    return (*errors, SecretStorageException, DBusErrorResponse)


BACKEND_ERRORS = _backend_errors()

_SUMMARIES: tuple[tuple[type[BaseException], str], ...] = (
    (TimeoutError, "the OS keyring did not answer (locked, and waiting on an unlock prompt?)"),
    (NoKeyringError, "no OS keyring is available"),
    (KeyringLocked, "the OS keyring is locked and was not unlocked"),
    (InitError, "the OS keyring could not be opened (not running, or its unlock prompt was dismissed)"),
    (PasswordSetError, "the OS keyring refused to store the entry"),
    (PasswordDeleteError, "the OS keyring refused to delete the entry"),
)


def _backend_name(backend: KeyringBackend) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


def _redacted(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def _failure(exc: BaseException, backend_name: str, secrets: Iterable[str] = ()) -> str:
    """What went wrong, in words, with the backend's own message (secrets redacted)."""
    summary = next((text for kind, text in _SUMMARIES if isinstance(exc, kind)), "the OS keyring failed")
    detail = _redacted(str(exc), secrets)[:300] or "no details"
    return f"{summary} ({backend_name}: {type(exc).__name__}: {detail})"


def unavailable(
    exc: BaseException,
    action: str,
    backend_name: str,
    secrets: Iterable[str] = (),
    platform: str = sys.platform,
) -> SecretStoreUnavailable:
    """The error to raise for backend error `exc` while doing `action` ("reading 'anthropic'")."""
    return SecretStoreUnavailable(
        f"{_failure(exc, backend_name, secrets)} while {action} in service {SERVICE_NAME!r}. "
        f"To fix: {keyring_help(platform)}"
    )


class KeyringStore:
    """Credentials in the OS keyring through `backend` (default: the one `keyring` chose). Every call may
    block on D-Bus or a system prompt: call it from a thread, not on an event loop."""

    def __init__(self, backend: KeyringBackend | None = None, *, platform: str = sys.platform) -> None:
        self.backend = keyring.get_keyring() if backend is None else backend
        self._platform = platform
        self._index_lock = threading.Lock()

    def describe(self) -> str:
        return f"OS keyring ({_backend_name(self.backend)})"

    def get(self, provider: str) -> Credential | None:
        name = check_provider_name(provider)
        text = self._call(f"reading {name!r}", lambda: self.backend.get_password(SERVICE_NAME, name))
        return None if text is None else Credential.from_json(text, name)

    def set(self, credential: Credential) -> None:
        name = check_provider_name(credential.provider)
        secret = credential.to_json()
        secrets = (secret, credential.access_token, credential.refresh_token or "")
        self._call(
            f"storing {name!r}", lambda: self.backend.set_password(SERVICE_NAME, name, secret), secrets
        )
        self._update_index(add=name)

    def delete(self, provider: str) -> bool:
        name = check_provider_name(provider)
        # Backends raise PasswordDeleteError for a missing entry too: look first, so that "not there" is
        # an answer and a refusal to delete an existing entry is an error.
        present = self._call(f"reading {name!r}", lambda: self.backend.get_password(SERVICE_NAME, name))
        if present is not None:
            self._call(f"deleting {name!r}", lambda: self.backend.delete_password(SERVICE_NAME, name))
        self._update_index(remove=name)
        return present is not None

    def providers(self) -> list[str]:
        return sorted(self._read_index())

    def get_master_key(self) -> str | None:
        return self._call(
            "reading the master key", lambda: self.backend.get_password(SERVICE_NAME, MASTER_KEY_NAME)
        )

    def set_master_key(self, key: str) -> None:
        self._call(
            "storing the master key",
            lambda: self.backend.set_password(SERVICE_NAME, MASTER_KEY_NAME, key),
            (key,),
        )

    # -- internals -----------------------------------------------------------------------------------------

    def _call(self, action: str, operation: Callable[[], T], secrets: Iterable[str] = ()) -> T:
        try:
            return operation()
        except BACKEND_ERRORS as exc:
            # `from None`: the backend's own exception may quote what it was given.
            raise unavailable(exc, action, _backend_name(self.backend), secrets, self._platform) from None

    def _read_index(self) -> frozenset[str]:
        text = self._call(
            "reading the provider list", lambda: self.backend.get_password(SERVICE_NAME, INDEX_NAME)
        )
        if text is None:
            return frozenset()
        try:
            names = json.loads(text)
        except ValueError:
            names = None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            log.warning("the keyring's provider list is malformed; starting a new one")
            return frozenset()
        return frozenset(names)

    def _update_index(self, *, add: str | None = None, remove: str | None = None) -> None:
        with self._index_lock:
            names = self._read_index()
            updated = (names | {add} if add else names) - {remove}
            if updated != names:
                text = json.dumps(sorted(updated))
                self._call(
                    "updating the provider list",
                    lambda: self.backend.set_password(SERVICE_NAME, INDEX_NAME, text),
                )


# -- choosing a store ----------------------------------------------------------------------------------------


def insecure_reason(backend: KeyringBackend) -> str | None:
    """Why `backend` must not hold secrets, or None when it is a real OS keyring."""
    module = type(backend).__module__
    if module == "keyring.backends.fail":
        return "no OS keyring backend was found"
    if module == "keyring.backends.null":
        return "the keyring backend is the null backend, which stores nothing"
    if module.startswith("keyrings.alt"):
        return f"the keyring backend {_backend_name(backend)} stores secrets in a plaintext or weakly encrypted file"
    return None


def _secure_backend(backend: KeyringBackend) -> tuple[KeyringBackend | None, str | None]:
    """(backend to use, None) or (None, why there is none). A chainer is replaced by its best secure member:
    it would otherwise read from, and on some errors write to, a plaintext backend chained behind it."""
    if isinstance(backend, ChainerBackend):
        members: list[KeyringBackend] = list(backend.backends)
        secure = [member for member in members if insecure_reason(member) is None]
        if secure:
            return secure[0], None
        return None, "no secure backend among " + ", ".join(_backend_name(m) for m in members)
    reason = insecure_reason(backend)
    return (None, reason) if reason else (backend, None)


def _probe(backend: KeyringBackend, timeout: float) -> BaseException | None:
    """Reads a harmless entry on a helper thread; the backend error, a TimeoutError, or None when it works."""
    outcome: list[BaseException | None] = []
    answered = threading.Event()

    def read() -> None:
        try:
            backend.get_password(SERVICE_NAME, _PROBE_NAME)
            outcome.append(None)
        except Exception as exc:  # whatever it is, this keyring doesn't work: reported in the warning
            outcome.append(exc)
        finally:
            answered.set()

    # A daemon thread: a keyring stuck on an unlock prompt must not keep the process alive.
    threading.Thread(target=read, name="keyring-probe", daemon=True).start()
    if not answered.wait(timeout):
        return TimeoutError(f"no answer within {timeout:g} s")
    return outcome[0]


def _memory_fallback(reason: str, platform: str) -> tuple[SecretStore, str]:
    warning = (
        f"No usable OS keyring: {reason}. Provider tokens are kept in memory for this session only and are "
        f"lost when the proxy stops. To keep them: {keyring_help(platform)}."
    )
    return MemoryStore(), warning  # the caller says it, once


def open_secret_store(
    backend: KeyringBackend | None = None,
    *,
    probe_timeout: float = PROBE_TIMEOUT_S,
    platform: str = sys.platform,
) -> tuple[SecretStore, str | None]:
    """The OS keyring when a secure one answers, else a `MemoryStore` and a warning for the user.

    `backend` defaults to the one `keyring` chooses (or PYTHON_KEYRING_BACKEND names). The fail and null
    backends and `keyrings.alt`'s file backends are not secure. Blocks up to `probe_timeout` seconds.
    """
    if backend is None:
        try:
            backend = keyring.get_keyring()
        except (ImportError, AttributeError, RuntimeError, ValueError) as exc:
            return _memory_fallback(f"the keyring backend could not be loaded ({exc})", platform)
    chosen, reason = _secure_backend(backend)
    if chosen is None:
        return _memory_fallback(reason or "no secure backend", platform)
    failure = _probe(chosen, probe_timeout)
    if failure is not None:
        return _memory_fallback(_failure(failure, _backend_name(chosen)), platform)
    return KeyringStore(chosen, platform=platform), None
