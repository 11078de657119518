"""Credentials in the real Secret Service (gnome-keyring) of the desktop session.

Run inside the session: `bash tests/desktop-session.sh python3 -m pytest tests/desktop/test_keyring_secret_service.py`
(outside it, the desktop conftest fails these tests rather than skipping them).
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import secretstorage
from keyring.backends import SecretService

from ccproxy_desktop.auth.claude_import import CLAUDE_TOKEN_URL, import_claude_credentials
from ccproxy_desktop.auth.credential import Credential
from ccproxy_desktop.auth.keyring_store import KeyringStore, open_secret_store
from ccproxy_desktop.auth.store import SERVICE_NAME, MemoryStore

if TYPE_CHECKING:
    from conftest import Desktop  # tests/desktop/conftest.py, whose fixture provides it

COMMAND_TIMEOUT_S = 10


def lookup(username: str) -> str:
    """What another Secret Service client (libsecret's secret-tool) reads for our entry: proof that the secret
    lives in gnome-keyring, not in this process."""
    found = subprocess.run(
        ["secret-tool", "lookup", "service", SERVICE_NAME, "username", username],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    return found.stdout


@pytest.fixture
def keyring_store() -> KeyringStore:
    store, warning = open_secret_store()
    assert warning is None, warning
    assert isinstance(store, KeyringStore), f"open_secret_store chose {store.describe()}"
    assert isinstance(store.backend, SecretService.Keyring), store.describe()
    return store


@pytest.fixture
def provider_name(keyring_store: KeyringStore) -> Iterator[str]:
    """A provider name no other run uses; its entry is removed afterwards."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    keyring_store.delete(name)


def test_a_credential_round_trips_through_the_secret_service(
    keyring_store: KeyringStore, provider_name: str
) -> None:
    credential = Credential(
        provider_name,
        "sk-test-access-token",
        refresh_token="sk-test-refresh-token",
        expires_at=2e9,
        token_url="https://auth.example/oauth/token",
        client_id="client-1",
        source="oauth2",
        obtained_at=1.75e9,
    )
    keyring_store.set(credential)

    assert keyring_store.get(provider_name) == credential
    assert json.loads(lookup(provider_name))["access_token"] == "sk-test-access-token"
    assert provider_name in keyring_store.providers()
    assert "SecretService" in keyring_store.describe()

    assert keyring_store.delete(provider_name) is True
    assert keyring_store.get(provider_name) is None
    assert lookup(provider_name) == ""
    assert provider_name not in keyring_store.providers()
    assert keyring_store.delete(provider_name) is False


def test_the_master_key_is_kept_under_its_own_entry(keyring_store: KeyringStore) -> None:
    previous = keyring_store.get_master_key()
    key = f"sk-proxy-{uuid.uuid4().hex}"
    keyring_store.set_master_key(key)
    try:
        assert keyring_store.get_master_key() == key
        assert lookup("__master_key__") == key
    finally:
        if previous is not None:
            keyring_store.set_master_key(previous)


def test_claude_codes_login_is_imported_into_the_keyring(keyring_store: KeyringStore, tmp_path: Path) -> None:
    login = tmp_path / ".claude" / ".credentials.json"
    login.parent.mkdir()
    login.write_text(
        json.dumps(
            {
                "claudeAiOauth": {
                    "accessToken": "sk-ant-oat01-imported",
                    "refreshToken": "sk-ant-ort01-imported",
                    "expiresAt": 1_900_000_000_000,
                    "scopes": ["user:inference"],
                    "subscriptionType": "max",
                }
            }
        )
    )
    previous = keyring_store.get("anthropic")
    imported = import_claude_credentials(home=tmp_path, env={}, platform="linux")
    keyring_store.set(imported)
    try:
        stored = keyring_store.get("anthropic")
        assert stored == imported
        assert stored is not None and stored.source == "claude" and stored.token_url == CLAUDE_TOKEN_URL
        assert stored.expires_at == 1_900_000_000
        assert json.loads(lookup("anthropic"))["refresh_token"] == "sk-ant-ort01-imported"
    finally:
        if previous is None:
            keyring_store.delete("anthropic")
        else:
            keyring_store.set(previous)


def test_a_locked_keyring_is_not_waited_for_and_is_used_once_unlocked(desktop: Desktop) -> None:
    with closing(secretstorage.dbus_init()) as connection:
        login = secretstorage.get_default_collection(connection)
        login.lock()
        try:
            # gnome-keyring asks for the password in a prompt window; start-up must not wait for a person.
            store, warning = open_secret_store(probe_timeout=1.0)
            assert isinstance(store, MemoryStore)
            assert warning is not None and "did not answer" in warning and "this session only" in warning

            desktop.wait_until(lambda: desktop.windows(PROMPT), "the keyring's unlock prompt")
            type_password_into_prompt()
            desktop.wait_until(lambda: not login.is_locked(), "the login keyring to be unlocked")

            store, warning = open_secret_store(probe_timeout=1.0)
            assert warning is None and isinstance(store, KeyringStore)
        finally:
            if login.is_locked() and desktop.windows(PROMPT):  # leave the keyring usable for the other tests
                type_password_into_prompt()


PROMPT = "gcr-prompter"


def type_password_into_prompt() -> None:
    """Types the session keyring's password into gnome-keyring's unlock prompt, as a person would."""
    found = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--classname", f"^{PROMPT}$"],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    window = found.stdout.split()[0]
    password = os.environ["CCPROXY_DESKTOP_KEYRING_PASSWORD"]
    for command in (
        ["xdotool", "windowfocus", "--sync", window],
        ["xdotool", "type", "--delay", "20", password],
        ["xdotool", "key", "Return"],
    ):
        done = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
        assert done.returncode == 0, f"{command[:2]} exited {done.returncode}: {done.stderr}"
