"""CredentialManager: schedule, single-flight refresh, back-off, 401 handling and secret-free status, against
the fake provider's token endpoint, with a clock the test moves by hand."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from ccproxy_desktop.auth.claude_import import ClaudeImportError
from ccproxy_desktop.auth.credential import Credential
from ccproxy_desktop.auth.manager import CredentialManager, UnknownProvider
from ccproxy_desktop.auth.sources import SourceError
from ccproxy_desktop.auth.store import MemoryStore, SecretStoreUnavailable
from ccproxy_desktop.config.schema import OAuthSourceSpec
from ccproxy_desktop.testing.fake_provider import OAUTH_TOKEN_PATH, Behaviour, FakeProvider

if TYPE_CHECKING:
    from conftest import FakeClock  # tests/auth/conftest.py, whose `clock` fixture provides it

ACCESS = "sk-ant-oat01-manager-SECRET"
REFRESH = "sk-ant-ort01-manager-SECRET"
LIFETIME = 1000.0


def oauth_credential(provider: FakeProvider, clock: FakeClock, **changes: object) -> Credential:
    credential = Credential(
        "anthropic",
        ACCESS,
        refresh_token=REFRESH,
        expires_at=clock.now + LIFETIME,
        token_url=provider.base_url + OAUTH_TOKEN_PATH,
        client_id="client-1",
        source="claude",
        obtained_at=clock.now,
    )
    return replace(credential, **changes)  # type: ignore[arg-type]


def grants(provider: FakeProvider) -> int:
    return sum(1 for request in provider.requests if request.path == OAUTH_TOKEN_PATH)


class Failures:
    """The on_failure callback: what the tray's ledger event would get."""

    def __init__(self) -> None:
        self.reported: list[tuple[str, str]] = []

    def __call__(self, provider: str, message: str) -> None:
        self.reported.append((provider, message))


class ScriptedSource:
    """A command/file reader that hands out the given tokens (or raises SourceError for None), in order."""

    def __init__(self, *tokens: str | None) -> None:
        self.tokens = list(tokens)
        self.reads = 0

    def __call__(self, spec: OAuthSourceSpec, timeout: float) -> str:
        self.reads += 1
        token = self.tokens.pop(0)
        if token is None:
            raise SourceError("command exited with code 1")
        return token


@pytest.fixture
def failures() -> Failures:
    return Failures()


@pytest.fixture
def store(provider: FakeProvider, clock: FakeClock) -> MemoryStore:
    """A store holding one refreshable Anthropic login that expires in LIFETIME seconds."""
    store = MemoryStore()
    store.set(oauth_credential(provider, clock))
    return store


@pytest.fixture
async def oauth_manager(
    store: MemoryStore, http: httpx.AsyncClient, clock: FakeClock, failures: Failures
) -> CredentialManager:
    """A manager of `store`'s login, loaded."""
    manager = CredentialManager(store, http, clock=clock, on_failure=failures)
    await manager.load()
    return manager


# -- schedule --------------------------------------------------------------------------------------------------


async def test_oauth_tokens_are_due_at_80_percent_of_their_lifetime(
    oauth_manager: CredentialManager, clock: FakeClock
) -> None:
    assert oauth_manager.providers() == ["anthropic"]
    assert oauth_manager.token_for("anthropic") == ACCESS
    assert oauth_manager.next_refresh_at("anthropic") == clock.now + 0.8 * LIFETIME
    assert oauth_manager.due(clock.now + 0.8 * LIFETIME - 1) == []
    assert oauth_manager.due(clock.now + 0.8 * LIFETIME) == ["anthropic"]
    assert oauth_manager.seconds_until_next(max_wait=60) == 60
    clock.advance(0.8 * LIFETIME - 10)
    assert oauth_manager.seconds_until_next(max_wait=60) == 10


async def test_a_scheduled_refresh_rotates_the_tokens_and_writes_them_back(
    provider: FakeProvider, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    provider.scenario.oauth_expires_in = 3600
    store = MemoryStore()
    store.set(oauth_credential(provider, clock))
    manager = CredentialManager(store, http, clock=clock)
    await manager.load()
    clock.advance(0.8 * LIFETIME)

    assert await manager.refresh_due() == {"anthropic": True}

    token = manager.token_for("anthropic")
    assert token is not None and token.startswith("fake-access-token-")
    stored = store.get("anthropic")
    assert stored is not None and stored.access_token == token
    assert stored.refresh_token is not None and stored.refresh_token.startswith("fake-refresh-token-")
    assert stored.last_refresh == clock.now and stored.expires_at == clock.now + 3600
    assert stored.source == "claude" and stored.obtained_at == clock.now - 0.8 * LIFETIME
    assert manager.next_refresh_at("anthropic") == clock.now + 0.8 * 3600
    assert provider.requests[-1].form is not None  # the credential's body format: form (the default)
    assert manager.due() == []


async def test_command_sources_are_reread_every_interval(http: httpx.AsyncClient, clock: FakeClock) -> None:
    source = ScriptedSource("sk-openai-1", "sk-openai-2")
    manager = CredentialManager(
        MemoryStore(),
        http,
        sources={"openai": OAuthSourceSpec(command="print-token", user_agent="my-agent/1")},
        refresh_interval=600,
        clock=clock,
        source_reader=source,
    )
    await manager.load()
    assert manager.token_for("openai") == "sk-openai-1"
    assert manager.user_agent_for("openai") == "my-agent/1"
    assert manager.next_refresh_at("openai") == clock.now + 600
    clock.advance(599)
    assert await manager.refresh_due() == {}
    clock.advance(1)
    assert await manager.refresh_due() == {"openai": True}
    assert manager.token_for("openai") == "sk-openai-2"
    assert manager.next_refresh_at("openai") == clock.now + 600
    assert manager.status()["openai"].source == "command"


async def test_real_command_and_file_sources(
    http: httpx.AsyncClient, clock: FakeClock, tmp_path: Path
) -> None:
    token_file = tmp_path / "token.json"
    token_file.write_text(json.dumps({"oauth": {"token": "sk-from-file"}}))
    manager = CredentialManager(
        MemoryStore(),
        http,
        sources={
            "openai": OAuthSourceSpec(command="echo sk-from-command"),
            "gemini": OAuthSourceSpec(file=str(token_file), json_path="oauth.token"),
            "slow": OAuthSourceSpec(command="sleep 30; echo never"),
        },
        clock=clock,
        command_timeout=0.2,
    )
    await manager.load()
    assert manager.token_for("openai") == "sk-from-command"
    assert manager.token_for("gemini") == "sk-from-file"
    assert manager.token_for("slow") is None
    assert "timed out after 0.2 s" in (manager.status()["slow"].last_error or "")


async def test_a_command_source_wins_over_a_stored_credential(
    provider: FakeProvider, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    store = MemoryStore()
    store.set(oauth_credential(provider, clock))
    manager = CredentialManager(
        store,
        http,
        sources={"anthropic": OAuthSourceSpec(command="x")},
        clock=clock,
        source_reader=ScriptedSource("sk-from-command"),
    )
    await manager.load()
    assert manager.token_for("anthropic") == "sk-from-command"


# -- single flight, back-off, expiry ---------------------------------------------------------------------------


async def test_concurrent_refreshes_make_one_grant(
    provider: FakeProvider, oauth_manager: CredentialManager
) -> None:
    results = await asyncio.gather(*(oauth_manager.refresh("anthropic") for _ in range(10)))
    assert results == [True] * 10
    assert grants(provider) == 1


async def test_failures_back_off_doubling_and_success_resets(
    provider: FakeProvider, oauth_manager: CredentialManager, clock: FakeClock, failures: Failures
) -> None:
    provider.scenario.push(Behaviour(kind="status", status=503), path=OAUTH_TOKEN_PATH, times=3)
    clock.advance(0.8 * LIFETIME)
    for delay in (30, 60, 120):
        assert oauth_manager.due() == ["anthropic"]
        assert await oauth_manager.refresh_due() == {"anthropic": False}
        assert oauth_manager.next_refresh_at("anthropic") == clock.now + delay
        assert oauth_manager.due() == []
        clock.advance(delay)
    status = oauth_manager.status()["anthropic"]
    assert status.failures == 3 and status.needs_login is False
    assert status.last_error is not None and "answered 503 temporarily_unavailable" in status.last_error
    assert [p for p, _ in failures.reported] == ["anthropic"] * 3

    assert await oauth_manager.refresh_due() == {"anthropic": True}
    status = oauth_manager.status()["anthropic"]
    assert (status.failures, status.last_error, status.last_refresh) == (0, None, clock.now)
    assert status.next_attempt_at == clock.now + 0.8 * provider.scenario.oauth_expires_in
    assert grants(provider) == 4


async def test_the_old_token_serves_until_it_expires_while_refreshes_fail(
    provider: FakeProvider, oauth_manager: CredentialManager, clock: FakeClock
) -> None:
    provider.scenario.push(Behaviour(kind="status", status=500), path=OAUTH_TOKEN_PATH, times=10)
    clock.advance(0.8 * LIFETIME)
    assert await oauth_manager.refresh("anthropic") is False
    clock.advance(0.2 * LIFETIME - 1)
    assert oauth_manager.token_for("anthropic") == ACCESS
    clock.advance(1)
    assert oauth_manager.token_for("anthropic") is None
    assert oauth_manager.status()["anthropic"].has_token is False


async def test_a_rejected_refresh_token_asks_for_a_new_login(
    provider: FakeProvider, oauth_manager: CredentialManager, failures: Failures
) -> None:
    provider.scenario.push(Behaviour(kind="status", status=400), path=OAUTH_TOKEN_PATH)
    assert await oauth_manager.refresh("anthropic") is False
    status = oauth_manager.status()["anthropic"]
    assert status.needs_login is True
    assert status.last_error is not None and "invalid_grant" in status.last_error
    assert "log in again" in status.last_error
    assert failures.reported == [("anthropic", status.last_error)]


async def test_a_refresh_that_cannot_be_saved_still_serves_the_new_token(
    provider: FakeProvider, http: httpx.AsyncClient, clock: FakeClock, failures: Failures
) -> None:
    class ReadOnlyStore(MemoryStore):
        def set(self, credential: Credential) -> None:
            raise SecretStoreUnavailable("the OS keyring is locked and was not unlocked")

    store = ReadOnlyStore()
    MemoryStore.set(store, oauth_credential(provider, clock))
    manager = CredentialManager(store, http, clock=clock, on_failure=failures)
    await manager.load()
    assert await manager.refresh("anthropic") is True
    assert manager.token_for("anthropic") != ACCESS
    status = manager.status()["anthropic"]
    assert status.failures == 0
    assert status.last_error is not None and "could not save it" in status.last_error
    assert len(failures.reported) == 1


# -- other processes and Claude Code -------------------------------------------------------------------------


async def test_a_newer_credential_in_the_store_is_taken_without_a_grant(
    provider: FakeProvider, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    store = MemoryStore()
    store.set(oauth_credential(provider, clock))
    manager = CredentialManager(store, http, clock=clock)
    await manager.load()
    clock.advance(0.8 * LIFETIME)
    # Meanwhile `ccproxy auth refresh` in another process renewed it.
    store.set(oauth_credential(provider, clock, access_token="sk-renewed-elsewhere", obtained_at=clock.now))
    assert await manager.refresh_due() == {"anthropic": True}
    assert manager.token_for("anthropic") == "sk-renewed-elsewhere"
    assert grants(provider) == 0


async def test_claude_codes_own_newer_login_is_adopted_instead_of_rotating_its_refresh_token(
    provider: FakeProvider, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    store = MemoryStore()
    store.set(oauth_credential(provider, clock))
    logins = [
        oauth_credential(provider, clock, access_token="sk-claude-renewed", expires_at=clock.now + 5000)
    ]

    def claude_reader() -> Credential:
        if not logins:
            raise ClaudeImportError("no Claude Code login found")
        return logins.pop()

    manager = CredentialManager(store, http, clock=clock, claude_reader=claude_reader)
    await manager.load()
    clock.advance(0.8 * LIFETIME)
    assert await manager.refresh_due() == {"anthropic": True}
    assert manager.token_for("anthropic") == "sk-claude-renewed"
    stored = store.get("anthropic")
    assert stored is not None and stored.access_token == "sk-claude-renewed"
    assert grants(provider) == 0
    # Claude Code's copy is gone now: the next renewal is a grant of ours.
    clock.advance(5000)
    assert await manager.refresh("anthropic") is True
    assert grants(provider) == 1


async def test_an_oauth2_source_in_the_config_sets_the_endpoint_and_user_agent(
    provider: FakeProvider, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    store = MemoryStore()
    store.set(
        Credential("gemini", "old-token", refresh_token=REFRESH, expires_at=clock.now + 100, source="stored")
    )
    spec = OAuthSourceSpec(
        token_url=provider.base_url + OAUTH_TOKEN_PATH, client_id="gemini-cli", user_agent="g/1"
    )
    manager = CredentialManager(store, http, sources={"gemini": spec}, clock=clock)
    await manager.load()
    assert await manager.refresh("gemini") is True
    request = provider.requests[-1]
    assert request.form == {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH,
        "client_id": "gemini-cli",
    }
    assert request.headers["user-agent"] == "g/1"


async def test_an_oauth2_source_without_a_stored_credential_asks_for_one(
    http: httpx.AsyncClient, clock: FakeClock, failures: Failures
) -> None:
    spec = OAuthSourceSpec(token_url="https://auth.example/token", client_id="c")
    manager = CredentialManager(
        MemoryStore(), http, sources={"gemini": spec}, clock=clock, on_failure=failures
    )
    await manager.load()
    status = manager.status()["gemini"]
    assert status.has_token is False and status.needs_login is True
    assert status.last_error is not None and "ccproxy auth set gemini" in status.last_error
    assert manager.due(clock.now + 1e9) == []
    assert failures.reported == [("gemini", status.last_error)]


async def test_a_credential_removed_from_the_store_is_dropped_on_reload(
    oauth_manager: CredentialManager, store: MemoryStore
) -> None:
    await oauth_manager.set_credential(Credential("openai", "sk-openai"))
    assert oauth_manager.token_for("openai") == "sk-openai"
    assert store.get("openai") == Credential("openai", "sk-openai")
    store.delete("openai")  # `ccproxy auth remove openai` in another process
    await oauth_manager.load()
    assert oauth_manager.providers() == ["anthropic"]
    assert oauth_manager.token_for("openai") is None


# -- 401 from the provider -----------------------------------------------------------------------------------


async def test_unauthorized_refreshes_once_and_the_retry_uses_the_new_token(
    provider: FakeProvider, oauth_manager: CredentialManager, clock: FakeClock
) -> None:
    assert await oauth_manager.on_unauthorized("anthropic", ACCESS) is True
    new_token = oauth_manager.token_for("anthropic")
    assert new_token not in (None, ACCESS)
    assert grants(provider) == 1
    # Requests that were in flight with the old token are told to retry, without another grant.
    clock.advance(1)
    assert await oauth_manager.on_unauthorized("anthropic", ACCESS) is True
    assert await oauth_manager.on_unauthorized("anthropic") is True
    assert grants(provider) == 1
    # Later, a 401 for the new token is a new problem: one more grant.
    clock.advance(60)
    assert await oauth_manager.on_unauthorized("anthropic", new_token) is True
    assert grants(provider) == 2


async def test_concurrent_unauthorized_requests_share_one_grant(
    provider: FakeProvider, oauth_manager: CredentialManager
) -> None:
    results = await asyncio.gather(*(oauth_manager.on_unauthorized("anthropic", ACCESS) for _ in range(5)))
    assert results == [True] * 5
    assert grants(provider) == 1


async def test_unauthorized_while_backing_off_makes_no_grant(
    provider: FakeProvider, oauth_manager: CredentialManager, clock: FakeClock
) -> None:
    provider.scenario.push(Behaviour(kind="status", status=503), path=OAUTH_TOKEN_PATH)
    assert await oauth_manager.on_unauthorized("anthropic", ACCESS) is False
    clock.advance(29)
    assert await oauth_manager.on_unauthorized("anthropic", ACCESS) is False
    assert grants(provider) == 1
    clock.advance(1)
    assert await oauth_manager.on_unauthorized("anthropic", ACCESS) is True
    assert grants(provider) == 2


async def test_unauthorized_for_a_command_source_rereads_it(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    source = ScriptedSource("sk-1", "sk-1", "sk-2")
    manager = CredentialManager(
        MemoryStore(),
        http,
        sources={"openai": OAuthSourceSpec(command="x")},
        clock=clock,
        source_reader=source,
    )
    await manager.load()
    clock.advance(10)
    assert await manager.on_unauthorized("openai", "sk-1") is False  # the command still prints the same token
    clock.advance(10)
    assert await manager.on_unauthorized("openai", "sk-1") is True
    assert manager.token_for("openai") == "sk-2"
    assert source.reads == 3


async def test_unknown_providers(oauth_manager: CredentialManager) -> None:
    assert oauth_manager.token_for("mistral") is None
    assert await oauth_manager.on_unauthorized("mistral") is False
    with pytest.raises(UnknownProvider, match="no credential source for 'mistral'"):
        await oauth_manager.refresh("mistral")


# -- status and the driving loop -------------------------------------------------------------------------------


async def test_status_shows_everything_but_the_secrets(
    provider: FakeProvider, oauth_manager: CredentialManager, store: MemoryStore, clock: FakeClock
) -> None:
    before = oauth_manager.status()["anthropic"]
    assert before.source == "claude" and before.expires_at == clock.now + LIFETIME and before.refreshable
    provider.scenario.push(
        Behaviour(kind="status", status=400, message=f"bad token {REFRESH}"), path=OAUTH_TOKEN_PATH
    )
    await oauth_manager.refresh("anthropic")
    await oauth_manager.refresh("anthropic")
    new_token = oauth_manager.token_for("anthropic")
    stored = store.get("anthropic")
    assert new_token is not None and stored is not None and stored.refresh_token is not None

    serialized = json.dumps({p: s.to_dict() for p, s in oauth_manager.status().items()})
    for secret in (ACCESS, REFRESH, new_token, stored.refresh_token):
        assert secret not in serialized
    assert set(json.loads(serialized)["anthropic"]) >= {
        "source",
        "expires_at",
        "last_refresh",
        "last_error",
        "next_attempt_at",
    }


async def test_run_sleeps_until_the_next_renewal(
    provider: FakeProvider, oauth_manager: CredentialManager, clock: FakeClock
) -> None:
    provider.scenario.oauth_expires_in = 100
    slept: list[float] = []

    class Stop(Exception):
        pass

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 30:
            raise Stop
        clock.advance(seconds)

    with pytest.raises(Stop):
        await oauth_manager.run(sleep, max_wait=60)
    # 800 s to the first renewal in steps of at most 60 s, then one every 80 s (80% of the new tokens' 100 s).
    assert slept == [60.0] * 13 + [20.0] + [60.0, 20.0] * 8
    assert grants(provider) == 8
