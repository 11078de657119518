"""Typed, frozen settings for both config files.

`ccproxy.yaml` has two sections: `litellm:` (how the proxy process runs) and `ccproxy:` (rules, hooks,
credentials, budgets, pricing...). Our models forbid unknown keys so typos are reported; the keys upstream
ccproxy accepted but which have no meaning here are listed in `UPSTREAM_IGNORED_KEYS` and accepted.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ABTestSpec",
    "ABVariantSpec",
    "BudgetSpec",
    "CCProxySection",
    "CacheSpec",
    "HookSpec",
    "LiteLLMConfig",
    "ModelEntry",
    "OAuthSourceSpec",
    "PriceSpec",
    "RuleSpec",
    "ServerSection",
    "UserSpec",
]

# Keys upstream ccproxy accepted that configure features we don't have (mitmproxy inspector, statusline...).
# They load without error and are ignored; `ccproxy validate` mentions them as warnings.
UPSTREAM_IGNORED_KEYS = frozenset(
    {
        "metrics_enabled",
        "statusline",
        "mitm",
        "inspector",
        "otel",
        "compliance",
        "oauth_ttl",
        "oauth_refresh_buffer",
        "context_threshold",
        "reload_config_on_change",
        "host",
        "port",
    }
)


_KEY_HASH = re.compile(r"sha256:[0-9a-f]{64}")
_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSection(_Frozen):
    """The `litellm:` section of ccproxy.yaml: how the proxy process is run."""

    host: str = "127.0.0.1"
    port: int = Field(default=4000, ge=1, le=65535)
    num_workers: int = Field(default=1, ge=1, le=64)
    debug: bool = False
    detailed_debug: bool = False
    environment: dict[str, str] = Field(default_factory=dict)
    allowed_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    allowed_clients: tuple[str, ...] = ()

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            scheme, sep, rest = origin.partition("://")
            if origin != "*" and (not sep or not scheme or not rest or "/" in rest):
                raise ValueError(
                    f"{origin!r} is not an origin: scheme://host[:port] with no path "
                    "(e.g. http://localhost:5173), or *"
                )
        return value

    @field_validator("allowed_clients")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(
                    f"{network!r} is not an IP address or network (e.g. 192.168.1.0/24; 0.0.0.0/0 for any)"
                ) from None
        return value


class RuleSpec(_Frozen):
    """One classification rule: `name` (upstream: `label`), `rule` (import path), constructor `params`."""

    name: str = Field(min_length=1)
    rule: str = Field(min_length=1)
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = Field(default_factory=dict)


class HookSpec(_Frozen):
    """One hook: its import path (`module.function`) and keyword params."""

    hook: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)


class OAuthSourceSpec(_Frozen):
    """Where a provider's token comes from: a shell `command` or a `file` (optionally a JSON path in it)."""

    command: str | None = None
    file: str | None = None
    json_path: str | None = None
    user_agent: str | None = None
    destinations: tuple[str, ...] = ()
    auth_header: str | None = None
    token_url: str | None = None
    client_id: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> OAuthSourceSpec:
        sources = [s for s in (self.command, self.file, self.token_url) if s is not None]
        if self.command is not None and not self.command.strip():
            raise ValueError("command is empty")
        if self.command is not None and self.file is not None:
            raise ValueError("give either command or file, not both")
        if not sources:
            raise ValueError("needs a command, a file or a token_url")
        return self


class BudgetSpec(_Frozen):
    name: str = Field(min_length=1)
    limit_usd: float = Field(gt=0)
    period: Literal["day", "week", "month", "total"] = "day"
    model: str | None = None
    user: str | None = None
    project: str | None = None  # the `x-ccproxy-project` header's value (e.g. a git repository's name)
    alert_at: tuple[float, ...] = (0.75, 0.9, 1.0)
    block: bool = False

    @field_validator("alert_at")
    @classmethod
    def _fractions(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < v <= 10 for v in value):
            raise ValueError("each alert_at value is a fraction of the limit, e.g. 0.75")
        return tuple(sorted(set(value)))


class PriceSpec(_Frozen):
    """USD per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float | None = Field(default=None, ge=0)
    cache_write: float | None = Field(default=None, ge=0)
    cache_write_1h: float | None = Field(default=None, ge=0)


class ABVariantSpec(_Frozen):
    """One arm of an A/B test: a model_name of config.yaml and its share of the sessions."""

    model: str = Field(min_length=1)
    weight: float = Field(default=1.0, gt=0)


class ABTestSpec(_Frozen):
    """An A/B test: requests labelled `label` go to one of `variants`, chosen per session by weight."""

    name: str = Field(min_length=1)
    label: str = Field(min_length=1)
    variants: tuple[ABVariantSpec, ...]
    significance: float = Field(default=0.05, gt=0, le=0.5)
    min_samples: int = Field(default=100, ge=10)
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _no_colon(cls, value: str) -> str:
        if ":" in value:
            raise ValueError("a test name can't contain ':' (the ledger tags requests '<test>:<model>')")
        return value

    @field_validator("variants")
    @classmethod
    def _two_distinct(cls, value: tuple[ABVariantSpec, ...]) -> tuple[ABVariantSpec, ...]:
        models = [v.model for v in value]
        if len(set(models)) < 2:
            raise ValueError("an A/B test needs at least two variants with different models")
        if len(set(models)) != len(models):
            raise ValueError("each model may appear only once among the variants")
        return value


class CacheSpec(_Frozen):
    """The response cache (`ccproxy.cache`): identical requests within `ttl_seconds` answered without the
    provider. Off by default."""

    enabled: bool = False
    storage: Literal["disk", "memory"] = "disk"
    ttl_seconds: float = Field(default=3600.0, gt=0)
    max_entries: int = Field(default=1000, ge=1)
    max_size_mb: float = Field(default=100.0, gt=0)


class UserSpec(_Frozen):
    """One user of the proxy (`users:` maps a name to this): the hash of their key and their limits.

    Tokens are input + cache writes + output (cache reads are left to the cost limits); `None` is no limit.
    Model patterns are shell-style (`claude-haiku-*`), case-insensitive, matched against model_names.
    """

    key_hash: str
    requests_per_minute: int | None = Field(default=None, ge=1)
    daily_token_limit: int | None = Field(default=None, ge=1)
    monthly_token_limit: int | None = Field(default=None, ge=1)
    daily_cost_limit_usd: float | None = Field(default=None, gt=0)
    monthly_cost_limit_usd: float | None = Field(default=None, gt=0)
    allowed_models: tuple[str, ...] = ()
    blocked_models: tuple[str, ...] = ()

    @field_validator("key_hash")
    @classmethod
    def _sha256(cls, value: str) -> str:
        if not _KEY_HASH.fullmatch(value):
            raise ValueError(
                "must be `sha256:` and 64 lowercase hex digits, as `ccproxy user add` prints (never the key)"
            )
        return value


class CCProxySection(_Frozen):
    """The `ccproxy:` section of ccproxy.yaml."""

    debug: bool = False
    handler: str = "ccproxy_desktop.proxy.handler:CCProxyHandler"
    hooks: tuple[HookSpec, ...] | None = None
    rules: tuple[RuleSpec, ...] = ()
    default_model_passthrough: bool = True
    oat_sources: dict[str, OAuthSourceSpec] = Field(default_factory=dict)
    oauth_refresh_interval: int = Field(default=3600, ge=0)
    credential_store: Literal["keyring", "file"] = "keyring"
    retry_enabled: bool = True
    retry_max_attempts: int = Field(default=3, ge=1, le=20)
    retry_initial_delay: float = Field(default=1.0, ge=0)
    retry_max_delay: float = Field(default=60.0, ge=0)
    retry_multiplier: float = Field(default=2.0, ge=1)
    retry_fallback_model: str | None = None
    retry_defer_to_claude_code: bool = True
    # Hosts of Anthropic's own API: only a deployment there receives a client's own Claude credential
    # (a subscription login passed through untouched); every other provider gets its configured key.
    claude_credential_hosts: tuple[str, ...] = ("api.anthropic.com",)
    budgets: tuple[BudgetSpec, ...] = ()
    alert_callbacks: tuple[str, ...] = ()
    pricing: dict[str, PriceSpec] = Field(default_factory=dict)
    ab_tests: tuple[ABTestSpec, ...] = ()
    cache: CacheSpec = Field(default_factory=CacheSpec)
    users: dict[str, UserSpec] = Field(default_factory=dict)
    ignored_upstream_keys: tuple[str, ...] = ()

    @field_validator("users")
    @classmethod
    def _distinct_users(cls, value: dict[str, UserSpec]) -> dict[str, UserSpec]:
        bad = [name for name in value if not _USER_NAME.fullmatch(name)]
        if bad:
            raise ValueError(f"user name {bad[0]!r}: use letters, digits and . _ @ - (at most 64)")
        owners: dict[str, str] = {}
        for name, user in value.items():
            if user.key_hash in owners:
                raise ValueError(f"users {owners[user.key_hash]!r} and {name!r} have the same key_hash")
            owners[user.key_hash] = name
        return value


class ModelEntry(BaseModel):
    """One `model_list` entry of LiteLLM's config.yaml (LiteLLM owns its schema; we read a few fields)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    model_name: str = Field(min_length=1)
    litellm_params: dict[str, Any] = Field(default_factory=dict)
    model_info: dict[str, Any] = Field(default_factory=dict)

    @property
    def target(self) -> str:
        value = self.litellm_params.get("model")
        return value if isinstance(value, str) else ""

    @property
    def is_alias(self) -> bool:
        """True when this entry only renames another: no credentials or endpoint of its own."""
        own = {k for k in self.litellm_params if k != "model"}
        return not own


class LiteLLMConfig(BaseModel):
    """LiteLLM's config.yaml. Sections other than the model list are passed to LiteLLM untouched."""

    model_config = ConfigDict(extra="allow", frozen=True)

    model_list: tuple[ModelEntry, ...] = ()
    litellm_settings: dict[str, Any] = Field(default_factory=dict)
    general_settings: dict[str, Any] = Field(default_factory=dict)
    router_settings: dict[str, Any] = Field(default_factory=dict)

    def model_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.model_name for m in self.model_list))
