"""Provider presets: where a provider is, which wire format it speaks, its models, the credential it needs.

Pure data and lookups: no I/O, no LiteLLM. Prices and context windows come from LiteLLM's price map
through `catalog.py` (read lazily); a preset only names each model's key in that map.

A provider with an Anthropic-compatible endpoint (DeepSeek, Moonshot, Zhipu, OpenRouter) uses it: the native
path then pipes Claude Code's bytes through unchanged (tools, thinking, streaming as the provider implements
them). The others go through the translated path (LiteLLM).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "PRESETS",
    "AuthHeader",
    "CredentialKind",
    "Preset",
    "PresetModel",
    "WireFormat",
    "preset",
]

WireFormat = Literal["anthropic", "openai", "gemini", "ollama", "bedrock", "vertex"]
"""`anthropic`: native path (Anthropic Messages); the others: translated path (LiteLLM)."""

CredentialKind = Literal["api_key", "none", "aws", "gcp"]
"""`api_key`: a key kept in the OS keyring; `none`: a local server; `aws`/`gcp`: the cloud SDK's own
credentials (environment, profile, application-default login), which ccproxy never stores."""

AuthHeader = Literal["x-api-key", "bearer"]
"""How the native path sends a provider's key: `x-api-key: KEY` (Anthropic's own way), or
`Authorization: Bearer KEY` (what Claude Code sends for ANTHROPIC_AUTH_TOKEN, the variable Moonshot's, Zhipu's
and OpenRouter's Claude Code guides set). Written by `provider add` as config.yaml's
`model_info.ccproxy_auth_header` when it is `bearer`."""


@dataclass(frozen=True)
class PresetModel:
    """A model of a preset. `cost_key` names it in LiteLLM's price map (None: not there)."""

    name: str
    cost_key: str | None = None
    context_window: int | None = None  # used when the price map doesn't know the model


@dataclass(frozen=True)
class Preset:
    """One provider. `litellm_prefix` is the `provider/` part of config.yaml's `model:` for it."""

    name: str
    title: str
    api_base: str
    wire_format: WireFormat
    litellm_prefix: str
    credential: CredentialKind
    models: tuple[PresetModel, ...]
    discovery: Literal["openai", "ollama", "openrouter"] | None = None
    key_url: str = ""
    notes: str = ""
    auth_header: AuthHeader = "x-api-key"
    price_prefix: str = ""  # the provider's prefix in LiteLLM's price map, for models the preset doesn't list

    @property
    def native(self) -> bool:
        return self.wire_format == "anthropic"

    @property
    def needs_key(self) -> bool:
        return self.credential == "api_key"

    def model_names(self) -> list[str]:
        return [m.name for m in self.models]

    def model(self, name: str) -> PresetModel:
        """The preset's entry for `name`, or one without price data for a model the preset doesn't list."""
        for entry in self.models:
            if entry.name == name:
                return entry
        return PresetModel(name)

    def litellm_model(self, model: str) -> str:
        """config.yaml's `litellm_params.model` for `model` of this provider."""
        return f"{self.litellm_prefix}/{model}"


def _m(name: str, cost_key: str | None = None, context_window: int | None = None) -> PresetModel:
    return PresetModel(name, cost_key, context_window)


PRESETS: tuple[Preset, ...] = (
    Preset(
        "anthropic",
        "Anthropic",
        "https://api.anthropic.com",
        "anthropic",
        "anthropic",
        "api_key",
        (
            _m("claude-opus-4-7", "claude-opus-4-7"),
            _m("claude-sonnet-5", "claude-sonnet-5"),
            _m("claude-sonnet-4-6", "claude-sonnet-4-6"),
            _m("claude-haiku-4-5", "claude-haiku-4-5"),
        ),
        discovery=None,
        key_url="https://console.anthropic.com/settings/keys",
        notes="Anthropic's own API: everything Claude Code does works.",
    ),
    Preset(
        "openrouter",
        "OpenRouter",
        "https://openrouter.ai/api",
        "anthropic",
        "anthropic",
        "api_key",
        (
            _m("anthropic/claude-sonnet-4.5", context_window=1_000_000),
            _m("deepseek/deepseek-v3.2", context_window=163_840),
            _m("moonshotai/kimi-k2.5", context_window=262_144),
            _m("z-ai/glm-4.6", context_window=202_752),
            _m("openai/gpt-5.1", context_window=400_000),
            _m("google/gemini-2.5-pro", context_window=1_048_576),
        ),
        discovery="openrouter",
        key_url="https://openrouter.ai/settings/keys",
        notes="OpenRouter's Anthropic-compatible endpoint (its documented Claude Code setup).",
        auth_header="bearer",
    ),
    Preset(
        "deepseek",
        "DeepSeek",
        "https://api.deepseek.com/anthropic",
        "anthropic",
        "anthropic",
        "api_key",
        (
            _m("deepseek-chat", "deepseek/deepseek-chat"),
            _m("deepseek-reasoner", "deepseek/deepseek-reasoner"),
            _m("deepseek-v4-pro", context_window=131_072),
            _m("deepseek-v4-flash", context_window=131_072),
        ),
        key_url="https://platform.deepseek.com/api_keys",
        notes="DeepSeek's Anthropic API: images and documents are not supported; thinking budgets ignored.",
        price_prefix="deepseek",
    ),
    Preset(
        "moonshot",
        "Moonshot (Kimi)",
        "https://api.moonshot.ai/anthropic",
        "anthropic",
        "anthropic",
        "api_key",
        (
            _m("kimi-k2.5", "moonshot/kimi-k2.5"),
            _m("kimi-k2.6", "moonshot/kimi-k2.6"),
            _m("kimi-k2.7-code", "moonshot/kimi-k2.7-code"),
        ),
        key_url="https://platform.moonshot.ai/console/api-keys",
        notes="Moonshot's Anthropic-compatible endpoint (api.moonshot.cn/anthropic in mainland China).",
        auth_header="bearer",
        price_prefix="moonshot",
    ),
    Preset(
        "zhipu",
        "Zhipu (GLM)",
        "https://open.bigmodel.cn/api/anthropic",
        "anthropic",
        "anthropic",
        "api_key",
        (
            _m("glm-4.6", "zai/glm-4.6"),
            _m("glm-4.7", "zai/glm-4.7"),
            _m("glm-5", "zai/glm-5"),
            _m("glm-4.7-flash", "zai/glm-4.7-flash"),
        ),
        key_url="https://open.bigmodel.cn/usercenter/apikeys",
        notes="Zhipu's Anthropic-compatible endpoint; Z.ai users: --api-base https://api.z.ai/api/anthropic.",
        auth_header="bearer",
        price_prefix="zai",
    ),
    Preset(
        "openai",
        "OpenAI",
        "https://api.openai.com/v1",
        "openai",
        "openai",
        "api_key",
        (
            _m("gpt-5.1", "gpt-5.1"),
            _m("gpt-5.2", "gpt-5.2"),
            _m("gpt-5", "gpt-5"),
            _m("gpt-5.1-codex", "gpt-5.1-codex"),
        ),
        discovery="openai",
        key_url="https://platform.openai.com/api-keys",
    ),
    Preset(
        "gemini",
        "Google Gemini",
        "https://generativelanguage.googleapis.com/v1beta",
        "gemini",
        "gemini",
        "api_key",
        (
            _m("gemini-2.5-pro", "gemini/gemini-2.5-pro"),
            _m("gemini-2.5-flash", "gemini/gemini-2.5-flash"),
            _m("gemini-3.1-pro-preview", "gemini/gemini-3.1-pro-preview"),
        ),
        key_url="https://aistudio.google.com/apikey",
        notes="The base URL includes the API version: LiteLLM appends /models/MODEL:ACTION to it.",
    ),
    Preset(
        "groq",
        "Groq",
        "https://api.groq.com/openai/v1",
        "openai",
        "groq",
        "api_key",
        (
            _m("openai/gpt-oss-120b", "groq/openai/gpt-oss-120b"),
            _m("openai/gpt-oss-20b", "groq/openai/gpt-oss-20b"),
            _m("qwen/qwen3.8-27b", "groq/qwen/qwen3.8-27b"),
        ),
        discovery="openai",
        key_url="https://console.groq.com/keys",
    ),
    Preset(
        "ollama",
        "Ollama",
        "http://localhost:11434",
        "ollama",
        "ollama_chat",
        "none",
        (_m("llama3.1", "ollama/llama3.1"), _m("qwen3-coder", context_window=262_144)),
        discovery="ollama",
        notes="A local server: no key. The models are the ones you pulled (`ollama pull`).",
    ),
    Preset(
        "lmstudio",
        "LM Studio",
        "http://localhost:1234/v1",
        "openai",
        "lm_studio",
        "none",
        (_m("qwen/qwen3-coder-30b", context_window=262_144),),
        discovery="openai",
        notes="A local server (LM Studio's Developer tab): no key; models are the ones loaded.",
    ),
    Preset(
        "bedrock",
        "AWS Bedrock",
        "",
        "bedrock",
        "bedrock",
        "aws",
        (
            _m("us.anthropic.claude-sonnet-4-5-20250929-v1:0", context_window=200_000),
            _m("us.anthropic.claude-haiku-4-5-20251001-v1:0", context_window=200_000),
        ),
        notes="AWS credentials from the proxy's environment or profile (AWS_PROFILE, AWS_REGION_NAME).",
    ),
    Preset(
        "vertex",
        "Google Vertex AI",
        "",
        "vertex",
        "vertex_ai",
        "gcp",
        (
            _m("claude-sonnet-4-5", "vertex_ai/claude-sonnet-4-5"),
            _m("gemini-3-pro-preview", "vertex_ai/gemini-3-pro-preview"),
        ),
        notes="Google application-default credentials (`gcloud auth application-default login`), "
        "VERTEXAI_PROJECT and VERTEXAI_LOCATION in the proxy's environment.",
    ),
)


def preset(name: str) -> Preset:
    """The preset called `name` (case-insensitive). KeyError with the known names otherwise."""
    for entry in PRESETS:
        if entry.name == name.lower():
            return entry
    known = ", ".join(p.name for p in PRESETS)
    raise KeyError(f"no provider preset {name!r} (known: {known})")
