"""Built-in hooks. Each runs once per request, in the order ccproxy.yaml lists them, and declares the
facts it needs (`requires`) and establishes (`provides`); the pipeline checks that order when it is built.

A hook may change only the decision fields of the context (see `RequestContext`), except where its
docstring says otherwise. It refuses a request by raising `Reject`; any other exception is logged and
the request goes on without that hook.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol

from .ab import ABTests
from .context import Reject, RequestContext
from .router import ModelChoice, ModelRouter
from .rules import Rule, RuleEnv

__all__ = [
    "AddBetaHeaders",
    "CaptureHeaders",
    "ExtractSessionId",
    "ForwardApiKey",
    "ForwardOAuth",
    "Hook",
    "HookEnv",
    "InjectClaudeCodeIdentity",
    "ModelRouterHook",
    "RuleEvaluator",
    "redact_header",
]


class TokenSource(Protocol):
    def token_for(self, provider: str) -> str | None:
        """The current access token for `provider`, or None when there is none."""

    def user_agent_for(self, provider: str) -> str | None: ...


class HookEnv(RuleEnv, Protocol):
    """Services hooks may use. Built once per config load by the app and shared by every request."""

    @property
    def rules(self) -> Sequence[tuple[str, Rule]]: ...

    @property
    def router(self) -> ModelRouter: ...

    @property
    def default_model_passthrough(self) -> bool: ...

    @property
    def ab_tests(self) -> ABTests: ...

    @property
    def tokens(self) -> TokenSource: ...

    def model_override(self) -> ModelChoice | None:
        """The quick model switch, or None when routing is automatic."""

    def provider_of(self, model_name: str) -> str:
        """The provider (anthropic, openai, gemini...) that serves `model_name`, or "" if unknown."""

    def takes_claude_credentials(self, model_name: str) -> bool:
        """True if a Claude credential may go with `model_name`'s requests: an Anthropic-format deployment
        on one of `claude_credential_hosts` (Anthropic's own API), not another provider's endpoint."""

    def is_proxy_key(self, key: str) -> bool:
        """True if `key` is a key clients use to authenticate to this proxy."""

    def rule_failed(self, name: str, exc: BaseException) -> None:
        """Report a rule that raised (logged once by the pipeline's error funnel)."""


class Hook(ABC):
    """Base class of class-style hooks: constructed once per config load with the env and YAML params."""

    name: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()
    provides: ClassVar[tuple[str, ...]] = ()

    def __init__(self, env: HookEnv) -> None:
        self.env = env

    @abstractmethod
    async def __call__(self, ctx: RequestContext) -> None: ...


# --- classification and routing -------------------------------------------------------------------


class RuleEvaluator(Hook):
    """Sets `ctx.label` to the name of the first rule that matches, or "default". A rule that raises
    counts as not matching and is reported once."""

    name = "rule_evaluator"
    provides = ("classify",)

    async def __call__(self, ctx: RequestContext) -> None:
        for rule_name, rule in self.env.rules:
            try:
                matched = await rule.evaluate_async(ctx, self.env)
            except Exception as exc:  # a broken custom rule must not fail the request
                self.env.rule_failed(rule_name, exc)
                continue
            if matched:
                ctx.label = rule_name
                return
        ctx.label = "default"


class ModelRouterHook(Hook):
    """Sets `ctx.routed_model`: the fallback model of a retried request (`ctx.forced_model`), else the
    model_name named like the label, the quick-switch model, the requested model (passthrough) or
    `default`; then refuses a model the proxy doesn't serve. An A/B test on the label then picks the
    session's variant (not when the quick switch or a fallback chose the model)."""

    name = "model_router"
    requires = ("classify",)
    provides = ("route",)

    async def __call__(self, ctx: RequestContext) -> None:
        if ctx.forced_model:
            ctx.routed_model, ctx.route_reason = ctx.forced_model, "fallback"
            return
        route = self.env.router.route(
            ctx.label, ctx.model, self.env.default_model_passthrough, self.env.model_override()
        )
        ctx.routed_model, ctx.route_reason = route.model, route.reason
        # Before the live model list could be read, "unknown" only means "not known yet": let LiteLLM decide.
        if route.reason == "unknown" and self.env.router.loaded:
            known = ", ".join(self.env.router.names())
            raise Reject(
                404, "not_found_error", f"model: {ctx.model} is not served by this proxy (models: {known})"
            )
        self.env.ab_tests.apply(ctx, route, self.env.router)


# --- identity and headers -------------------------------------------------------------------------

_LEGACY_USER_ID = re.compile(r"^user_(?P<user>[^_]*)_account_(?P<account>[^_]*)_session_(?P<session>[\w-]+)$")


def parse_session_id(user_id: Any) -> str | None:
    """The session id inside Claude Code's `metadata.user_id`: the legacy
    `user_<hash>_account_<uuid>_session_<uuid>` string or the newer JSON object string."""
    if not isinstance(user_id, str) or not user_id:
        return None
    match = _LEGACY_USER_ID.match(user_id)
    if match:
        return match.group("session")
    if user_id.startswith("{"):
        try:
            decoded = json.loads(user_id)
        except ValueError:
            return None
        session = decoded.get("session_id") if isinstance(decoded, dict) else None
        return session if isinstance(session, str) and session else None
    return None


class ExtractSessionId(Hook):
    """Sets `ctx.session_id` from Claude Code's `metadata.user_id`, `metadata.session_id` or the
    `x-claude-code-session-id` header."""

    name = "extract_session_id"
    provides = ("session",)

    async def __call__(self, ctx: RequestContext) -> None:
        session = parse_session_id(ctx.metadata.get("user_id"))
        if session is None:
            value = ctx.metadata.get("session_id") or ctx.headers.get("x-claude-code-session-id")
            session = value if isinstance(value, str) and value else None
        ctx.session_id = session


_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "x-goog-api-key", "api-key", "cookie", "set-cookie"}
)


def redact_header(name: str, value: str) -> str:
    """A header value safe to log: secrets keep only a recognisable prefix, other values are capped."""
    lowered = name.lower()
    if lowered in _SECRET_HEADERS or "token" in lowered or "secret" in lowered or lowered.endswith("-key"):
        scheme = value.split(" ", 1)[0] + " " if value.lower().startswith(("bearer ", "basic ")) else ""
        return f"{scheme}[redacted]"
    return value[:200]


def _strings(value: object, what: str) -> tuple[str, ...]:
    """A hook param that must be a list of strings (YAML gives anything); ValueError naming it otherwise."""
    if value is None:
        return ()
    if (
        isinstance(value, str)
        or not isinstance(value, Sequence)
        or not all(isinstance(v, str) for v in value)
    ):
        raise ValueError(f"{what} must be a list of strings")
    return tuple(value)


class CaptureHeaders(Hook):
    """Records request headers in `ctx.captured_headers`, secrets redacted. `headers` limits the names
    (case-insensitive); default all."""

    name = "capture_headers"

    def __init__(self, env: HookEnv, headers: Sequence[str] | None = None) -> None:
        super().__init__(env)
        self.only = frozenset(h.lower() for h in _strings(headers, "headers")) if headers else None

    async def __call__(self, ctx: RequestContext) -> None:
        for name, value in ctx.headers.items():
            if self.only is None or name.lower() in self.only:
                ctx.captured_headers[name.lower()] = redact_header(name, value)


def _bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization", "")
    return value[7:].strip() if value.lower().startswith("bearer ") else None


OAUTH_BETA = "oauth-2025-04-20"


class ForwardOAuth(Hook):
    """For a route to a provider with a token (stored with `ccproxy auth`, or from `oat_sources`), sends that
    token upstream: as `Authorization: Bearer` with, for Anthropic, the OAuth beta header; an Anthropic API
    key (not `sk-ant-oat...`) as `x-api-key`. Adds the source's user agent. A client that itself sent a
    subscription token (`sk-ant-oat...`) has it forwarded to Anthropic."""

    name = "forward_oauth"
    requires = ("route",)
    provides = ("credentials",)

    async def __call__(self, ctx: RequestContext) -> None:
        provider = self.env.provider_of(ctx.target_model)
        if not provider:
            return
        if provider == "anthropic" and not self.env.takes_claude_credentials(ctx.target_model):
            return  # another provider's Anthropic-compatible endpoint: its own key, never a Claude login
        token = self.env.tokens.token_for(provider)
        client_token = _bearer(ctx.headers)
        if (
            token is None
            and provider == "anthropic"
            and client_token
            and client_token.startswith("sk-ant-oat")
        ):
            token = client_token
        if token is None:
            return
        ctx.upstream_api_key = token
        ctx.credential_provider = provider
        agent = self.env.tokens.user_agent_for(provider)
        if agent:
            ctx.upstream_headers["user-agent"] = agent
        if provider == "anthropic" and not token.startswith("sk-ant-oat"):
            return  # an API key: LiteLLM sends it as x-api-key
        ctx.upstream_headers["authorization"] = f"Bearer {token}"
        ctx.oauth_provider = provider
        if provider == "anthropic":
            _merge_beta(ctx, [OAUTH_BETA])


class ForwardApiKey(Hook):
    """Sends the client's own `x-api-key` upstream when it is not this proxy's key (the client then
    authenticates to the proxy with `Authorization: Bearer <proxy key>`)."""

    name = "forward_apikey"
    requires = ("route",)
    provides = ("credentials",)

    async def __call__(self, ctx: RequestContext) -> None:
        key = ctx.headers.get("x-api-key")
        if not key or self.env.is_proxy_key(key):
            return
        if key.startswith("sk-ant-") and not self.env.takes_claude_credentials(ctx.target_model):
            return  # a Claude key goes to Anthropic only: another provider gets its own key
        ctx.upstream_api_key = key


def _merge_beta(ctx: RequestContext, values: Sequence[str]) -> None:
    current = ctx.upstream_headers.get("anthropic-beta", "")
    merged = list(dict.fromkeys([v.strip() for v in current.split(",") if v.strip()] + list(values)))
    ctx.upstream_headers["anthropic-beta"] = ",".join(merged)


class AddBetaHeaders(Hook):
    """For routes to Anthropic, forwards the client's `anthropic-beta` values plus any configured `betas`
    (de-duplicated, order kept)."""

    name = "add_beta_headers"
    requires = ("route",)

    def __init__(self, env: HookEnv, betas: Sequence[str] = ()) -> None:
        super().__init__(env)
        self.betas = _strings(betas, "betas")

    async def __call__(self, ctx: RequestContext) -> None:
        if self.env.provider_of(ctx.target_model) != "anthropic":
            return
        client = [v.strip() for v in ctx.headers.get("anthropic-beta", "").split(",") if v.strip()]
        if client or self.betas:
            _merge_beta(ctx, [*client, *self.betas])


CLAUDE_CODE_IDENTITY = "You are Claude Code, Anthropic's official CLI for Claude."


class InjectClaudeCodeIdentity(Hook):
    """When a subscription OAuth token is forwarded to a Claude model, makes sure the system prompt starts
    with Claude Code's identity line (Anthropic requires it for such tokens). Modifies `ctx.system`."""

    name = "inject_claude_code_identity"
    requires = ("credentials",)

    async def __call__(self, ctx: RequestContext) -> None:
        # Every model behind an Anthropic route is a Claude model, whatever its model_name ("default"...).
        if ctx.oauth_provider != "anthropic":
            return
        system = ctx.system
        if isinstance(system, str):
            if not system.startswith(CLAUDE_CODE_IDENTITY):
                ctx.system = f"{CLAUDE_CODE_IDENTITY}\n\n{system}" if system else CLAUDE_CODE_IDENTITY
        elif isinstance(system, list):
            # Claude Code may put other blocks (e.g. a billing header line) before its identity block.
            if not any(
                isinstance(block, Mapping) and str(block.get("text", "")).startswith(CLAUDE_CODE_IDENTITY)
                for block in system
            ):
                ctx.system = [{"type": "text", "text": CLAUDE_CODE_IDENTITY}, *system]
        else:
            ctx.system = CLAUDE_CODE_IDENTITY


BUILTIN_HOOKS: Mapping[str, type[Hook]] = {
    cls.name: cls
    for cls in (
        RuleEvaluator,
        ModelRouterHook,
        ExtractSessionId,
        CaptureHeaders,
        ForwardOAuth,
        ForwardApiKey,
        AddBetaHeaders,
        InjectClaudeCodeIdentity,
    )
}

# Module attributes under the upstream names, so `ccproxy_desktop.pipeline.hooks.rule_evaluator` (what
# `ccproxy.hooks.rule_evaluator` maps to) resolves to the hook class.
rule_evaluator = RuleEvaluator
model_router = ModelRouterHook
extract_session_id = ExtractSessionId
capture_headers = CaptureHeaders
forward_oauth = ForwardOAuth
forward_apikey = ForwardApiKey
add_beta_headers = AddBetaHeaders
inject_claude_code_identity = InjectClaudeCodeIdentity
