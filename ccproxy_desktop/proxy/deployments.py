"""Where a model_name of config.yaml is served, and in which wire format. Pure: no LiteLLM, no I/O.

A model_name whose deployments all speak Anthropic Messages (`anthropic/...`, or `custom_llm_provider:
anthropic` with any `api_base`, such as a provider's Anthropic-compatible endpoint) is served by the native
path: the client's bytes go to `<api_base>/v1/messages`. Every other model_name (OpenAI, Responses, Gemini,
Bedrock, Ollama..., or a group that mixes formats) is served by the translated path, LiteLLM's Router.
"""

from __future__ import annotations

import fnmatch
import os
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..config.schema import ModelEntry

__all__ = [
    "ANTHROPIC_API_BASE",
    "AUTH_HEADER_FIELD",
    "KEYRING_PREFIX",
    "Deployment",
    "Deployments",
    "keyring_reference",
    "resolve_secret",
]

ANTHROPIC_API_BASE = "https://api.anthropic.com"
DEFAULT_TIMEOUT_S = 600.0


AUTH_HEADER_FIELD = "ccproxy_auth_header"
"""model_info key: how the native path sends the deployment's own key, `x-api-key` (the default) or `bearer`
(`Authorization: Bearer KEY`, as Moonshot's, Zhipu's and OpenRouter's Anthropic endpoints document it)."""


def auth_header_of(entry: ModelEntry) -> str:
    """`bearer` or `x-api-key`: the entry's `model_info.ccproxy_auth_header` (anything else: `x-api-key`)."""
    value = entry.model_info.get(AUTH_HEADER_FIELD)
    return "bearer" if isinstance(value, str) and value.strip().lower() == "bearer" else "x-api-key"


KEYRING_PREFIX = "keyring/"
"""`api_key: keyring/NAME` in config.yaml: the key stored under NAME in the OS keyring (`ccproxy provider add`)."""


def resolve_secret(value: Any, environ: Mapping[str, str]) -> str | None:
    """A config value that may be `os.environ/NAME` (LiteLLM's notation), as a string or None. A
    `keyring/NAME` reference is None here: the proxy fills it from its credential manager per request."""
    if not isinstance(value, str) or not value:
        return None
    if value.startswith("os.environ/"):
        return environ.get(value.removeprefix("os.environ/")) or None
    if value.startswith(KEYRING_PREFIX):
        return None
    return value


def keyring_reference(value: Any) -> str | None:
    """NAME of an `api_key: keyring/NAME` value, else None."""
    if isinstance(value, str) and value.startswith(KEYRING_PREFIX) and len(value) > len(KEYRING_PREFIX):
        return value.removeprefix(KEYRING_PREFIX)
    return None


def _provider(entry: ModelEntry) -> str:
    explicit = entry.litellm_params.get("custom_llm_provider")
    if isinstance(explicit, str) and explicit:
        return explicit
    target = entry.target
    return target.split("/", 1)[0] if "/" in target else ""


def _base(value: str) -> str:
    """An Anthropic api_base as LiteLLM accepts it (with or without `/v1` or `/v1/messages`), bare."""
    base = value.rstrip("/")
    for suffix in ("/v1/messages", "/v1"):
        base = base.removesuffix(suffix)
    return base


@dataclass(frozen=True)
class Deployment:
    """One `model_list` entry, for one request: `provider_model` is what the provider is asked for (a
    wildcard entry's `*` filled in with the requested name)."""

    model_name: str
    provider: str
    provider_model: str
    native: bool
    api_base: str = ""
    api_key: str | None = field(default=None, repr=False)
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT_S
    takes_client_credentials: bool = False  # Anthropic's own API: a client's own Claude login may go there
    keyring_credential: str | None = None  # `api_key: keyring/NAME`: the stored key NAME authenticates
    auth_header: str = "x-api-key"  # how the native path sends `api_key`: `x-api-key` or `bearer`

    @property
    def ledger_model(self) -> str:
        """The provider model as the ledger and the price map name it (`anthropic/claude-...`)."""
        return f"{self.provider}/{self.provider_model}" if self.provider else self.provider_model

    def url(self, path: str) -> str:
        return f"{self.api_base}{path}"


def _fill_wildcard(pattern: str, name: str, target: str) -> str:
    """`target` with its `*` replaced by the part of `name` that the `*` of `pattern` matched."""
    if "*" not in target:
        return target
    regex = "^" + ".*?".join(re.escape(p) for p in pattern.split("*")) + "$"
    regex = regex.replace(".*?", "(.*)", 1)
    match = re.match(regex, name)
    return target.replace("*", match.group(1) if match and match.groups() else name, 1)


class Deployments:
    """config.yaml's model list, indexed by model_name (wildcard entries after exact ones)."""

    def __init__(
        self,
        entries: Sequence[ModelEntry],
        environ: Mapping[str, str] | None = None,
        default_timeout: float = DEFAULT_TIMEOUT_S,
        credential_hosts: Sequence[str] = ("api.anthropic.com",),
    ) -> None:
        self._entries = tuple(entries)
        self._credential_hosts = frozenset(h.lower() for h in credential_hosts)
        self._environ = os.environ if environ is None else environ
        self._timeout = default_timeout
        self._exact: dict[str, list[ModelEntry]] = {}
        self._wild: list[ModelEntry] = []
        for entry in self._entries:
            if "*" in entry.model_name:
                self._wild.append(entry)
            else:
                self._exact.setdefault(entry.model_name, []).append(entry)

    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.model_name for e in self._entries))

    def entries_for(self, name: str) -> list[ModelEntry]:
        exact = self._exact.get(name)
        if exact:
            return exact
        return [e for e in self._wild if fnmatch.fnmatchcase(name, e.model_name)][:1]

    def serves_exactly(self, name: str) -> bool:
        """True when an entry is named exactly `name` (no wildcard)."""
        return bool(self._exact.get(name))

    def is_native(self, name: str) -> bool:
        """True when every deployment of `name` speaks Anthropic Messages (so the native path serves it)."""
        entries = self.entries_for(name)
        return bool(entries) and all(_provider(e) == "anthropic" for e in entries)

    def pick(self, name: str, rng: random.Random | None = None) -> Deployment | None:
        """One deployment of `name` (weighted by `weight`, as LiteLLM's simple shuffle), None if unknown."""
        entries = self.entries_for(name)
        if not entries:
            return None
        if len(entries) > 1:
            weights = [float(e.litellm_params.get("weight") or 1) for e in entries]
            entry = (rng or random).choices(entries, weights=weights)[0]
        else:
            entry = entries[0]
        return self.deployment(entry, name)

    def deployment(self, entry: ModelEntry, name: str) -> Deployment:
        params = entry.litellm_params
        provider = _provider(entry)
        target = entry.target.split("/", 1)[1] if entry.target.startswith(f"{provider}/") else entry.target
        provider_model = _fill_wildcard(entry.model_name, name, target) if "*" in entry.model_name else target
        native = provider == "anthropic"
        api_base = resolve_secret(params.get("api_base"), self._environ)
        if native and not api_base:
            # Not ANTHROPIC_BASE_URL: in a shell set up for Claude Code that is this proxy's own URL.
            api_base = self._environ.get("ANTHROPIC_API_BASE") or ANTHROPIC_API_BASE
        api_key = resolve_secret(params.get("api_key"), self._environ)
        if native and api_key is None and keyring_reference(params.get("api_key")) is None:
            api_key = self._environ.get("ANTHROPIC_API_KEY") or None
        headers = params.get("extra_headers")
        timeout = params.get("stream_timeout") or params.get("timeout") or self._timeout
        host = (urlsplit(api_base).hostname or "").lower() if api_base else ""
        return Deployment(
            model_name=name,
            provider=provider,
            provider_model=provider_model,
            native=native,
            api_base=_base(api_base) if native and api_base else (api_base or ""),
            api_key=api_key,
            extra_headers={str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {},
            timeout=float(timeout) if isinstance(timeout, (int, float)) and timeout > 0 else self._timeout,
            takes_client_credentials=native and host in self._credential_hosts,
            keyring_credential=keyring_reference(params.get("api_key")),
            auth_header=auth_header_of(entry),
        )
