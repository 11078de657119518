"""`ccproxy provider` and `ccproxy route` against the session's real Secret Service and the real proxy, for every
preset whose wire format the fake provider speaks (Anthropic Messages, OpenAI Responses and Chat Completions,
Gemini, Ollama's /api/chat): each preset is added with `--api-base` pointing at the fake provider and its key
in the keyring (secret-tool reads it; config.yaml names it `keyring/NAME`); the `think` rule is routed to it
and a Claude-Code-shaped streamed tool loop runs through the proxy (thinking, two tool calls in one turn,
tool results with an image, the answer); `provider test` says what happened; `remove` takes the models and
the key away again; and no key is in any file, log, environment or `ps` output."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import pytest
import yaml

from ccproxy_desktop.auth.store import SERVICE_NAME
from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.providers.presets import preset
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import Behaviour, FakeProvider, RecordedRequest
from ccproxy_desktop.testing.helpers import proxy_processes
from ccproxy_desktop.testing.helpers import run_ccproxy as ccproxy
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy
from ccproxy_desktop.testing.tool_loop import (
    ANSWER,
    CALLS,
    QUESTION,
    THINKING,
    check_answer,
    check_tool_calls,
    tool_results,
    turn,
    wait_until_thinking_reaches,
)

pytestmark = pytest.mark.proxy


@dataclass(frozen=True)
class Case:
    """One preset under test: the model added, what `--api-base` adds to the fake's URL, the path and model
    the fake provider sees, the header that carries the key (None: a local server, no key), and what of the
    reasoning the client's next turn must carry back (the opaque signature, or the reasoning text)."""

    name: str
    model: str
    base_suffix: str
    wire_path: str
    key_header: str | None
    echo: str  # "signature" | "thinking"
    provider_model: str = ""

    @property
    def model_name(self) -> str:
        return f"{self.name}/{self.model}"

    @property
    def seen_model(self) -> str:
        return self.provider_model or self.model

    @property
    def key(self) -> str | None:
        return f"sk-{self.name}-desktop-keyring-do-not-leak" if self.key_header else None


GEMINI_3 = "gemini-3.1-pro-preview"  # the fake checks Gemini 3's thought signatures, as Google does
CASES = [
    Case("anthropic", "claude-sonnet-4-6", "", "/v1/messages", "x-api-key", "signature"),
    Case("openrouter", "moonshotai/kimi-k2.5", "", "/v1/messages", "authorization", "signature"),
    Case("deepseek", "deepseek-reasoner", "", "/v1/messages", "x-api-key", "signature"),
    Case("moonshot", "kimi-k2.5", "", "/v1/messages", "authorization", "signature"),
    Case("zhipu", "glm-4.6", "", "/v1/messages", "authorization", "signature"),
    Case("openai", "gpt-5.1", "/v1", "/v1/responses", "authorization", "signature"),
    Case(
        "gemini",
        GEMINI_3,
        "/v1beta",
        f"/v1beta/models/{GEMINI_3}:streamGenerateContent",
        "x-goog-api-key",
        "signature",
    ),
    Case("groq", "openai/gpt-oss-120b", "/v1", "/v1/chat/completions", "authorization", "thinking"),
    Case("ollama", "qwen3-coder", "", "/api/chat", None, "thinking"),
    Case("lmstudio", "qwen/qwen3-coder-30b", "/v1", "/v1/chat/completions", None, "thinking"),
]
KEYS = [case.key for case in CASES if case.key]


def secret_tool(username: str) -> str:
    result = subprocess.run(
        ["secret-tool", "lookup", "service", SERVICE_NAME, "username", username],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return result.stdout


def changed(diff: str) -> list[str]:
    return [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]


@dataclass
class World:
    paths: ConfigPaths
    original: str  # config.yaml before any provider was added
    outputs: list[str]  # everything the commands printed


@pytest.fixture(scope="module")
def world(provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> World:
    """A config folder with every preset of CASES added through the CLI, each key from stdin."""
    paths = write_fake_config(tmp_path_factory.mktemp("providers") / "cfg", provider.base_url, free_port())
    original = "# my own comment, kept\n" + paths.litellm_yaml.read_text()
    paths.litellm_yaml.write_text(original)
    outputs = []
    for case in CASES:
        added = ccproxy(
            paths, "provider", "add", case.name, "--api-base", provider.base_url + case.base_suffix,
            "--model", case.model, stdin=case.key or "",
        )  # fmt: skip
        assert added.returncode == 0, f"{case.name}: {added.stderr}"
        assert f"+- model_name: {case.model_name}\n" in added.stdout  # the diff is shown
        outputs.append(added.stdout + added.stderr)
    return World(paths, original, outputs)


@pytest.fixture(scope="module")
def keyring_proxy(world: World) -> Iterator[RunningProxy]:
    with running_proxy(world.paths) as running:
        yield running


def test_every_preset_is_added_with_its_key_in_the_keyring(world: World, provider: FakeProvider) -> None:
    for case in CASES:
        if case.key:
            assert case.key in secret_tool(case.name), case.name
    models = {m["model_name"]: m for m in yaml.safe_load(world.paths.litellm_yaml.read_text())["model_list"]}
    for case in CASES:
        params = models[case.model_name]["litellm_params"]
        assert params["model"] == preset(case.name).litellm_model(case.model)
        assert params["api_base"] == provider.base_url + case.base_suffix
        assert params.get("api_key") == (f"keyring/{case.name}" if case.key else None)
    text = world.paths.litellm_yaml.read_text()
    assert text.startswith(world.original.split("\nlitellm_settings:")[0])  # the user's part unchanged
    listing = json.loads(ccproxy(world.paths, "provider", "list", "--json").stdout)
    configured = {row["name"]: row["configured_models"] for row in listing["providers"]}
    assert all(configured[case.name] == [case.model_name] for case in CASES)


def _wire_requests(provider: FakeProvider, case: Case) -> list[RecordedRequest]:
    return [r for r in provider.requests if r.path == case.wire_path]


def _check_credential(case: Case, request: RecordedRequest) -> None:
    if case.key_header == "authorization":
        assert request.headers.get("authorization") == f"Bearer {case.key}"
    elif case.key_header is not None:
        assert request.headers.get(case.key_header) == case.key
    for key in KEYS:  # no other provider's key, whatever the header
        if key != case.key:
            assert key not in repr(request.header_items)


def _tool_loop(proxy: RunningProxy, provider: FakeProvider, case: Case, model: str, thinking: bool) -> None:
    """tool_use -> tool_result -> answer, streamed, as Claude Code does it; checked on both sides."""
    client = anthropic.Anthropic(base_url=proxy.url, api_key=proxy.key, max_retries=0, timeout=120)
    provider.scenario.push(Behaviour(thinking=THINKING, text="Let me look.", tool_calls=CALLS))
    messages: list[dict[str, Any]] = [{"role": "user", "content": QUESTION}]
    first = turn(client, model, messages, thinking)
    uses = check_tool_calls(first, thinking)
    (sent,) = _wire_requests(provider, case)
    assert sent.model == case.seen_model
    _check_credential(case, sent)

    messages += tool_results(first, uses)
    provider.scenario.push(Behaviour(text=ANSWER))
    second = turn(client, model, messages, thinking)
    _, answered = _wire_requests(provider, case)
    _check_credential(case, answered)
    check_answer(second, answered.raw.decode(), case.echo if thinking else None)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_each_preset_serves_a_tool_loop_by_its_own_model_name(
    world: World, keyring_proxy: RunningProxy, provider: FakeProvider, case: Case
) -> None:
    _tool_loop(keyring_proxy, provider, case, case.model_name, thinking=False)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_a_rule_routed_to_each_preset_runs_a_streamed_tool_loop_with_thinking(
    world: World, keyring_proxy: RunningProxy, provider: FakeProvider, case: Case
) -> None:
    routed = ccproxy(world.paths, "route", "think", case.model_name)
    assert routed.returncode == 0, routed.stderr
    assert f"+    model: {case.model_name}\n" in routed.stdout
    wait_until_thinking_reaches(keyring_proxy.url, keyring_proxy.key, provider, case.seen_model)
    _tool_loop(keyring_proxy, provider, case, "claude-sonnet-5", thinking=True)

    tested = ccproxy(world.paths, "provider", "test", case.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.startswith(f"{case.name}: ok: {preset(case.name).title} answered with {case.model}")
    world.outputs.append(tested.stdout + tested.stderr)


@pytest.mark.parametrize("name", ["deepseek", "groq"])
def test_provider_test_says_when_the_key_is_refused(world: World, provider: FakeProvider, name: str) -> None:
    provider.scenario.push(Behaviour(kind="status", status=401, error_type="authentication_error"))
    refused = ccproxy(world.paths, "provider", "test", name)
    assert refused.returncode == 1 and "the key was refused (HTTP 401)" in refused.stdout, refused.stdout
    world.outputs.append(refused.stdout + refused.stderr)


def test_no_key_is_in_any_file_log_environment_or_ps(world: World, keyring_proxy: RunningProxy) -> None:
    files = [path for path in world.paths.config_dir.rglob("*") if path.is_file()]
    assert world.paths.proxy_log in files and world.paths.ledger_db in files
    environments = [Path(f"/proc/{pid}/environ").read_bytes() for pid in proxy_processes(world.paths)]
    assert environments
    ps = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True, check=True).stdout
    for key in KEYS:
        for path in files:
            assert key.encode() not in path.read_bytes(), path
        assert all(key.encode() not in environment for environment in environments)
        assert key not in ps
        assert all(key not in output for output in world.outputs)


def test_models_lists_what_a_keyed_provider_serves_and_keep_key_adds_one(
    world: World, provider: FakeProvider
) -> None:
    # Model discovery with the stored key (the tray's pickers read this), then one more model, same key.
    provider.clear()
    listed = ccproxy(world.paths, "provider", "models", "openrouter", "--json")
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert data["source"] == "provider"
    assert {row["name"]: row["added"] for row in data["models"]} == {
        "fake-model-a": False,
        "fake-model-b": False,
    }
    [asked] = [r for r in provider.requests if r.path == "/v1/models"]
    openrouter = next(case for case in CASES if case.name == "openrouter")
    assert asked.headers.get("authorization") == f"Bearer {openrouter.key}"

    added = ccproxy(world.paths, "provider", "add", "openrouter", "--model", "fake-model-a", "--keep-key")
    assert added.returncode == 0, added.stderr
    assert "+- model_name: openrouter/fake-model-a" in changed(added.stdout)
    assert "stored the" not in added.stdout  # the key in the keyring is the one already there
    assert openrouter.key and openrouter.key in secret_tool("openrouter")
    models = {m["model_name"]: m for m in yaml.safe_load(world.paths.litellm_yaml.read_text())["model_list"]}
    params = models["openrouter/fake-model-a"]["litellm_params"]
    assert params["api_base"] == provider.base_url  # the added provider's URL, not the preset's
    assert params["api_key"] == "keyring/openrouter"
    again = json.loads(ccproxy(world.paths, "provider", "models", "openrouter", "--json").stdout)
    assert {row["name"]: row["added"] for row in again["models"]}["fake-model-a"] is True
    world.outputs += [listed.stdout + listed.stderr, added.stdout + added.stderr]


def test_remove_takes_each_presets_models_and_key_away(world: World) -> None:
    routed = CASES[-1]  # the last loop left `think` routed to it
    blocked = ccproxy(world.paths, "provider", "remove", routed.name)
    assert blocked.returncode == 1 and "think still route" in blocked.stderr
    assert ccproxy(world.paths, "route", "think", "default").returncode == 0
    for case in CASES:
        removed = ccproxy(world.paths, "provider", "remove", case.name)
        assert removed.returncode == 0, removed.stderr
        assert f"-- model_name: {case.model_name}" in changed(removed.stdout)
        if case.key:
            assert secret_tool(case.name) == ""
            assert f"removed the {preset(case.name).title} key" in removed.stdout
    text = world.paths.litellm_yaml.read_text()
    assert not any(f"model_name: {case.model_name}\n" in text for case in CASES)
    assert "keyring/" not in text and text.startswith("# my own comment, kept\n")
    before = world.paths.litellm_yaml.read_text()
    keyless = ccproxy(world.paths, "provider", "add", "deepseek", "--keep-key", "--model", "deepseek-chat")
    assert keyless.returncode == 1 and "no DeepSeek key in" in keyless.stderr  # nothing to keep
    assert world.paths.litellm_yaml.read_text() == before


@pytest.mark.parametrize("stdin", ["", "   \n"])
def test_add_without_a_key_changes_nothing(tmp_path: Path, provider: FakeProvider, stdin: str) -> None:
    paths = write_fake_config(tmp_path / "cfg", provider.base_url, free_port())
    before = paths.litellm_yaml.read_text()
    result = ccproxy(paths, "provider", "add", "groq", "--api-base", provider.base_url, stdin=stdin)
    assert result.returncode == 1 and "no key given" in result.stderr
    assert paths.litellm_yaml.read_text() == before
    assert secret_tool("groq") == ""


def test_a_login_stored_with_auth_is_never_replaced_or_removed(
    tmp_path: Path, provider: FakeProvider
) -> None:
    # `ccproxy auth import-claude` keeps a Claude subscription under the name the Anthropic preset uses.
    paths = write_fake_config(tmp_path / "cfg", provider.base_url, free_port())
    login = json.dumps(
        {"access_token": "sk-ant-oat01-login", "refresh_token": "r", "token_url": f"{provider.base_url}/t"}
    )
    assert ccproxy(paths, "auth", "set", "anthropic", stdin=login).returncode == 0
    before = paths.litellm_yaml.read_text()
    try:
        refused = ccproxy(
            paths, "provider", "add", "anthropic", "--api-base", provider.base_url, stdin="sk-ant-api-key"
        )
        assert refused.returncode == 1 and "already holds a login for anthropic (oauth2" in refused.stderr
        assert "sk-ant-oat01-login" in secret_tool("anthropic")
        assert paths.litellm_yaml.read_text() == before
        kept = ccproxy(paths, "provider", "remove", "anthropic")
        assert kept.returncode == 0 and "kept the login for anthropic (oauth2)" in kept.stdout
        assert "sk-ant-oat01-login" in secret_tool("anthropic")
    finally:
        assert ccproxy(paths, "auth", "remove", "anthropic").returncode == 0
