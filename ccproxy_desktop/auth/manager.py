"""`CredentialManager`: every provider's current token, renewed on schedule, in the proxy process.

How the proxy process drives it (all on the proxy's event loop)::

    manager = CredentialManager(store, http, sources=settings.ccproxy.oat_sources,
                                refresh_interval=settings.ccproxy.oauth_refresh_interval,
                                on_failure=ledger_event, claude_reader=import_claude_credentials)
    await manager.load()                      # at start, and whenever the store may have changed
    task = asyncio.create_task(manager.run()) # refresh_due(), then sleep seconds_until_next(), forever
    # request path: manager.token_for(p), manager.user_agent_for(p) (the hooks' TokenSource);
    # after an upstream 401 with our token: `if await manager.on_unauthorized(p, used_token): retry`.

Sources: `oat_sources` entries with a `command` or `file` are re-read every `refresh_interval` seconds (they
win over a stored credential of the same provider); every other provider's credential lives in the
`SecretStore` (set by hand, imported from Claude Code, or an `oat_sources` entry with only `token_url`) and is
renewed with the OAuth2 refresh-token grant at 80% of its lifetime, then written back to the store.

Secrets never leave through `status()`, logs or `on_failure` messages.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Literal

import httpx

from ..config.schema import OAuthSourceSpec
from .claude_import import ClaudeImportError
from .credential import Credential, CredentialError
from .oauth2 import RefreshError, refresh_grant
from .schedule import BACKOFF_INITIAL_S, BACKOFF_MAX_S, SourceKind, backoff_delay, scheduled_refresh_at
from .sources import COMMAND_TIMEOUT, SourceError, read_source
from .store import SecretStore, SecretStoreUnavailable

__all__ = [
    "RECENT_REFRESH_S",
    "CredentialManager",
    "FailureCallback",
    "ProviderStatus",
    "RefreshReason",
    "UnknownProvider",
]

log = logging.getLogger(__name__)

RECENT_REFRESH_S = 5.0
"""A 401 within this many seconds of a successful refresh is answered with the new token, not a new grant."""

_THREAD_MARGIN_S = 2.0
_INFLIGHT_POLL_S = 1.0

RefreshReason = Literal["startup", "scheduled", "manual", "unauthorized"]
FailureCallback = Callable[[str, str], None]
"""`on_failure(provider, message)`; provider is "" when the store itself failed."""
SourceReader = Callable[[OAuthSourceSpec, float], str]
ClaudeReader = Callable[[], Credential]


class UnknownProvider(KeyError):
    """No credential source is configured or stored for this provider."""


@dataclass(frozen=True)
class ProviderStatus:
    """What `ccproxy auth status` and the tray show about one provider: no secrets."""

    provider: str
    source: str
    has_token: bool
    refreshable: bool
    expires_at: float | None
    obtained_at: float | None
    last_refresh: float | None
    last_error: str | None
    last_error_at: float | None
    failures: int
    needs_login: bool
    next_attempt_at: float | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class _State:
    provider: str
    kind: SourceKind
    spec: OAuthSourceSpec | None
    credential: Credential | None = None
    failures: int = 0
    retry_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    needs_login: bool = False
    renewed_at: float | None = None
    changed_at: float | None = None


class _Failed(Exception):
    def __init__(self, message: str, *, permanent: bool = False, backoff: bool = True) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.backoff = backoff


@dataclass(frozen=True)
class _Renewed:
    credential: Credential
    warning: str | None = None


def _kind_of(spec: OAuthSourceSpec | None) -> SourceKind:
    if spec is None or (spec.command is None and spec.file is None):
        return "store"
    return "command" if spec.command is not None else "file"


def _newer(candidate: Credential, current: Credential | None) -> bool:
    """True when `candidate` is a different, at least as recent token than `current`."""
    if current is None:
        return True
    return candidate.access_token != current.access_token and candidate.issued_at >= current.issued_at


class CredentialManager:
    """Current credentials per provider; see the module docstring for how the proxy drives it.

    `token_for`, `user_agent_for`, `status`, `next_refresh_at`, `due` and `seconds_until_next` are cheap and
    never block. The coroutines must run on one event loop (the one `http` is used on); store access,
    commands and files run on worker threads.
    """

    def __init__(
        self,
        store: SecretStore,
        http: httpx.AsyncClient,
        *,
        sources: Mapping[str, OAuthSourceSpec] | None = None,
        refresh_interval: float = 3600.0,
        clock: Callable[[], float] = time.time,
        on_failure: FailureCallback | None = None,
        claude_reader: ClaudeReader | None = None,
        source_reader: SourceReader = read_source,
        command_timeout: float = COMMAND_TIMEOUT,
        backoff_initial: float = BACKOFF_INITIAL_S,
        backoff_max: float = BACKOFF_MAX_S,
        recent_refresh: float = RECENT_REFRESH_S,
    ) -> None:
        self._store = store
        self._http = http
        self._interval = refresh_interval
        self._clock = clock
        self._on_failure = on_failure
        self._claude_reader = claude_reader
        self._source_reader = source_reader
        self._command_timeout = command_timeout
        self._backoff = (backoff_initial, backoff_max)
        self._recent_refresh = recent_refresh
        self._states: dict[str, _State] = {
            provider: _State(provider, _kind_of(spec), spec) for provider, spec in (sources or {}).items()
        }
        self._inflight: dict[str, asyncio.Task[bool]] = {}

    # -- the request path (sync, cheap) --------------------------------------------------------------------

    def token_for(self, provider: str) -> str | None:
        """The current access token; kept while refreshes fail, None once it has expired (or never was)."""
        state = self._states.get(provider)
        credential = state.credential if state else None
        if credential is None or credential.expired(self._clock()):
            return None
        return credential.access_token

    def user_agent_for(self, provider: str) -> str | None:
        state = self._states.get(provider)
        return state.spec.user_agent if state and state.spec else None

    # -- schedule --------------------------------------------------------------------------------------------

    def providers(self) -> list[str]:
        return sorted(self._states)

    def next_refresh_at(self, provider: str) -> float | None:
        """When `provider` is next renewed (after a failure: when its back-off ends); None: never."""
        state = self._state(provider)
        if state.retry_at is not None:
            return state.retry_at
        if state.credential is None:
            return None
        return scheduled_refresh_at(state.credential, state.kind, self._interval)

    def due(self, now: float | None = None) -> list[str]:
        """Providers whose renewal time has come and that are not being renewed already."""
        moment = self._clock() if now is None else now
        return [
            provider
            for provider in sorted(self._states)
            if provider not in self._inflight
            and (at := self.next_refresh_at(provider)) is not None
            and at <= moment
        ]

    def seconds_until_next(self, max_wait: float = 60.0) -> float:
        """How long the driving loop may sleep before calling `refresh_due` again (0 to `max_wait`)."""
        now = self._clock()
        waits = [max_wait]
        for provider in self._states:
            if provider in self._inflight:  # renewed by someone else right now: look again soon
                waits.append(_INFLIGHT_POLL_S)
            elif (at := self.next_refresh_at(provider)) is not None:
                waits.append(at - now)
        return max(0.0, min(waits))

    async def refresh_due(self) -> dict[str, bool]:
        """Renew every due provider, concurrently; provider -> success."""
        providers = self.due()
        results = await asyncio.gather(*(self.refresh(p, "scheduled") for p in providers))
        return dict(zip(providers, results, strict=True))

    async def run(
        self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, max_wait: float = 60.0
    ) -> None:
        """The driving loop: renew what is due, sleep until the next renewal (at most `max_wait` s), forever.
        Run it as one task on the proxy's event loop; cancel it to stop."""
        while True:
            await self.refresh_due()
            await sleep(self.seconds_until_next(max_wait))

    # -- renewal ----------------------------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the stored credentials and the command/file sources. Call at start-up, and again whenever the
        store may have changed behind our back (`ccproxy auth set` in another process); a stored credential
        replaces the one in memory only when it is different and at least as recent."""
        try:
            stored = await asyncio.to_thread(self._store.providers)
        except SecretStoreUnavailable as exc:
            self._report("", str(exc))
            stored = []
        for provider in stored:
            self._states.setdefault(provider, _State(provider, "store", None))
        await asyncio.gather(*(self._load_one(state) for state in list(self._states.values())))

    async def _load_one(self, state: _State) -> None:
        if state.kind != "store":
            if state.credential is None:
                await self.refresh(state.provider, "startup")
            return
        try:
            credential = await self._stored(state)
        except _Failed as failure:
            self._fail(state, failure)
            return
        if credential is None:
            if state.spec is None and state.credential is not None:  # removed with `ccproxy auth remove`
                del self._states[state.provider]
                return
            state.credential = None
            self._fail(
                state,
                _Failed(
                    f"no credential for {state.provider} in the secret store: store one with "
                    f"`ccproxy auth set {state.provider}` (or `ccproxy auth import-claude`)",
                    permanent=True,
                    backoff=False,
                ),
            )
        elif _newer(credential, state.credential):
            self._succeed(state, _Renewed(credential), renewal=False)

    async def refresh(self, provider: str, reason: RefreshReason = "manual") -> bool:
        """Renew `provider`'s credential now; True on success. Concurrent calls for one provider share one
        attempt (one grant). A failure is recorded, reported to `on_failure` and backed off (30 s doubling to
        30 min) before the next scheduled attempt; the old token stays in use until it expires."""
        self._state(provider)
        task = self._inflight.get(provider)
        if task is None:
            task = asyncio.get_running_loop().create_task(
                self._renew(provider, reason), name=f"refresh-credential-{provider}"
            )
            self._inflight[provider] = task
            task.add_done_callback(lambda done: self._forget(provider, done))
        # Shielded: a caller that gives up (cancelled request) doesn't cancel the others' refresh.
        return await asyncio.shield(task)

    async def on_unauthorized(self, provider: str, used_token: str | None = None) -> bool:
        """The provider answered 401 to a request sent with our token (`used_token`, when known). Renews once
        (joining a refresh in flight; none when one succeeded moments ago or while backing off after a
        failure) and returns True when a different token is now available: the request should be retried."""
        state = self._states.get(provider)
        if state is None:
            return False
        before = used_token if used_token is not None else self.token_for(provider)
        task = self._inflight.get(provider)
        if task is not None:
            await asyncio.shield(task)
            return self._has_other_token(provider, before)
        now = self._clock()
        current = self.token_for(provider)
        renewed_recently = state.renewed_at is not None and now - state.renewed_at < self._recent_refresh
        if used_token is not None:
            if current is not None and current != used_token:
                return True  # renewed since the request was sent: retry with the new token
            if renewed_recently:
                return False  # the token just obtained is refused: another grant now would be too
        elif renewed_recently:
            # Most likely a request sent before the renewal; but if it gave the same token, so would another.
            changed = state.changed_at is not None and now - state.changed_at < self._recent_refresh
            return changed and current is not None
        if state.retry_at is not None and now < state.retry_at:
            return False
        await self.refresh(provider, "unauthorized")
        return self._has_other_token(provider, before)

    async def set_credential(self, credential: Credential) -> None:
        """Store `credential` and use it from now on (for an in-process `auth set` or import), unless the
        config names a command or file for that provider: that source stays in use. Raises
        SecretStoreUnavailable when the store can't keep it (it is not used then either)."""
        await asyncio.to_thread(self._store.set, credential)
        state = self._states.setdefault(credential.provider, _State(credential.provider, "store", None))
        if state.kind != "store":
            log.warning(
                "stored, but the configured %s source stays in use",
                state.kind,
                extra={"provider": state.provider},
            )
            return
        self._succeed(state, _Renewed(credential))

    # -- status ----------------------------------------------------------------------------------------------

    def status(self) -> dict[str, ProviderStatus]:
        """Per provider: source, expiry, last refresh, last error, next attempt. Never a token."""
        return {provider: self._status(state) for provider, state in sorted(self._states.items())}

    def _status(self, state: _State) -> ProviderStatus:
        credential = state.credential
        source = state.kind if state.kind != "store" else (credential.source if credential else "stored")
        return ProviderStatus(
            provider=state.provider,
            source=source,
            has_token=self.token_for(state.provider) is not None,
            refreshable=state.kind != "store" or bool(credential and credential.refreshable),
            expires_at=credential.expires_at if credential else None,
            obtained_at=credential.obtained_at if credential else None,
            last_refresh=credential.last_refresh if credential else None,
            last_error=state.last_error,
            last_error_at=state.last_error_at,
            failures=state.failures,
            needs_login=state.needs_login,
            next_attempt_at=self.next_refresh_at(state.provider),
        )

    # -- internals -------------------------------------------------------------------------------------------

    def _state(self, provider: str) -> _State:
        try:
            return self._states[provider]
        except KeyError:
            raise UnknownProvider(f"no credential source for {provider!r}") from None

    def _forget(self, provider: str, task: asyncio.Task[bool]) -> None:
        if self._inflight.get(provider) is task:
            del self._inflight[provider]

    def _has_other_token(self, provider: str, before: str | None) -> bool:
        current = self.token_for(provider)
        return current is not None and current != before

    async def _renew(self, provider: str, reason: RefreshReason) -> bool:
        state = self._states[provider]
        log.debug("renewing credential", extra={"provider": provider, "reason": reason})
        try:
            if state.kind == "store":
                renewed = await self._renew_stored(state, reason)
            else:
                renewed = await self._reread_source(state)
        except _Failed as failure:
            self._fail(state, failure)
            return False
        self._succeed(state, renewed)
        return True

    def _succeed(self, state: _State, renewed: _Renewed, *, renewal: bool = True) -> None:
        """Use `renewed`; `renewal` False when it was merely loaded (not obtained because of a 401)."""
        if renewal:
            previous = state.credential
            if previous is None or previous.access_token != renewed.credential.access_token:
                state.changed_at = self._clock()
            state.renewed_at = self._clock()
        state.credential = renewed.credential
        state.failures = 0
        state.retry_at = None
        state.needs_login = False
        state.last_error = state.last_error_at = None
        if renewed.warning:
            state.last_error, state.last_error_at = renewed.warning, self._clock()
            self._report(state.provider, renewed.warning)

    def _fail(self, state: _State, failure: _Failed) -> None:
        now = self._clock()
        message = str(failure)
        state.last_error, state.last_error_at = message, now
        state.needs_login = failure.permanent
        if failure.backoff:
            state.failures += 1
            state.retry_at = now + backoff_delay(state.failures, *self._backoff)
        self._report(state.provider, message)

    def _report(self, provider: str, message: str) -> None:
        log.warning("credential problem: %s", message, extra={"provider": provider})
        if self._on_failure is None:
            return
        try:
            self._on_failure(provider, message)
        except Exception:  # the integrator's callback must not break renewal; logged once here
            log.exception("the credential on_failure callback raised", extra={"provider": provider})

    async def _reread_source(self, state: _State) -> _Renewed:
        assert state.spec is not None
        try:
            token = await asyncio.wait_for(
                asyncio.to_thread(self._source_reader, state.spec, self._command_timeout),
                self._command_timeout + _THREAD_MARGIN_S,
            )
        except SourceError as exc:
            raise _Failed(f"{state.kind} source for {state.provider}: {exc}") from None
        except TimeoutError:
            raise _Failed(
                f"{state.kind} source for {state.provider}: no token after {self._command_timeout:g} s"
            ) from None
        now = self._clock()
        previous = state.credential
        return _Renewed(
            Credential(
                provider=state.provider,
                access_token=token,
                source="command" if state.kind == "command" else "file",
                obtained_at=previous.obtained_at if previous else now,
                last_refresh=now if previous else None,
            )
        )

    async def _stored(self, state: _State) -> Credential | None:
        """The store's credential for `state`, with the config's OAuth2 endpoint applied."""
        try:
            credential = await asyncio.to_thread(self._store.get, state.provider)
        except SecretStoreUnavailable as exc:
            raise _Failed(str(exc)) from None
        except CredentialError as exc:
            raise _Failed(f"{exc}: store it again", permanent=True) from None
        spec = state.spec
        if credential is None or spec is None or spec.token_url is None:
            return credential
        return replace(credential, token_url=spec.token_url, client_id=spec.client_id or credential.client_id)

    async def _renew_stored(self, state: _State, reason: RefreshReason) -> _Renewed:
        current = state.credential
        # Another process (the CLI, another proxy worker) may have renewed or replaced it: start from the
        # newest copy, whose refresh token is the valid one when the server rotates them.
        try:
            stored = await self._stored(state)
        except _Failed as failure:
            if current is None:
                raise
            log.warning("renewing from memory: %s", failure, extra={"provider": state.provider})
            stored = None
        base = stored if stored is not None and _newer(stored, current) else current
        if base is None:
            raise _Failed(f"no credential for {state.provider} in the secret store", permanent=True)
        if base.source == "claude":
            base = await self._newer_claude_login(state, base)
        if base is not current and (reason == "unauthorized" or not self._is_due(state, base)):
            if base.source == "claude" and base is not stored:
                return _Renewed(base, await self._save(base))
            return _Renewed(base)
        if not base.refreshable or base.token_url is None or base.refresh_token is None:
            if base is not current:
                return _Renewed(base)
            raise _Failed(
                f"the token for {state.provider} can't be renewed (no refresh token or token_url): store a new "
                f"one with `ccproxy auth set {state.provider}`",
                # Backed off like any failure: each later attempt re-reads the store for a new token.
                permanent=reason == "unauthorized" or base.expired(self._clock()),
            )
        agent = state.spec.user_agent if state.spec else None
        try:
            grant = await refresh_grant(
                self._http,
                base.token_url,
                base.client_id,
                base.refresh_token,
                body_format=base.body_format,
                headers={"user-agent": agent} if agent else None,
            )
        except RefreshError as exc:
            advice = f": log in again and store the new token for {state.provider}" if exc.permanent else ""
            raise _Failed(f"{exc}{advice}", permanent=exc.permanent) from None
        now = self._clock()
        renewed = replace(
            base,
            access_token=grant.access_token,
            refresh_token=grant.refresh_token,
            expires_at=now + grant.expires_in if grant.expires_in is not None else None,
            last_refresh=now,
        )
        return _Renewed(renewed, await self._save(renewed))

    def _is_due(self, state: _State, credential: Credential) -> bool:
        at = scheduled_refresh_at(credential, state.kind, self._interval)
        return at is not None and at <= self._clock()

    async def _newer_claude_login(self, state: _State, base: Credential) -> Credential:
        """Claude Code renews its own login, and the server rotates refresh tokens: when Claude Code holds a
        newer login than `base`, that one is used (adopted if not yet due, else its refresh token is the
        valid one for our grant)."""
        if self._claude_reader is None:
            return base
        try:
            imported = await asyncio.to_thread(self._claude_reader)
        except ClaudeImportError as exc:
            log.info("Claude Code's login not re-read: %s", exc, extra={"provider": state.provider})
            return base
        newer = (
            imported.provider == state.provider
            and imported.access_token != base.access_token
            and imported.expires_at is not None
            and (base.expires_at is None or imported.expires_at > base.expires_at)
        )
        if not newer:
            return base
        now = self._clock()
        return replace(imported, obtained_at=base.obtained_at, last_refresh=now)

    async def _save(self, credential: Credential) -> str | None:
        """Writes a renewed credential back; a warning (the token is still used) when the store fails."""
        try:
            await asyncio.to_thread(self._store.set, credential)
        except SecretStoreUnavailable as exc:
            return (
                f"renewed the token for {credential.provider} but could not save it, so it is lost when "
                f"the proxy stops: {exc}"
            )
        return None
