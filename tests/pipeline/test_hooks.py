"""The built-in hooks, one at a time, with a real `PipelineEnv` over an in-memory config."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ccproxy_desktop.config.loader import Settings
from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.config.schema import CCProxySection, LiteLLMConfig, ServerSection
from ccproxy_desktop.pipeline.context import Reject, RequestContext
from ccproxy_desktop.pipeline.hooks import (
    CLAUDE_CODE_IDENTITY,
    AddBetaHeaders,
    CaptureHeaders,
    ExtractSessionId,
    ForwardApiKey,
    ForwardOAuth,
    Hook,
    InjectClaudeCodeIdentity,
    ModelRouterHook,
    redact_header,
)
from ccproxy_desktop.pipeline.pipeline import PipelineEnv
from ccproxy_desktop.pipeline.router import CatalogUnavailable, ModelCatalog, ModelRouter, StaticCatalog

MODELS = {
    "default": {"model": "anthropic/claude-sonnet-4-5-20250929"},
    "background": {"model": "anthropic/claude-haiku-4-5-20251001"},
    "gpt": {"model": "openai/gpt-4o", "api_key": "sk-openai"},
    "gemini-pro": {"model": "gemini/gemini-2.5-pro"},
    "claude-*": {"model": "anthropic/claude-*"},
    # Another provider's Anthropic-compatible endpoint: "anthropic" to LiteLLM, but not Anthropic's API.
    "deepseek": {
        "model": "anthropic/deepseek-chat",
        "api_base": "https://api.deepseek.com/anthropic",
        "api_key": "sk-deepseek",
    },
    "routed-deepseek": {"model": "deepseek"},  # `ccproxy route RULE deepseek`: an alias of the entry above
}
PROXY_KEY = "sk-proxy-0123456789"


class FixedTokenCount:
    def exceeds(self, system: Any, tools: Any, messages: Any, threshold: int) -> bool:
        return False

    async def exceeds_async(self, system: Any, tools: Any, messages: Any, threshold: int) -> bool:
        return False


@dataclass
class FakeTokens:
    """A token source holding fixed provider tokens and user agents."""

    tokens: dict[str, str] = field(default_factory=dict)
    agents: dict[str, str] = field(default_factory=dict)

    def token_for(self, provider: str) -> str | None:
        return self.tokens.get(provider)

    def user_agent_for(self, provider: str) -> str | None:
        return self.agents.get(provider)


class UnavailableCatalog:
    def model_names(self) -> list[str]:
        raise CatalogUnavailable("LiteLLM is still starting")


def make_env(
    tokens: FakeTokens | None = None, passthrough: bool = True, catalog: ModelCatalog | None = None
) -> PipelineEnv:
    settings = Settings(
        paths=ConfigPaths(Path("/home/me/.ccproxy")),
        server=ServerSection(),
        ccproxy=CCProxySection(default_model_passthrough=passthrough),
        litellm=LiteLLMConfig.model_validate(
            {
                "model_list": [
                    {"model_name": name, "litellm_params": params} for name, params in MODELS.items()
                ]
            }
        ),
    )
    return PipelineEnv(
        settings=settings,
        token_counter=FixedTokenCount(),
        router=ModelRouter(catalog or StaticCatalog(tuple(MODELS))),
        tokens=tokens or FakeTokens(),
        proxy_keys=frozenset({PROXY_KEY}),
    )


def request(
    model: str = "claude-sonnet-4-5-20250929",
    headers: dict[str, str] | None = None,
    routed_model: str | None = None,
    **fields: Any,
) -> RequestContext:
    ctx = RequestContext(
        request_id="req-1",
        call_type="anthropic_messages",
        model=model,
        messages=[{"role": "user", "content": "hello"}],
        headers=headers or {},
        **fields,
    )
    ctx.routed_model = routed_model
    return ctx


async def run(ctx: RequestContext, *hooks: Hook) -> RequestContext:
    for hook in hooks:
        await hook(ctx)
    return ctx


# --- session ids ----------------------------------------------------------------------------------

LEGACY_USER_ID = (
    "user_0f3c9a1b2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a7b8c9d0e1f2a3b4c"
    "_account_3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c_session_7c1e2d3f-4a5b-4c6d-9e8f-0a1b2c3d4e5f"
)


@pytest.mark.parametrize(
    ("metadata", "headers", "expected"),
    [
        pytest.param(
            {"user_id": LEGACY_USER_ID}, {}, "7c1e2d3f-4a5b-4c6d-9e8f-0a1b2c3d4e5f", id="legacy-user-id"
        ),
        pytest.param(
            {"user_id": json.dumps({"device_id": "d1", "account_uuid": "a1", "session_id": "sess-json-1"})},
            {},
            "sess-json-1",
            id="json-user-id",
        ),
        pytest.param({"session_id": "sess-meta-2"}, {}, "sess-meta-2", id="metadata-session-id"),
        pytest.param({}, {"x-claude-code-session-id": "sess-header-3"}, "sess-header-3", id="header"),
        pytest.param(
            {"user_id": LEGACY_USER_ID},
            {"x-claude-code-session-id": "sess-header-3"},
            "7c1e2d3f-4a5b-4c6d-9e8f-0a1b2c3d4e5f",
            id="user-id-wins-over-header",
        ),
        pytest.param(
            {"user_id": json.dumps({"device_id": "d1"})},
            {"x-claude-code-session-id": "sess-header-3"},
            "sess-header-3",
            id="json-without-session-falls-back",
        ),
        pytest.param({"user_id": "alice@example.com"}, {}, None, id="plain-user-id"),
        pytest.param({"user_id": "{not json"}, {}, None, id="broken-json"),
        pytest.param({"user_id": json.dumps(["session_id"])}, {}, None, id="json-not-an-object"),
        pytest.param({"user_id": 42, "session_id": ""}, {}, None, id="wrong-types"),
        pytest.param({}, {}, None, id="nothing"),
    ],
)
async def test_extract_session_id(
    metadata: dict[str, Any], headers: dict[str, str], expected: str | None
) -> None:
    ctx = await run(request(metadata=metadata, headers=headers), ExtractSessionId(make_env()))

    assert ctx.session_id == expected


# --- captured headers -----------------------------------------------------------------------------

SECRET = "sk-ant-oat01-SECRETSECRETSECRET"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("authorization", f"Bearer {SECRET}", "Bearer [redacted]"),
        ("Authorization", f"Basic {SECRET}", "Basic [redacted]"),
        ("proxy-authorization", SECRET, "[redacted]"),
        ("x-api-key", SECRET, "[redacted]"),
        ("x-goog-api-key", SECRET, "[redacted]"),
        ("cookie", f"session={SECRET}", "[redacted]"),
        ("x-refresh-token", SECRET, "[redacted]"),
        ("x-client-secret", SECRET, "[redacted]"),
        ("anthropic-version", "2023-06-01", "2023-06-01"),
        ("user-agent", "claude-cli/2.0.14 (external, cli)", "claude-cli/2.0.14 (external, cli)"),
        ("x-long", "a" * 500, "a" * 200),
    ],
)
def test_redact_header(name: str, value: str, expected: str) -> None:
    assert redact_header(name, value) == expected


CLIENT_HEADERS = {
    "Authorization": f"Bearer {SECRET}",
    "x-api-key": SECRET,
    "cookie": f"session={SECRET}",
    "x-goog-api-key": SECRET,
    "User-Agent": "claude-cli/2.0.14 (external, cli)",
    "anthropic-version": "2023-06-01",
}


@pytest.mark.parametrize(
    ("only", "expected"),
    [
        (
            None,
            {
                "authorization": "Bearer [redacted]",
                "x-api-key": "[redacted]",
                "cookie": "[redacted]",
                "x-goog-api-key": "[redacted]",
                "user-agent": "claude-cli/2.0.14 (external, cli)",
                "anthropic-version": "2023-06-01",
            },
        ),
        (
            ["User-Agent", "x-api-key"],
            {"user-agent": "claude-cli/2.0.14 (external, cli)", "x-api-key": "[redacted]"},
        ),
    ],
)
async def test_capture_headers_never_records_secrets(
    only: list[str] | None, expected: dict[str, str]
) -> None:
    ctx = await run(request(headers=CLIENT_HEADERS), CaptureHeaders(make_env(), headers=only))

    assert ctx.captured_headers == expected
    assert SECRET not in json.dumps(ctx.captured_headers)


# --- credentials ----------------------------------------------------------------------------------

ANTHROPIC_TOKEN = "sk-ant-oat01-from-keyring"
CLIENT_OAT = "sk-ant-oat01-from-claude-code"


@pytest.mark.parametrize(
    ("tokens", "routed_model", "client_auth", "expected_key", "expected_headers"),
    [
        pytest.param(
            FakeTokens({"anthropic": ANTHROPIC_TOKEN}, {"anthropic": "claude-cli/2.0.14 (external, cli)"}),
            "default",
            None,
            ANTHROPIC_TOKEN,
            {
                "authorization": f"Bearer {ANTHROPIC_TOKEN}",
                "user-agent": "claude-cli/2.0.14 (external, cli)",
                "anthropic-beta": "oauth-2025-04-20",
            },
            id="anthropic-token-source",
        ),
        pytest.param(
            FakeTokens({"anthropic": ANTHROPIC_TOKEN}),
            "claude-opus-4-5-20251101",
            f"Bearer {CLIENT_OAT}",
            ANTHROPIC_TOKEN,
            {"authorization": f"Bearer {ANTHROPIC_TOKEN}", "anthropic-beta": "oauth-2025-04-20"},
            id="source-wins-over-client-token",
        ),
        pytest.param(
            FakeTokens(),
            "default",
            f"Bearer {CLIENT_OAT}",
            CLIENT_OAT,
            {"authorization": f"Bearer {CLIENT_OAT}", "anthropic-beta": "oauth-2025-04-20"},
            id="client-subscription-token-to-anthropic",
        ),
        pytest.param(
            FakeTokens(), "gpt", f"Bearer {CLIENT_OAT}", None, {}, id="client-token-never-to-openai"
        ),
        pytest.param(FakeTokens(), "default", f"Bearer {PROXY_KEY}", None, {}, id="proxy-key-not-forwarded"),
        pytest.param(FakeTokens(), "default", None, None, {}, id="no-token"),
        pytest.param(
            FakeTokens({"openai": "sk-openai-oauth"}),
            "gpt",
            None,
            "sk-openai-oauth",
            {"authorization": "Bearer sk-openai-oauth"},
            id="openai-token-without-anthropic-beta",
        ),
        pytest.param(
            FakeTokens({"anthropic": ANTHROPIC_TOKEN}),
            "gemini-pro",
            None,
            None,
            {},
            id="other-provider-untouched",
        ),
        pytest.param(
            FakeTokens({"anthropic": ANTHROPIC_TOKEN}), "mystery-model", None, None, {}, id="unknown-provider"
        ),
    ],
)
async def test_forward_oauth(
    tokens: FakeTokens,
    routed_model: str,
    client_auth: str | None,
    expected_key: str | None,
    expected_headers: dict[str, str],
) -> None:
    headers = {"authorization": client_auth} if client_auth else {}
    ctx = request(headers=headers, routed_model=routed_model)

    await run(ctx, ForwardOAuth(make_env(tokens)))

    assert ctx.upstream_api_key == expected_key
    assert ctx.upstream_headers == expected_headers


@pytest.mark.parametrize(
    ("headers", "expected_key"),
    [
        (
            {"x-api-key": "sk-ant-api03-users-own-key", "authorization": f"Bearer {PROXY_KEY}"},
            "sk-ant-api03-users-own-key",
        ),
        ({"x-api-key": PROXY_KEY}, None),
        ({"authorization": f"Bearer {PROXY_KEY}"}, None),
    ],
)
async def test_forward_apikey_sends_the_clients_own_key_upstream(
    headers: dict[str, str], expected_key: str | None
) -> None:
    ctx = await run(request(headers=headers, routed_model="default"), ForwardApiKey(make_env()))

    assert ctx.upstream_api_key == expected_key


# --- headers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("routed_model", "client_beta", "betas", "already", "expected"),
    [
        pytest.param(
            "default",
            "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14",
            (),
            None,
            "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14",
            id="client-betas-forwarded",
        ),
        pytest.param("default", "a, b", ("b", "c"), None, "a,b,c", id="configured-betas-merged-once"),
        pytest.param(
            "claude-opus-4-5",
            "oauth-2025-04-20,context-1m-2025-08-07",
            (),
            "oauth-2025-04-20",
            "oauth-2025-04-20,context-1m-2025-08-07",
            id="merged-with-oauth-beta",
        ),
        pytest.param(
            "default", None, ("context-1m-2025-08-07",), None, "context-1m-2025-08-07", id="configured-only"
        ),
        pytest.param("default", None, (), None, None, id="nothing-to-add"),
        pytest.param("gpt", "interleaved-thinking-2025-05-14", ("c",), None, None, id="not-for-openai"),
    ],
)
async def test_add_beta_headers(
    routed_model: str,
    client_beta: str | None,
    betas: tuple[str, ...],
    already: str | None,
    expected: str | None,
) -> None:
    ctx = request(headers={"anthropic-beta": client_beta} if client_beta else {}, routed_model=routed_model)
    if already:
        ctx.upstream_headers["anthropic-beta"] = already

    await run(ctx, AddBetaHeaders(make_env(), betas=betas))

    assert ctx.upstream_headers.get("anthropic-beta") == expected


IDENTITY_BLOCK = {"type": "text", "text": CLAUDE_CODE_IDENTITY}


@pytest.mark.parametrize(
    ("system", "expected"),
    [
        pytest.param("Answer in French.", f"{CLAUDE_CODE_IDENTITY}\n\nAnswer in French.", id="string"),
        pytest.param("", CLAUDE_CODE_IDENTITY, id="empty-string"),
        pytest.param(None, CLAUDE_CODE_IDENTITY, id="missing"),
        pytest.param(
            [{"type": "text", "text": "Answer in French.", "cache_control": {"type": "ephemeral"}}],
            [
                IDENTITY_BLOCK,
                {"type": "text", "text": "Answer in French.", "cache_control": {"type": "ephemeral"}},
            ],
            id="list",
        ),
        pytest.param([], [IDENTITY_BLOCK], id="empty-list"),
        pytest.param(
            [IDENTITY_BLOCK, {"type": "text", "text": "Answer in French."}],
            [IDENTITY_BLOCK, {"type": "text", "text": "Answer in French."}],
            id="list-already-has-it",
        ),
        pytest.param(
            [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.0.14"}, IDENTITY_BLOCK],
            [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.0.14"}, IDENTITY_BLOCK],
            id="list-has-it-after-another-block",
        ),
        pytest.param(
            f"{CLAUDE_CODE_IDENTITY}\n\nAnswer in French.",
            f"{CLAUDE_CODE_IDENTITY}\n\nAnswer in French.",
            id="string-already-has-it",
        ),
    ],
)
async def test_inject_claude_code_identity_with_a_forwarded_subscription_token(
    system: Any, expected: Any
) -> None:
    env = make_env(FakeTokens({"anthropic": ANTHROPIC_TOKEN}))
    ctx = request(system=system, routed_model="default")
    hooks = (ForwardOAuth(env), InjectClaudeCodeIdentity(env))

    await run(ctx, *hooks)
    once = json.dumps(ctx.system)
    await run(ctx, *hooks)

    assert ctx.system == expected
    assert json.dumps(ctx.system) == once


@pytest.mark.parametrize(
    ("tokens", "routed_model"),
    [
        pytest.param(FakeTokens(), "default", id="no-oauth-token"),
        pytest.param(FakeTokens({"openai": "sk-openai-oauth"}), "gpt", id="openai-route"),
    ],
)
async def test_inject_claude_code_identity_leaves_other_requests_alone(
    tokens: FakeTokens, routed_model: str
) -> None:
    env = make_env(tokens)
    ctx = request(system="Answer in French.", routed_model=routed_model)

    await run(ctx, ForwardOAuth(env), InjectClaudeCodeIdentity(env))

    assert ctx.system == "Answer in French."


# --- routing --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "model", "passthrough", "expected"),
    [
        ("background", "claude-haiku-4-5", True, ("background", "rule background")),
        ("default", "claude-opus-4-5-20251101", True, ("claude-opus-4-5-20251101", "passthrough")),
        ("default", "claude-opus-4-5-20251101", False, ("default", "default")),
    ],
)
async def test_model_router_sets_the_routed_model(
    label: str, model: str, passthrough: bool, expected: tuple[str, str]
) -> None:
    ctx = request(model)
    ctx.label = label

    await run(ctx, ModelRouterHook(make_env(passthrough=passthrough)))

    assert (ctx.routed_model, ctx.route_reason) == expected


async def test_model_router_refuses_a_model_the_proxy_does_not_serve() -> None:
    ctx = request("gpt-5-turbo")
    ctx.label = "default"

    with pytest.raises(Reject) as caught:
        await run(ctx, ModelRouterHook(make_env()))

    assert (caught.value.status, caught.value.error_type) == (404, "not_found_error")
    assert caught.value.message == (
        "model: gpt-5-turbo is not served by this proxy "
        "(models: background, claude-*, deepseek, default, gemini-pro, gpt, routed-deepseek)"
    )


async def test_model_router_does_not_refuse_while_the_model_list_is_unavailable() -> None:
    ctx = request("claude-sonnet-4-5-20250929")
    ctx.label = "default"

    await run(ctx, ModelRouterHook(make_env(catalog=UnavailableCatalog())))

    assert ctx.target_model == "claude-sonnet-4-5-20250929"


async def test_model_router_sends_a_fallback_try_to_the_forced_model() -> None:
    ctx = request("claude-haiku-4-5")
    ctx.label = "background"
    ctx.forced_model = "default"

    await run(ctx, ModelRouterHook(make_env()))

    assert (ctx.routed_model, ctx.route_reason) == ("default", "fallback")


@pytest.mark.parametrize("client_auth", [None, "Bearer sk-ant-oat01-the-users-own-login"])
async def test_a_claude_login_never_goes_to_another_providers_anthropic_endpoint(
    client_auth: str | None,
) -> None:
    # forward_oauth with a stored Claude login (and a client sending its own): a route to DeepSeek's
    # Anthropic-format endpoint keeps DeepSeek's key; the login is for api.anthropic.com only.
    headers = {"authorization": client_auth} if client_auth else {}
    env = make_env(FakeTokens({"anthropic": ANTHROPIC_TOKEN}))
    ctx = await run(request(headers=headers, routed_model="deepseek"), ForwardOAuth(env))
    assert ctx.upstream_api_key is None and "authorization" not in ctx.upstream_headers
    assert env.takes_claude_credentials("default") and not env.takes_claude_credentials("deepseek")
    assert not env.takes_claude_credentials("routed-deepseek")
    assert not env.takes_claude_credentials("gpt")


async def test_forward_apikey_keeps_a_claude_key_from_another_provider() -> None:
    headers = {"x-api-key": "sk-ant-api03-users-own-key"}
    ctx = await run(request(headers=headers, routed_model="deepseek"), ForwardApiKey(make_env()))
    assert ctx.upstream_api_key is None
    ctx = await run(
        request(headers={"x-api-key": "sk-other-own-key"}, routed_model="gpt"), ForwardApiKey(make_env())
    )
    assert ctx.upstream_api_key == "sk-other-own-key"  # not a Claude key: the hook's documented behaviour
