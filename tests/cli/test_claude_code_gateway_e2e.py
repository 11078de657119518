"""The newest Claude Code CLI using the proxy as its LLM gateway, end to end, to the fake provider.

Every run is the real `claude` binary, started by `ccproxy run` (the "proxy" route), or pointed straight at
the fake provider with the same environment `ccproxy run` would give it (the "direct" route). The direct
route checks the test itself and gives the reference for the fidelity tests: a provider error must reach
Claude Code unchanged, so its reaction through the proxy (provider requests, printed error, exit code) is
the one it has talking to the provider directly. See docs/research/claude-code-gateway.md.

Model discovery (`CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY=1`) is seen three ways: the proxy's answer to the
request the CLI sends, the CLI's discovery cache `~/.claude/cache/gateway-models.json` after a `-p` run, and
the interactive `/model` picker, driven in a private tmux server.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from ccproxy_desktop.cli.proxy_commands import child_environment
from ccproxy_desktop.testing.configs import DEMO_MODELS, free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import Behaviour, FakeProvider, RecordedRequest
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy

pytestmark = [pytest.mark.proxy, pytest.mark.claude]

RUN_TIMEOUT_S = 300
PROVIDER_KEY = "fake-provider-key"  # what write_fake_config gives every deployment
TOOL_MARKER = "tool-output-marker-42"
# Model names of the discovery proxy that pass Claude Code's filter (the id contains "claude" or "anthropic").
GATEWAY_MODELS = {
    "claude-ccproxy-fast": ("claude-haiku-4-5-20251001", "anthropic"),
    "ccproxy-anthropic-strong": ("claude-opus-4-8", "anthropic"),
}
DISCOVERY_FILTER = re.compile(r"claude|anthropic", re.IGNORECASE)
PROMPT_TOO_LONG = "prompt is too long: 210000 tokens > 200000 maximum"


def claude_binary() -> str:
    found = shutil.which("claude")
    assert found, "the Claude Code CLI is not installed: bash tests/run.sh installs the newest one"
    return found


def claude_version() -> str:
    out = subprocess.run([claude_binary(), "--version"], capture_output=True, text=True, timeout=60).stdout
    return out.split()[0] if out.split() else "unknown"


# -- running the CLI ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    requests: list[RecordedRequest]  # what the provider received during the run

    @property
    def messages(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == "/v1/messages"]

    def explain(self) -> str:
        return f"exit {self.returncode}\nstdout: {self.stdout[-1500:]}\nstderr: {self.stderr[-1500:]}"


def base_environment(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without Anthropic/Claude settings, with a private HOME, `home/bin` first on
    PATH (the `fake` command the fake model's Bash calls run) and no traffic to api.anthropic.com."""
    bin_dir = home / "bin"
    bin_dir.mkdir(exist_ok=True)
    # The fake provider fills a tool call's string arguments with "fake": Bash runs the command `fake`.
    fake = bin_dir / "fake"
    fake.write_text(f"#!/bin/sh\necho {TOOL_MARKER}\n")
    fake.chmod(0o755)
    # IS_SANDBOX=1 (set in some containers) makes Claude Code retry a 529 ten times instead of three.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANTHROPIC_", "CLAUDE")) and k != "IS_SANDBOX"
    }
    env.update(
        {
            "HOME": str(home),
            "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        }
    )
    env.update(extra or {})
    return env


def ccproxy_run_command(proxy: RunningProxy, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ccproxy_desktop.cli.main",
        "--config-dir",
        str(proxy.paths.config_dir),
        "run",
        claude_binary(),
        *args,
    ]


def run_claude(
    target: RunningProxy | FakeProvider,
    provider: FakeProvider,
    home: Path,
    *args: str,
    env: dict[str, str] | None = None,
) -> Run:
    """`claude ARGS` (print mode: stdin closed) through `ccproxy run` to the proxy, or straight at the fake
    provider with the environment `ccproxy run` would set; returns what it did and what the provider saw."""
    environment = base_environment(home, env)
    if isinstance(target, FakeProvider):
        environment = child_environment(target.base_url, PROVIDER_KEY, environment)
        command = [claude_binary(), *args]
    else:
        command = ccproxy_run_command(target, *args)
    before = len(provider.requests)
    result = subprocess.run(
        command,
        env=environment,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        cwd=home,
        stdin=subprocess.DEVNULL,
    )
    return Run(result.returncode, result.stdout, result.stderr, list(provider.requests)[before:])


@pytest.fixture(params=["proxy", "direct"])
def target(request: pytest.FixtureRequest, provider: FakeProvider) -> RunningProxy | FakeProvider:
    """The proxy (Claude Code through `ccproxy run`) or the provider itself (the reference)."""
    if request.param == "direct":
        return provider
    proxy: RunningProxy = request.getfixturevalue("proxy")
    return proxy


# -- helpers on recorded requests ----------------------------------------------------------------------------


def body(request: RecordedRequest) -> dict[str, Any]:
    assert isinstance(request.json, dict), f"{request.path}: not a JSON object body"
    return request.json


def system_text(request: RecordedRequest) -> str:
    system = body(request).get("system")
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n".join(str(block.get("text", "")) for block in system if isinstance(block, dict))
    return ""


def content_blocks(request: RecordedRequest) -> list[tuple[str, dict[str, Any]]]:
    """(role, block) for every content block of every message (string contents as one text block)."""
    blocks: list[tuple[str, dict[str, Any]]] = []
    for message in body(request).get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            blocks.append((message.get("role", ""), {"type": "text", "text": content}))
        elif isinstance(content, list):
            blocks.extend((message.get("role", ""), block) for block in content if isinstance(block, dict))
    return blocks


def is_subagent(request: RecordedRequest) -> bool:
    """Claude Code marks a subagent's requests in the attribution block of the system prompt."""
    return "cc_is_subagent=true" in system_text(request)


# -- print mode, tools, subagents ----------------------------------------------------------------------------


def test_print_mode_answers(target: RunningProxy | FakeProvider, provider: FakeProvider, home: Path) -> None:
    run = run_claude(target, provider, home, "-p", "say hi")
    assert run.returncode == 0, run.explain()
    assert "reply from " in run.stdout, run.explain()
    asked = [r for r in run.messages if any(b.get("text") == "say hi" for _, b in content_blocks(r))]
    assert asked, "Claude Code's request with the prompt never reached the provider"
    assert body(asked[0]).get("stream") is True


def test_tool_use_loop_runs_the_tool_and_sends_its_result(
    target: RunningProxy | FakeProvider, provider: FakeProvider, home: Path
) -> None:
    run = run_claude(target, provider, home, "-p", "run it [[tool_use:Bash]]", "--allowedTools", "Bash")
    assert run.returncode == 0, run.explain()
    assert "reply from " in run.stdout, run.explain()
    # The follow-up request carries the Bash tool_use the provider asked for and the output of the command
    # Claude Code really ran (our `fake` script), as the tool_result of that tool_use.
    follow_ups = [
        r for r in run.messages if any(b.get("type") == "tool_result" for _, b in content_blocks(r))
    ]
    assert follow_ups, f"no tool_result reached the provider: {[body(r) for r in run.messages][:1]}"
    blocks = content_blocks(follow_ups[0])
    calls = {b["id"]: b for role, b in blocks if role == "assistant" and b.get("type") == "tool_use"}
    results = [b for role, b in blocks if role == "user" and b.get("type") == "tool_result"]
    bash = [c for c in calls.values() if c.get("name") == "Bash"]
    assert bash, f"the assistant's Bash tool_use was not sent back: {calls}"
    (result,) = [r for r in results if r.get("tool_use_id") == bash[0]["id"]]
    assert TOOL_MARKER in json.dumps(result.get("content")), f"the tool did not run: {result}"
    assert not result.get("is_error"), result


def test_subagent_requests_reach_the_provider(
    target: RunningProxy | FakeProvider, provider: FakeProvider, home: Path
) -> None:
    run = run_claude(target, provider, home, "-p", "delegate this [[tool_use:Agent]]")
    assert run.returncode == 0, run.explain()
    subagent = [r for r in run.messages if is_subagent(r)]
    main = [r for r in run.messages if not is_subagent(r)]
    assert subagent, f"no subagent request reached the provider ({len(run.messages)} requests)"
    assert main
    agent_id = subagent[0].headers.get("x-claude-code-agent-id", "")
    assert re.fullmatch(r"a[0-9a-f]{16}", agent_id), f"x-claude-code-agent-id: {agent_id!r}"
    assert all("x-claude-code-agent-id" not in r.headers for r in main)
    session = main[0].headers.get("x-claude-code-session-id")
    assert session and subagent[0].headers.get("x-claude-code-session-id") == session
    # The parent got the subagent's answer back as the result of its Agent call, then answered.
    assert "reply from " in run.stdout, run.explain()


# -- provider errors: the reaction through the proxy is the reaction direct ----------------------------------


@dataclass(frozen=True)
class Reaction:
    exit_code: int
    printed: str  # the error text Claude Code shows (the `result` of --output-format json)
    api_error_status: object
    api_error_type: object
    terminal_reason: object
    provider_requests: int


def normalized(text: str) -> str:
    """`text` without what depends on the route: the gateway's host:port, and the conversation size, which
    differs by the length of the temporary paths."""
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text.strip())
    return re.sub(r"only ~\d+ tokens", "only ~N tokens", text)


def reaction(run: Run) -> Reaction:
    """What Claude Code did about the error, from its `--output-format json` result."""
    try:
        result = json.loads(run.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        result = {"result": run.stdout}
    if not isinstance(result, dict):
        result = {"result": run.stdout}
    return Reaction(
        exit_code=run.returncode,
        printed=normalized(str(result.get("result", ""))),
        api_error_status=result.get("api_error_status"),
        api_error_type=result.get("api_error_type"),
        terminal_reason=result.get("terminal_reason"),
        provider_requests=len(run.messages),
    )


ERROR_CASES = {
    # The first request fails: Claude Code prints the provider's numbers back and cannot compact.
    "prompt_too_long_first_turn": (
        [Behaviour(kind="status", status=400, error_type="invalid_request_error", message=PROMPT_TOO_LONG)],
        ["-p", "hi"],
    ),
    # The request after a tool call fails: Claude Code tries a reactive compaction (more requests).
    "prompt_too_long_mid_conversation": (
        [
            Behaviour(),
            Behaviour(kind="status", status=400, error_type="invalid_request_error", message=PROMPT_TOO_LONG),
        ],
        ["-p", "run it [[tool_use:Bash]]", "--allowedTools", "Bash"],
    ),
    # Overloaded: Claude Code retries (3 attempts in all), then prints "Repeated 529 Overloaded errors".
    "overloaded_529": (
        [Behaviour(kind="status", status=529, error_type="overloaded_error", message="Overloaded")],
        ["-p", "hi"],
    ),
}


def queue(provider: FakeProvider, behaviours: list[Behaviour]) -> None:
    """The behaviours in order, one request each, the last one for every later request too."""
    provider.scenario.reset()
    for behaviour in behaviours[:-1]:
        provider.scenario.push(behaviour, path="/v1/messages")
    provider.scenario.push(behaviours[-1], path="/v1/messages", times=1000)


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_provider_error_reaction_is_the_same_through_the_proxy(
    case: str, proxy: RunningProxy, provider: FakeProvider, tmp_path: Path
) -> None:
    behaviours, prompt_args = ERROR_CASES[case]
    args = [*prompt_args, "--output-format", "json"]
    (tmp_path / "direct").mkdir()
    (tmp_path / "proxied").mkdir()

    queue(provider, behaviours)
    direct_run = run_claude(provider, provider, tmp_path / "direct", *args)
    direct = reaction(direct_run)
    assert direct.exit_code == 1, direct_run.explain()
    if case.startswith("prompt_too_long"):
        assert "Prompt is too long" in direct.printed, direct_run.explain()
    if case == "prompt_too_long_first_turn":
        assert "~210000 tokens (limit 200000)" in direct.printed, direct_run.explain()
    if case == "prompt_too_long_mid_conversation":
        assert direct.provider_requests > 2, "no compaction attempt after the 400"
    if case == "overloaded_529":
        assert "529" in direct.printed and direct.provider_requests > 1, direct_run.explain()
        assert direct.api_error_status == 529, direct_run.explain()

    queue(provider, behaviours)
    proxied_run = run_claude(proxy, provider, tmp_path / "proxied", *args)
    proxied = reaction(proxied_run)
    assert proxied == direct, (
        f"Claude Code reacts differently through the proxy:\n direct:  {direct}\n proxied: {proxied}\n"
        f"proxied run: {proxied_run.explain()}"
    )


# -- model discovery ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway_proxy(provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    """A proxy whose config.yaml also has model names that pass Claude Code's discovery filter."""
    paths = write_fake_config(
        tmp_path_factory.mktemp("gateway"),
        provider.base_url,
        free_port(),
        models={**DEMO_MODELS, **GATEWAY_MODELS},
    )
    with running_proxy(paths) as running:
        yield running


def http_request(
    url: str, method: str, path: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    """One request, no redirect followed."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def discovery_headers(key: str) -> dict[str, str]:
    """The headers of Claude Code's discovery request (2.1.332), as captured."""
    return {
        "User-Agent": f"claude-code/{claude_version()}",
        "anthropic-version": "2023-06-01",
        "x-api-key": key,
        "Accept": "*/*",
        "Accept-Encoding": "gzip, deflate, br, zstd",
        "Connection": "keep-alive",
    }


def served_models(proxy: RunningProxy) -> list[dict[str, Any]]:
    status, _, raw = http_request(proxy.url, "GET", "/v1/models?limit=1000", discovery_headers(proxy.key))
    assert status == 200, raw
    page = json.loads(raw)
    data = page["data"]
    assert isinstance(data, list)
    return data


def configured_model_names(proxy: RunningProxy) -> set[str]:
    config = proxy.paths.litellm_yaml.read_text()
    return {
        entry["model_name"]
        for entry in yaml.safe_load(config)["model_list"]
        if "*" not in entry["model_name"]
    }


def test_proxy_answers_claude_codes_startup_requests(gateway_proxy: RunningProxy) -> None:
    # HEAD /api/hello: the connection-warming probe, sent with no credential at all.
    started = time.monotonic()
    status, _, _ = http_request(
        gateway_proxy.url, "HEAD", "/api/hello", {"User-Agent": "Bun/1.4.6", "Accept": "*/*"}
    )
    assert 200 <= status < 300, status
    assert time.monotonic() - started < 3
    # GET /v1/models?limit=1000: answered directly (no redirect) well within Claude Code's 3 s timeout, in
    # Anthropic's list format, with every (non-wildcard) model name of config.yaml.
    started = time.monotonic()
    status, headers, raw = http_request(
        gateway_proxy.url, "GET", "/v1/models?limit=1000", discovery_headers(gateway_proxy.key)
    )
    assert status == 200, raw
    assert time.monotonic() - started < 3
    assert headers.get("content-type", "").startswith("application/json")
    page = json.loads(raw)
    data = page["data"]
    for model in data:
        assert model["type"] == "model"
        assert isinstance(model["id"], str) and model["id"]
        assert isinstance(model.get("display_name"), str)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", model["created_at"])
    ids = [model["id"] for model in data]
    assert len(ids) == len(set(ids)), ids
    # Every model name of config.yaml is listed so that Claude Code keeps it: by an id that passes its filter,
    # with the name as the id or as the display name (the picker shows the display name).
    kept = [model for model in data if DISCOVERY_FILTER.search(model["id"])]
    for name in configured_model_names(gateway_proxy):
        assert [m for m in kept if name in (m["id"], m["display_name"])], f"{name} would not reach /model"
    assert page["has_more"] is False
    assert page["first_id"] == ids[0] and page["last_id"] == ids[-1]
    # Without the proxy's key there is no model list.
    status, _, _ = http_request(
        gateway_proxy.url,
        "GET",
        "/v1/models?limit=1000",
        {**discovery_headers("sk-wrong"), "x-api-key": "sk-wrong"},
    )
    assert status in (401, 403)


def expected_discovered(proxy: RunningProxy) -> list[str]:
    """The ids Claude Code keeps from the proxy's list: those containing "claude" or "anthropic"."""
    return [model["id"] for model in served_models(proxy) if DISCOVERY_FILTER.search(model["id"])]


def test_model_discovery_in_print_mode_caches_the_proxy_models(
    gateway_proxy: RunningProxy, provider: FakeProvider, home: Path
) -> None:
    # -p does not wait for discovery: slow the answer down so the CLI is still running when the list arrives.
    provider.scenario.latency_ms = 1500
    run = run_claude(
        gateway_proxy, provider, home, "-p", "say hi", env={"CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY": "1"}
    )
    assert run.returncode == 0, run.explain()
    cache_file = home / ".claude" / "cache" / "gateway-models.json"
    assert cache_file.exists(), f"Claude Code did not discover the proxy's models\n{run.explain()}"
    cache = json.loads(cache_file.read_text())
    assert cache["baseUrl"].rstrip("/") == gateway_proxy.url.rstrip("/")
    discovered = [model["id"] for model in cache["models"]]
    assert discovered == expected_discovered(gateway_proxy)
    assert set(GATEWAY_MODELS) <= set(discovered)
    # The discovery request is the proxy's to answer: it never reaches the provider.
    assert not [r for r in run.requests if r.path.startswith("/v1/models")]


# -- the interactive /model picker, in tmux ---------------------------------------------------------------------


class Tmux:
    """A private tmux server (its own socket), so nothing else's sessions are touched."""

    def __init__(self, socket_dir: Path) -> None:
        self.socket = str(socket_dir / "tmux.sock")

    def __call__(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-S", self.socket, *args], capture_output=True, text=True, timeout=30, check=True
        )
        return result.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-J", "-t", "cc")

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.25)
        raise AssertionError(f"{text!r} never appeared on the screen:\n{screen}")

    def kill(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True, timeout=30)


def seed_claude_home(home: Path, workdir: Path, key: str) -> None:
    """A HOME in which the interactive CLI starts straight at its prompt: onboarding done, the folder
    trusted, the API key approved (Claude Code remembers an approved key by its last 20 characters)."""
    state = {
        "hasCompletedOnboarding": True,
        "projects": {str(workdir): {"hasTrustDialogAccepted": True, "hasCompletedProjectOnboarding": True}},
        "customApiKeyResponses": {"approved": [key[-20:]], "rejected": []},
    }
    (home / ".claude.json").write_text(json.dumps(state))


def test_model_picker_lists_the_proxy_models(
    gateway_proxy: RunningProxy, provider: FakeProvider, home: Path, tmp_path: Path
) -> None:
    assert shutil.which("tmux"), (
        "tmux drives Claude Code's interactive /model picker: bash tests/run.sh installs it"
    )
    workdir = home / "work"
    workdir.mkdir()
    seed_claude_home(home, workdir, gateway_proxy.key)
    env = base_environment(
        home, {"CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY": "1", "TERM": "xterm-256color"}
    )
    command = shlex.join(
        ["env", "-i", *(f"{k}={v}" for k, v in env.items()), *ccproxy_run_command(gateway_proxy)]
    )
    tmux = Tmux(tmp_path)
    try:
        tmux("new-session", "-d", "-s", "cc", "-x", "220", "-y", "60", "-c", str(workdir), command)
        tmux.wait_for("\N{HEAVY RIGHT-POINTING ANGLE QUOTATION MARK ORNAMENT}")  # the input prompt
        cache_file = home / ".claude" / "cache" / "gateway-models.json"
        deadline = time.monotonic() + 30
        while not cache_file.exists() and time.monotonic() < deadline:
            time.sleep(0.25)
        tmux("send-keys", "-t", "cc", "-l", "/model")
        tmux.wait_for("/model")  # typed into the prompt before it is sent
        tmux("send-keys", "-t", "cc", "Enter")
        seen = tmux.wait_for("Select model").splitlines()
        # The picker shows ten rows at a time ("↓ 5 more"): walk down the list, collecting every row seen.
        for _ in range(40):
            tmux("send-keys", "-t", "cc", "Down")
            time.sleep(0.15)
            seen.extend(line for line in tmux.screen().splitlines() if line not in seen)
        rows = [
            line
            for line in seen
            if re.match(r"\s*(\N{HEAVY RIGHT-POINTING ANGLE QUOTATION MARK ORNAMENT}\s*)?\d+\.", line)
        ]
        labels = {re.sub(r"^\W*\d+\.\s+", "", row).split("  ")[0].strip(): row for row in rows}
        for name in configured_model_names(gateway_proxy):
            assert name in labels, f"{name} is not in the /model picker: {sorted(labels)}"
        for name in GATEWAY_MODELS:
            assert "From gateway" in labels[name] or "ccproxy" in labels[name], labels[name]
        tmux("send-keys", "-t", "cc", "Escape")
    finally:
        tmux.kill()
