"""`Credential`: one provider's tokens and where they came from, as kept in the secret store.

A Credential never shows its tokens: `repr`, `str` and every error message of this module name the provider
and the metadata only. Times are Unix seconds (wall clock), like the `expires_at` a token endpoint implies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

__all__ = ["BodyFormat", "Credential", "CredentialError", "CredentialSource"]

CredentialSource = Literal["stored", "claude", "command", "file", "oauth2"]
"""How the credential was obtained: `stored` by hand (`ccproxy auth set`), `claude` imported from Claude
Code, `command`/`file` read from an `oat_sources` entry, `oauth2` refreshed from a token endpoint."""

BodyFormat = Literal["form", "json"]
"""How the token endpoint wants the refresh request's body: RFC 6749's form encoding, or JSON (Anthropic)."""

FORMAT_VERSION = 1
_SOURCES: frozenset[str] = frozenset(get_args(CredentialSource))
_BODY_FORMATS: frozenset[str] = frozenset(get_args(BodyFormat))


class CredentialError(ValueError):
    """A stored credential can't be read; the message says what is wrong, never what the entry holds."""


@dataclass(frozen=True, repr=False)
class Credential:
    """An access token for `provider`, optionally refreshable with `refresh_token` at `token_url`.

    `obtained_at` is when the access token was first obtained, `last_refresh` when it was last replaced by a
    refresh; the token's lifetime runs from the later of the two to `expires_at` (None: unknown).
    """

    provider: str
    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None
    token_url: str | None = None
    client_id: str | None = None
    source: CredentialSource = "stored"
    obtained_at: float = 0.0
    last_refresh: float | None = None
    body_format: BodyFormat = "form"
    scopes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.provider:
            raise CredentialError("a credential needs a provider name")
        if not self.access_token:
            raise CredentialError(f"the credential for {self.provider} has an empty access token")
        if self.source not in _SOURCES:
            raise CredentialError(f"the credential for {self.provider} has an unknown source {self.source!r}")
        if self.body_format not in _BODY_FORMATS:
            raise CredentialError(
                f"the credential for {self.provider} has an unknown body format {self.body_format!r}"
            )

    def __repr__(self) -> str:
        return (
            f"Credential(provider={self.provider!r}, source={self.source!r}, expires_at={self.expires_at!r}, "
            f"refreshable={self.refreshable}, last_refresh={self.last_refresh!r})"
        )

    __str__ = __repr__

    @property
    def refreshable(self) -> bool:
        """True when an OAuth2 refresh-token grant can renew the access token."""
        return bool(self.refresh_token and self.token_url)

    @property
    def issued_at(self) -> float:
        """Start of the current access token's lifetime."""
        return self.obtained_at if self.last_refresh is None else max(self.obtained_at, self.last_refresh)

    def expired(self, now: float) -> bool:
        """True once `expires_at` has passed (never, when the expiry is unknown)."""
        return self.expires_at is not None and now >= self.expires_at

    # -- the keyring entry ---------------------------------------------------------------------------------

    def to_json(self) -> str:
        """The JSON document stored as the keyring entry's secret."""
        return json.dumps(
            {
                "version": FORMAT_VERSION,
                "provider": self.provider,
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "expires_at": self.expires_at,
                "token_url": self.token_url,
                "client_id": self.client_id,
                "source": self.source,
                "obtained_at": self.obtained_at,
                "last_refresh": self.last_refresh,
                "body_format": self.body_format,
                "scopes": list(self.scopes),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str, provider: str | None = None) -> Credential:
        """Parse `to_json`'s output. `provider`, when given, is the name the entry was stored under: it is
        used in messages and must match the document. Raises CredentialError."""
        where = f"the stored credential for {provider}" if provider else "the stored credential"
        try:
            data = json.loads(text)
        except ValueError:
            raise CredentialError(f"{where} is not JSON") from None
        if not isinstance(data, dict):
            raise CredentialError(f"{where} is not a JSON object")
        version = data.get("version")
        if version != FORMAT_VERSION:
            raise CredentialError(f"{where} has format version {version!r}, expected {FORMAT_VERSION}")
        reader = _Fields(data, where)
        name = reader.text("provider")
        if provider is not None and name != provider:
            raise CredentialError(f"{where} names another provider ({name!r})")
        scopes = data.get("scopes", [])
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise CredentialError(f"{where} has a malformed 'scopes' (a list of strings expected)")
        return cls(
            provider=name,
            access_token=reader.text("access_token"),
            refresh_token=reader.optional_text("refresh_token"),
            expires_at=reader.optional_number("expires_at"),
            token_url=reader.optional_text("token_url"),
            client_id=reader.optional_text("client_id"),
            source=cast(CredentialSource, reader.choice("source", _SOURCES, "stored")),
            obtained_at=reader.optional_number("obtained_at") or 0.0,
            last_refresh=reader.optional_number("last_refresh"),
            body_format=cast(BodyFormat, reader.choice("body_format", _BODY_FORMATS, "form")),
            scopes=tuple(scopes),
        )


@dataclass(frozen=True)
class _Fields:
    """Typed access to a parsed entry; errors name the field, never its value."""

    data: dict[str, Any]
    where: str

    def text(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str) or not value:
            raise CredentialError(f"{self.where} has no {key!r} (a non-empty string expected)")
        return value

    def optional_text(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise CredentialError(f"{self.where} has a malformed {key!r} (a string expected)")
        return value or None

    def optional_number(self, key: str) -> float | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CredentialError(f"{self.where} has a malformed {key!r} (a number expected)")
        return float(value)

    def choice(self, key: str, allowed: frozenset[str], default: str) -> str:
        value = self.data.get(key, default)
        if value not in allowed:
            raise CredentialError(f"{self.where} has an unknown {key!r} (one of {sorted(allowed)} expected)")
        return str(value)
