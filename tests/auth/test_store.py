"""The stores that need no OS keyring: memory for the session, and the opt-in plaintext file."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from ccproxy_desktop.auth.credential import Credential
from ccproxy_desktop.auth.store import (
    FileStore,
    MemoryStore,
    SecretStore,
    SecretStoreUnavailable,
    keyring_help,
)

SECRET = "sk-ant-oat01-store-SECRET"
CREDENTIAL = Credential("anthropic", SECRET, refresh_token="r-SECRET", expires_at=2e9, source="claude")

StoreFactory = Callable[[Path], SecretStore]
STORES: list[StoreFactory] = [lambda _path: MemoryStore(), lambda path: FileStore(path / "secrets.json")]


@pytest.mark.parametrize("make_store", STORES, ids=["memory", "file"])
def test_set_get_delete_round_trip(make_store: StoreFactory, tmp_path: Path) -> None:
    store = make_store(tmp_path)
    assert store.get("anthropic") is None
    assert store.providers() == []
    store.set(CREDENTIAL)
    store.set(Credential("openai", "sk-openai"))
    assert store.get("anthropic") == CREDENTIAL
    assert store.providers() == ["anthropic", "openai"]
    assert store.delete("anthropic") is True
    assert store.delete("anthropic") is False
    assert store.get("anthropic") is None
    assert store.providers() == ["openai"]


@pytest.mark.parametrize("make_store", STORES, ids=["memory", "file"])
def test_master_key(make_store: StoreFactory, tmp_path: Path) -> None:
    store = make_store(tmp_path)
    assert store.get_master_key() is None
    store.set_master_key("sk-proxy-master")
    assert store.get_master_key() == "sk-proxy-master"
    assert store.providers() == []


@pytest.mark.parametrize("make_store", STORES, ids=["memory", "file"])
@pytest.mark.parametrize("name", ["", "__master_key__", "__providers__"])
def test_reserved_names_are_not_providers(make_store: StoreFactory, tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="can't be a provider name"):
        make_store(tmp_path).get(name)


def test_memory_store_says_it_is_for_this_session_only() -> None:
    assert "this session only" in MemoryStore().describe()


def test_file_store_is_private_and_says_it_is_plaintext(tmp_path: Path) -> None:
    path = tmp_path / "config" / "secrets.json"
    store = FileStore(path)
    store.set(CREDENTIAL)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert "plaintext" in store.describe()
    assert FileStore(path).get("anthropic") == CREDENTIAL  # another process sees it
    assert [p.name for p in path.parent.iterdir()] == ["secrets.json"]  # no temporary file left


@pytest.mark.parametrize(
    ("content", "reason"),
    [(f"{{ {SECRET}", "is not JSON"), (f'{{"credentials": ["{SECRET}"]}}', "is malformed")],
    ids=["not-json", "malformed"],
)
def test_broken_file_is_reported_without_its_content(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "secrets.json"
    path.write_text(content)
    with pytest.raises(SecretStoreUnavailable) as caught:
        FileStore(path).get("anthropic")
    assert reason in str(caught.value) and str(path) in str(caught.value)
    assert SECRET not in str(caught.value)


def test_unusable_path_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(SecretStoreUnavailable, match=r"the secrets file .*Not a directory") as caught:
        FileStore(blocker / "secrets.json").set(CREDENTIAL)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("platform", "advice"),
    [
        ("linux", "GNOME Keyring"),
        ("linux", "PYTHON_KEYRING_BACKEND"),
        ("darwin", "keychain"),
        ("win32", "Credential Manager"),
    ],
)
def test_keyring_help_names_the_fix_for_each_platform(platform: str, advice: str) -> None:
    assert advice in keyring_help(platform)
