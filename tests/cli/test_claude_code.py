"""The real Claude Code CLI, through `ccproxy run`, through the proxy, to the fake provider."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import Behaviour, FakeProvider
from ccproxy_desktop.testing.fake_provider.recording import RecordedRequest
from ccproxy_desktop.testing.fake_provider.scenario import ScriptedToolCall
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy

pytestmark = [pytest.mark.proxy, pytest.mark.claude]

OPENAI_PATHS = ("/v1/chat/completions", "/v1/responses")


def claude_binary() -> str:
    found = shutil.which("claude")
    assert found, (
        "the Claude Code CLI is not installed: npm install -g @anthropic-ai/claude-code (.ci/run does this)"
    )
    return found


def run_claude(
    proxy: RunningProxy, home: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE"))},
        "HOME": str(home),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    command = [
        sys.executable,
        "-m",
        "ccproxy_desktop.cli.main",
        "--config-dir",
        str(proxy.paths.config_dir),
        "run",
        claude_binary(),
        *args,
    ]
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=180, cwd=home, input=stdin
    )


def test_claude_print_mode_goes_through_the_proxy(
    proxy: RunningProxy, provider: FakeProvider, home: Path
) -> None:
    result = run_claude(proxy, home, "-p", "say hi")
    assert result.returncode == 0, result.stderr
    assert "reply from " in result.stdout
    messages = [r for r in provider.requests if r.path == "/v1/messages" and r.json]
    assert messages, "Claude Code's request never reached the provider"
    main = messages[-1]
    assert main.headers.get("x-api-key") != proxy.key, "the proxy key must not be forwarded upstream"
    log = proxy.log_text()
    assert "route " in log and "-> " in log


def test_claude_background_model_routes_to_background(
    proxy: RunningProxy, provider: FakeProvider, home: Path
) -> None:
    result = run_claude(proxy, home, "--model", "haiku", "-p", "say hi")
    assert result.returncode == 0, result.stderr
    assert "reply from claude-haiku-4-5-20251001" in result.stdout


# --- a tool-use turn on each translated format -------------------------------------------------------
#
# The real Claude Code CLI completes a tool-use turn on an OpenAI-format, a Gemini and an Ollama model, through
# the translated path (LiteLLM).
#
# Every request Claude Code makes is routed to models of one format served by the fake provider (OpenAI: Chat
# Completions or Responses, as LiteLLM chooses; Gemini: `v1beta/models/MODEL:streamGenerateContent`; Ollama:
# `/api/chat`). The main model's first answer thinks, then calls Claude Code's `Read` tool on a file in the
# working directory; Claude Code runs it, sends the result back, and the second answer ends the turn. The tests
# check what crossed the wire: the tool's result reached the provider in that provider's own format (a text
# file's lines; a PNG's bytes as an image the format takes), the reasoning went back with it, and Claude Code
# printed the final answer.

SECRET_LINE = "the answer is forty-two, written in notes.txt"
THOUGHT = "The user wants the notes; read the file first."
# A 1x1 PNG: Claude Code's Read returns an image file as an image block inside the tool_result.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
PNG_B64 = base64.b64encode(PNG).decode()


@dataclass(frozen=True)
class SentResult:
    """A tool result as the provider received it: its text and the base64 of the images that went with it."""

    text: str
    images: list[str]


def _openai_results(body: dict[str, Any]) -> list[SentResult]:
    """Responses (`function_call_output`) or Chat (`role: tool`); LiteLLM moves a result's images to a user
    message right after it (the output itself says "[Tool returned an image - see the following user
    message]"), as data URLs."""
    items = body.get("input") or body.get("messages") or []
    results: list[SentResult] = []
    for item in items:
        if item.get("type") == "function_call_output" or item.get("role") == "tool":
            output = item.get("output", item.get("content"))
            results.append(SentResult(output if isinstance(output, str) else json.dumps(output), []))
        elif results and item.get("role") == "user" and isinstance(item.get("content"), list):
            for part in item["content"]:
                url = part.get("image_url")
                url = url.get("url") if isinstance(url, dict) else url
                if isinstance(url, str) and url.startswith("data:image/"):
                    results[-1].images.append(url.split(",", 1)[1])
    return results


def _gemini_results(body: dict[str, Any]) -> list[SentResult]:
    """`functionResponse` parts (LiteLLM writes snake_case, which Google accepts); images as `inlineData`
    parts of the function response (Gemini 3's multimodal function responses)."""
    results = []
    for content in body.get("contents", []):
        for part in content.get("parts", []):
            response = part.get("function_response") or part.get("functionResponse")
            if response is None:
                continue
            images = [
                (inline.get("data") or "")
                for inner in response.get("parts", [])
                if (inline := inner.get("inline_data") or inner.get("inlineData"))
            ]
            results.append(SentResult(json.dumps(response.get("response")), images))
    return results


def _ollama_results(body: dict[str, Any]) -> list[SentResult]:
    """`role: tool` messages, images in their `images` (base64)."""
    return [
        SentResult(m.get("content") or "", list(m.get("images") or []))
        for m in body.get("messages", [])
        if m.get("role") == "tool"
    ]


@dataclass(frozen=True)
class Format:
    name: str
    main: str  # the model `default` is routed to
    background: str  # the model `background` (haiku) is routed to
    paths: tuple[str, ...]  # where its model requests go
    tool_results: Callable[[dict[str, Any]], list[SentResult]]

    def requests(self, provider: FakeProvider, model: str) -> list[RecordedRequest]:
        return [r for r in provider.requests if r.path in self.paths and r.model == model]


def _gemini_paths(*models: str) -> tuple[str, ...]:
    actions = ("streamGenerateContent", "generateContent")
    return tuple(f"/v1beta/models/{model}:{action}" for model in models for action in actions)


GEMINI_MAIN = "gemini-3.1-pro-preview"  # the fake refuses Gemini 3 history that lost its thought signatures
OPENAI = Format("openai", "gpt-main", "gpt-background", OPENAI_PATHS, _openai_results)
GEMINI = Format(
    "gemini", GEMINI_MAIN, "gemini-2.5-flash", _gemini_paths(GEMINI_MAIN, "gemini-2.5-flash"), _gemini_results
)
OLLAMA = Format("ollama", "qwen3-coder", "llama3.1", ("/api/chat",), _ollama_results)
FORMATS = {fmt.name: fmt for fmt in (OPENAI, GEMINI, OLLAMA)}


@dataclass(frozen=True)
class FormatProxy:
    fmt: Format
    proxy: RunningProxy


def _translated_config(
    fmt: Format, provider: FakeProvider, folder: Path, window: int | None = None
) -> ConfigPaths:
    """Every request of Claude Code routed to models of `fmt`; `window`: the main model's
    `model_info.max_input_tokens`, as `ccproxy provider add` writes it."""
    paths = write_fake_config(
        folder,
        provider.base_url,
        free_port(),
        models={"default": (fmt.main, fmt.name), "background": (fmt.background, fmt.name)},
        ccproxy={
            "hooks": ["extract_session_id", "rule_evaluator", "model_router"],
            "default_model_passthrough": False,  # whatever Claude model Claude Code asks for: `default`
            "rules": [{"name": "background", "rule": "MatchModelRule", "params": [{"model_name": "haiku"}]}],
        },
    )
    if window is not None:
        litellm = yaml.safe_load(paths.litellm_yaml.read_text())
        for entry in litellm["model_list"]:
            if entry["model_name"] == "default":
                entry["model_info"] = {"max_input_tokens": window}
        paths.litellm_yaml.write_text(yaml.safe_dump(litellm, sort_keys=False))
    return paths


@pytest.fixture(scope="module", params=list(FORMATS))
def translated(
    request: pytest.FixtureRequest, provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FormatProxy]:
    fmt = FORMATS[request.param]
    paths = _translated_config(fmt, provider, tmp_path_factory.mktemp(f"translated-{fmt.name}") / "cfg")
    with running_proxy(paths) as running:
        yield FormatProxy(fmt, running)


def _reads(provider: FakeProvider, fmt: Format, path: Path) -> None:
    """The next main answer thinks, then calls `Read` on `path`."""
    read = ScriptedToolCall(name="Read", arguments={"file_path": str(path)})
    provider.scenario.push(Behaviour(thinking=THOUGHT, tool_calls=[read]), model=fmt.main)


def _claude_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The result object `claude -p --output-format json` prints, checked for a successful two-turn run."""
    assert result.returncode == 0, result.stdout + result.stderr
    printed: dict[str, Any] = json.loads(result.stdout)
    assert printed["subtype"] == "success" and printed["is_error"] is False, printed
    assert printed["stop_reason"] == "end_turn", printed
    assert printed["usage"]["input_tokens"] > 0 and printed["usage"]["output_tokens"] > 0, printed
    return printed


def _check_reasoning_went_back(fmt: Format, first: RecordedRequest, after: RecordedRequest) -> None:
    """The reasoning of the tool-calling answer was handed back with the tool result, as the format wants."""
    body = after.raw.decode()
    if fmt is GEMINI:
        assert first.response is not None
        signatures = re.findall(r'"thoughtSignature":\s*"([^"]+)"', first.response.body.decode())
        assert signatures, first.response.body[:500]
        calls = [
            part
            for content in after.json["contents"]  # type: ignore[index]
            for part in content["parts"]
            if part.get("function_call") or part.get("functionCall")
        ]
        # The signature Gemini gave, not LiteLLM's `skip_thought_signature_validator` stand-in: it rides in
        # the tool_use id, which Claude Code hands back unchanged.
        assert calls and calls[0].get("thoughtSignature") == signatures[0], calls
    elif fmt is OLLAMA:
        assistant = [m for m in after.json["messages"] if m.get("role") == "assistant"]  # type: ignore[index]
        assert assistant[-1].get("thinking") == THOUGHT and assistant[-1].get("tool_calls"), assistant[-1]
    elif first.path == "/v1/responses":
        assert first.response is not None
        (sealed,) = set(re.findall(r'"encrypted_content":\s*"([^"]+)"', first.response.body.decode()))
        replayed = re.findall(r'"encrypted_content":\s*"([^"]+)"', body)
        assert replayed == [sealed], replayed  # via the thinking block's signature
    else:
        assert THOUGHT in body  # `reasoning_content`


def test_claude_code_runs_a_tool_on_a_translated_format(
    translated: FormatProxy, provider: FakeProvider, home: Path
) -> None:
    fmt = translated.fmt
    notes = home / "notes.txt"
    notes.write_text(SECRET_LINE + "\n")
    _reads(provider, fmt, notes)

    result = run_claude(
        translated.proxy, home, "--allowedTools", "Read", "--output-format", "json", "-p", "read notes.txt"
    )
    printed = _claude_json(result)
    assert printed["result"].startswith(f"reply from {fmt.main}: this is a canned answer"), printed
    assert printed["num_turns"] == 2, printed  # tool_use, then the answer

    main = fmt.requests(provider, fmt.main)
    assert len(main) == 2, [(r.path, r.model) for r in provider.requests]
    first, after = main
    assert "Read" in json.dumps(first.json)  # Claude Code's tools, translated to the provider's tool format
    assert fmt.tool_results(first.json) == []  # type: ignore[arg-type]
    (sent,) = fmt.tool_results(after.json)  # type: ignore[arg-type]
    assert SECRET_LINE in sent.text and sent.images == []
    _check_reasoning_went_back(fmt, first, after)


def test_an_image_from_read_reaches_a_translated_format(
    translated: FormatProxy, provider: FakeProvider, home: Path
) -> None:
    fmt = translated.fmt
    pixel = home / "pixel.png"
    pixel.write_bytes(PNG)
    _reads(provider, fmt, pixel)

    result = run_claude(
        translated.proxy, home, "--allowedTools", "Read", "--output-format", "json", "-p", "look at pixel.png"
    )
    printed = _claude_json(result)
    assert printed["result"].startswith(f"reply from {fmt.main}"), printed

    main = fmt.requests(provider, fmt.main)
    assert len(main) == 2, [(r.path, r.model) for r in provider.requests]
    (sent,) = fmt.tool_results(main[-1].json)  # type: ignore[arg-type]
    assert sent.images == [PNG_B64], (
        sent
    )  # the PNG's bytes, as Claude Code read them, in the format's own way


# --- compaction for a smaller context window -----------------------------------------------------------
#
# A real compaction, through `ccproxy run`: `default` is routed to an Ollama model whose config.yaml entry says
# `model_info.max_input_tokens: 131072`, so `ccproxy run` sets CLAUDE_CODE_AUTO_COMPACT_WINDOW=131072 (the model
# Claude Code believes it talks to has 1M). Claude Code 2.1.332 compacts at that window less 20,000 (output
# reserve) less 13,000: 98,072 tokens, as the provider's usage counts them. Three `claude -p` runs of one session
# (`--continue`): a question; long notes given on stdin (~115k tokens as the fake counts them); a question,
# before which Claude Code asks the model for a summary and then continues from it. (CLAUDE_CODE_AUTO_COMPACT_WINDOW
# below 100,000 is read as 100,000 by Claude Code: a smaller window can't be set this way.)

COMPACT_WINDOW = 131_072
SUMMARY = "<analysis>The user shared notes.</analysis>\n<summary>SUMMARY-7731: the user shared long notes.</summary>"


@pytest.fixture(scope="module")
def small_window_proxy(
    provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningProxy]:
    folder = tmp_path_factory.mktemp("small-window") / "cfg"
    with running_proxy(_translated_config(OLLAMA, provider, folder, window=COMPACT_WINDOW)) as running:
        yield running


def test_claude_code_compacts_at_the_window_ccproxy_run_sets(
    small_window_proxy: RunningProxy, provider: FakeProvider, home: Path
) -> None:
    def main_requests() -> list[RecordedRequest]:
        return OLLAMA.requests(provider, OLLAMA.main)

    def last_user_text(request: RecordedRequest) -> str:
        users = [m for m in request.json["messages"] if m.get("role") == "user"]  # type: ignore[index]
        return str(users[-1].get("content"))

    _claude_json(run_claude(small_window_proxy, home, "--output-format", "json", "-p", "first question"))
    notes = "Here are my notes. " + " ".join(f"note {i} says word{i % 97}." for i in range(20_000))
    _claude_json(
        run_claude(small_window_proxy, home, "--output-format", "json", "--continue", "-p", stdin=notes)
    )
    (asked, noted) = main_requests()
    assert asked.response is not None and noted.response is not None
    used = json.loads(noted.response.body.splitlines()[-1])["prompt_eval_count"]  # Ollama's input tokens
    assert COMPACT_WINDOW - 33_000 < used < COMPACT_WINDOW, used  # past the threshold, within the window
    assert "note 19999 says" in json.dumps(noted.json)  # no compaction yet: the notes went whole

    provider.scenario.push(Behaviour(text=SUMMARY), model=OLLAMA.main)  # the answer to the summary request
    printed = _claude_json(
        run_claude(small_window_proxy, home, "--output-format", "json", "--continue", "-p", "third question")
    )
    assert printed["result"].startswith(f"reply from {OLLAMA.main}"), printed
    summarise, answer = main_requests()[2:]
    assert "note 19999 says" in json.dumps(summarise.json)  # the whole conversation, to be summarised
    assert "summary" in last_user_text(summarise).lower()  # Claude Code's compaction prompt
    assert "third question" not in json.dumps(summarise.json)
    continued = json.dumps(answer.json)
    assert "SUMMARY-7731" in continued and "third question" in continued  # the summary replaces the history
    assert "note 19999 says" not in continued
    assert answer.body_size < noted.body_size // 4


# --- compaction for a window below Claude Code's 100,000 floor -------------------------------------------
#
# Claude Code reads CLAUDE_CODE_AUTO_COMPACT_WINDOW below 100,000 as 100,000, so for a 32,768-token model
# `ccproxy run` sets 100,000 and CLAUDE_AUTOCOMPACT_PCT_OVERRIDE=30.72: 30.72% of 100,000 less the 20,000 output
# reserve, 24,576 tokens, three quarters of the model's window. Claude Code's own request (system prompt and
# tools) is ~12,300 tokens as the fake counts them. Three `claude -p` runs of one session: a question; notes
# (~11k tokens), which fit under the threshold; more notes (~10k), which would take the history past 32,768:
# Claude Code first has the history summarised, then sends the new notes after the summary.

SMALL_WINDOW = 32_768


def _ollama_input_tokens(request: RecordedRequest) -> int:
    assert request.response is not None
    return int(json.loads(request.response.body.splitlines()[-1])["prompt_eval_count"])


@pytest.fixture(scope="module")
def window_32k_proxy(
    provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningProxy]:
    folder = tmp_path_factory.mktemp("window-32k") / "cfg"
    with running_proxy(_translated_config(OLLAMA, provider, folder, window=SMALL_WINDOW)) as running:
        yield running


def test_a_32k_window_compacts_before_the_history_exceeds_it(
    window_32k_proxy: RunningProxy, provider: FakeProvider, home: Path
) -> None:
    def notes(part: str, count: int) -> str:
        return f"Notes {part}. " + " ".join(f"note {part}{i} says word{i % 97}." for i in range(count))

    first, second = notes("A", 1900), notes("B", 1700)
    _claude_json(run_claude(window_32k_proxy, home, "--output-format", "json", "-p", "first question"))
    _claude_json(
        run_claude(window_32k_proxy, home, "--output-format", "json", "--continue", "-p", stdin=first)
    )
    _, noted = OLLAMA.requests(provider, OLLAMA.main)
    assert "note A1899 says" in json.dumps(noted.json)  # under the threshold: no compaction yet
    used = _ollama_input_tokens(noted)
    assert SMALL_WINDOW * 3 // 4 - 5_000 < used < SMALL_WINDOW * 3 // 4, used
    assert used + len(second) // 4 > SMALL_WINDOW  # the next notes would take the history past the window

    provider.scenario.push(Behaviour(text=SUMMARY), model=OLLAMA.main)  # the answer to the summary request
    printed = _claude_json(
        run_claude(window_32k_proxy, home, "--output-format", "json", "--continue", "-p", stdin=second)
    )
    assert printed["result"].startswith(f"reply from {OLLAMA.main}"), printed
    main = OLLAMA.requests(provider, OLLAMA.main)
    summarise, answer = main[2:]
    assert "note A1899 says" in json.dumps(summarise.json) and "note B" not in json.dumps(summarise.json)
    assert "summary" in str(summarise.json["messages"][-1].get("content")).lower()  # type: ignore[index]
    continued = json.dumps(answer.json)
    assert "SUMMARY-7731" in continued and "note B1699 says" in continued
    assert "note A1899 says" not in continued  # the summary replaced the first notes
    sizes = [_ollama_input_tokens(r) for r in main]
    assert max(sizes) < SMALL_WINDOW, sizes  # no request the model got was larger than its window
