"""KeyringStore through real `keyring` backend classes of the test's own, and the choice of store.

The test backends have a negative priority, so that they never become anyone's default keyring even though
defining them registers them with `keyring`; each test installs its backend with `keyring.set_keyring()` and
the fixture puts the previous one back.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import keyring
import keyring.backends.fail
import keyring.backends.null
import keyring.core
import pytest
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

from ccproxy_desktop.auth.credential import Credential
from ccproxy_desktop.auth.keyring_store import KeyringStore, open_secret_store
from ccproxy_desktop.auth.store import MemoryStore, SecretStoreUnavailable

ACCESS = "sk-ant-oat01-keyring-SECRET"
REFRESH = "sk-ant-ort01-keyring-SECRET"
CREDENTIAL = Credential("anthropic", ACCESS, refresh_token=REFRESH, expires_at=2e9, source="claude")


class DictKeyring(KeyringBackend):
    """A working keyring in a dict."""

    priority = -10

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError("No such password!")


class FailingKeyring(DictKeyring):
    """Raises `error` from the operations named in `failing`, quoting what it was given (as a careless
    backend might)."""

    def __init__(self, error: type[KeyringError], failing: frozenset[str]) -> None:
        super().__init__()
        self.error = error
        self.failing = failing

    def get_password(self, service: str, username: str) -> str | None:
        if "get" in self.failing:
            raise self.error(f"can't read {username}")
        return super().get_password(service, username)

    def set_password(self, service: str, username: str, password: str) -> None:
        if "set" in self.failing:
            raise self.error(f"refusing to store {password!r}")
        super().set_password(service, username, password)

    def delete_password(self, service: str, username: str) -> None:
        if "delete" in self.failing:
            raise self.error(f"can't delete {username}")
        super().delete_password(service, username)


class HangingKeyring(DictKeyring):
    """A keyring waiting on an unlock prompt nobody answers (until the test releases it)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def get_password(self, service: str, username: str) -> str | None:
        self.release.wait()
        return None


class PlaintextKeyring(DictKeyring):
    """Stands for keyrings.alt's file backends, which keyring may pick silently."""


PlaintextKeyring.__module__ = "keyrings.alt.file"


class ChainOf(ChainerBackend):
    """keyring's chainer over a fixed list of backends."""

    priority = -10
    members: list[KeyringBackend] = []

    @property
    def backends(self) -> list[KeyringBackend]:
        return self.members


@pytest.fixture(autouse=True)
def _restore_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    yield
    keyring.set_keyring(previous)


def test_entries_live_under_the_service_with_the_provider_as_username() -> None:
    backend = DictKeyring()
    keyring.set_keyring(backend)
    store = KeyringStore()
    store.set(CREDENTIAL)
    store.set_master_key("sk-proxy-master")

    assert json.loads(backend.entries[("ccproxy-desktop", "anthropic")])["access_token"] == ACCESS
    assert backend.entries[("ccproxy-desktop", "__master_key__")] == "sk-proxy-master"
    assert store.get("anthropic") == CREDENTIAL
    assert store.get_master_key() == "sk-proxy-master"
    assert store.providers() == ["anthropic"]
    assert "DictKeyring" in store.describe()


def test_delete_removes_the_entry_and_is_false_when_there_is_none() -> None:
    backend = DictKeyring()
    store = KeyringStore(backend)
    store.set(CREDENTIAL)
    assert store.delete("anthropic") is True
    assert store.delete("anthropic") is False
    assert store.get("anthropic") is None
    assert store.providers() == []
    assert ("ccproxy-desktop", "anthropic") not in backend.entries


ERRORS = [
    (NoKeyringError, "no OS keyring is available"),
    (InitError, "could not be opened"),
    (KeyringLocked, "is locked"),
    (PasswordSetError, "refused to store"),
    (PasswordDeleteError, "refused to delete"),
    (KeyringError, "the OS keyring failed"),
]


@pytest.mark.parametrize(("error", "summary"), ERRORS, ids=[e.__name__ for e, _ in ERRORS])
@pytest.mark.parametrize("operation", ["get", "set", "delete", "master_key"])
def test_every_keyring_error_becomes_a_helpful_unavailable_error_without_secrets(
    error: type[KeyringError], summary: str, operation: str
) -> None:
    failing = frozenset({"get", "set", "delete"} if operation != "delete" else {"delete"})
    store = KeyringStore(FailingKeyring(error, failing), platform="linux")
    if operation == "delete":
        store.backend.entries = {("ccproxy-desktop", "anthropic"): CREDENTIAL.to_json()}  # type: ignore[attr-defined]
    calls = {
        "get": lambda: store.get("anthropic"),
        "set": lambda: store.set(CREDENTIAL),
        "delete": lambda: store.delete("anthropic"),
        "master_key": lambda: store.set_master_key("sk-proxy-master"),
    }
    with pytest.raises(SecretStoreUnavailable) as caught:
        calls[operation]()
    message = str(caught.value)
    assert summary in message
    assert "ccproxy-desktop" in message
    assert "GNOME Keyring" in message  # how to fix it
    for secret in (ACCESS, REFRESH, CREDENTIAL.to_json(), "sk-proxy-master"):
        assert secret not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.parametrize(
    ("backend", "reason"),
    [
        (keyring.backends.fail.Keyring(), "no OS keyring backend was found"),
        (keyring.backends.null.Keyring(), "null backend"),
        (PlaintextKeyring(), "plaintext"),
        (FailingKeyring(InitError, frozenset({"get"})), "could not be opened"),
        (FailingKeyring(KeyringLocked, frozenset({"get"})), "is locked"),
    ],
    ids=["fail", "null", "keyrings.alt", "init-error", "locked"],
)
def test_without_a_secure_keyring_secrets_stay_in_memory_with_a_warning(
    backend: KeyringBackend, reason: str
) -> None:
    keyring.set_keyring(backend)
    store, warning = open_secret_store(platform="linux")
    assert isinstance(store, MemoryStore)
    assert warning is not None
    assert reason in warning
    assert "in memory for this session only" in warning
    assert "GNOME Keyring" in warning and "PYTHON_KEYRING_BACKEND" in warning


def test_a_keyring_that_does_not_answer_is_given_up_after_the_probe_timeout() -> None:
    backend = HangingKeyring()
    try:
        store, warning = open_secret_store(backend, probe_timeout=0.05, platform="darwin")
    finally:
        backend.release.set()
    assert isinstance(store, MemoryStore)
    assert warning is not None and "did not answer" in warning and "keychain" in warning


def test_a_working_keyring_is_used() -> None:
    backend = DictKeyring()
    keyring.set_keyring(backend)
    store, warning = open_secret_store()
    assert warning is None
    assert isinstance(store, KeyringStore) and store.backend is backend


def test_a_chain_uses_its_secure_member_never_the_plaintext_one() -> None:
    secure = DictKeyring()
    ChainOf.members = [PlaintextKeyring(), secure]
    store, warning = open_secret_store(ChainOf())
    assert warning is None
    assert isinstance(store, KeyringStore) and store.backend is secure

    ChainOf.members = [PlaintextKeyring()]
    store, warning = open_secret_store(ChainOf())
    assert isinstance(store, MemoryStore)
    assert warning is not None and "no secure backend among" in warning


def test_a_misspelt_python_keyring_backend_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.NoSuchBackend.Keyring")
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)  # as in a fresh process
    store, warning = open_secret_store(platform="linux")
    assert isinstance(store, MemoryStore)
    assert warning is not None and "the keyring backend could not be loaded" in warning
    assert "NoSuchBackend" in warning
