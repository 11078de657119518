"""`ccproxy provider test`'s probe against the fake provider, in each wire format the presets use: one tiny
request in the provider's own format, and a verdict in words that never contains the key. And model discovery
filling `provider add`'s choice from what the provider lists."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ccproxy_desktop.cli.main import main
from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.providers.discovery import discover_models
from ccproxy_desktop.providers.presets import preset
from ccproxy_desktop.providers.probe import probe
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import Behaviour, FakeProvider

KEY = "sk-probe-do-not-print"


@pytest.fixture(scope="module")
def running() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


@pytest.fixture
def fake(running: FakeProvider) -> FakeProvider:
    running.scenario.reset()
    running.clear()
    return running


@pytest.mark.parametrize(
    ("name", "suffix", "model", "path", "limit"),
    [
        ("deepseek", "", "deepseek-chat", "/v1/messages", ("max_tokens", 1)),
        ("openai", "/v1", "gpt-5.1", "/v1/chat/completions", ("max_completion_tokens", 16)),
        ("groq", "/v1", "openai/gpt-oss-120b", "/v1/chat/completions", ("max_tokens", 1)),
        ("lmstudio", "/v1", "qwen/qwen3-coder-30b", "/v1/chat/completions", ("max_tokens", 1)),
        ("ollama", "", "qwen3-coder", "/api/chat", None),
    ],
)
def test_the_probe_asks_in_the_providers_format(
    fake: FakeProvider, name: str, suffix: str, model: str, path: str, limit: tuple[str, int] | None
) -> None:
    entry = preset(name)
    key = KEY if entry.needs_key else None
    result = probe(entry, fake.base_url + suffix, model, key)

    assert result.ok and result.status == 200, result.verdict
    assert result.verdict.startswith(f"ok: {entry.title} answered with {model} in ")
    (sent,) = fake.requests
    assert (sent.path, sent.model) == (path, model)
    assert isinstance(sent.json, dict)
    if limit is not None:
        assert sent.json[limit[0]] == limit[1]
    else:  # Ollama: not streamed (its default is to stream), one token
        assert (sent.json["stream"], sent.json["options"]) == (False, {"num_predict": 1})
    if key:
        assert key in (sent.headers.get("x-api-key"), sent.headers.get("authorization", "")[7:])


def test_gemini_is_probed_through_litellm(fake: FakeProvider) -> None:
    result = probe(preset("gemini"), f"{fake.base_url}/v1beta", "gemini-2.5-flash", KEY)

    assert result.ok, result.verdict
    (sent,) = fake.requests
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.headers.get("x-goog-api-key") == KEY


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (401, "the key was refused (HTTP 401)"),
        (403, "the key was refused (HTTP 403)"),
        (404, "not found (HTTP 404): the model 'deepseek-chat' or the URL"),
        (429, "rate limited or out of credit (HTTP 429)"),
        (529, "the provider failed (HTTP 529)"),
    ],
)
def test_a_refusal_is_said_in_words_without_the_key(fake: FakeProvider, status: int, words: str) -> None:
    fake.scenario.push(Behaviour(kind="status", status=status, message=f"echoing {KEY}"))

    result = probe(preset("deepseek"), fake.base_url, "deepseek-chat", KEY)

    assert not result.ok and result.status == status
    assert words in result.verdict
    assert KEY not in result.verdict.replace(f"echoing {KEY}", "")  # only what the provider itself said


def test_no_answer_and_no_server_are_said_in_words(fake: FakeProvider) -> None:
    fake.scenario.push(Behaviour(kind="timeout"))
    slow = probe(preset("ollama"), fake.base_url, "qwen3-coder", None, timeout=0.5)
    assert not slow.ok and slow.verdict == f"no answer from {fake.base_url}/api/chat within 0.5 s"

    gone = probe(preset("ollama"), "http://127.0.0.1:9", "qwen3-coder", None, timeout=0.5)
    assert not gone.ok and gone.verdict.startswith("unreachable: http://127.0.0.1:9/api/chat: ConnectError")


def test_discovery_reads_the_providers_own_lists(fake: FakeProvider) -> None:
    fake.scenario.listed_models = ["qwen3-coder:30b", "llama3.1:latest"]

    assert discover_models(preset("ollama"), fake.base_url) == ["llama3.1:latest", "qwen3-coder:30b"]
    assert discover_models(preset("openrouter"), fake.base_url, KEY) == ["llama3.1:latest", "qwen3-coder:30b"]
    assert discover_models(preset("lmstudio"), f"{fake.base_url}/v1") == [
        "llama3.1:latest",
        "qwen3-coder:30b",
    ]
    assert [r.path for r in fake.requests] == ["/api/tags", "/v1/models", "/v1/models"]
    assert fake.requests[1].headers.get("authorization") == f"Bearer {KEY}"


def test_provider_add_takes_the_preset_models_the_server_has(
    fake: FakeProvider, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Ollama lists `llama3.1` as `llama3.1:latest`; the preset's qwen3-coder is not pulled here.
    fake.scenario.listed_models = ["llama3.1:latest", "mistral:7b"]
    paths = write_fake_config(tmp_path / "cfg", fake.base_url, free_port())

    code = main(
        ["--config-dir", str(paths.config_dir), "provider", "add", "ollama", "--api-base", fake.base_url]
    )

    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Ollama serves 2 models; add others with --model NAME" in out
    assert _ollama_models(paths) == ["ollama/llama3.1"]


def test_provider_add_takes_the_first_listed_model_when_it_has_none_of_the_presets(
    fake: FakeProvider, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.scenario.listed_models = ["mistral:7b", "phi4:14b"]
    paths = write_fake_config(tmp_path / "cfg", fake.base_url, free_port())

    code = main(
        ["--config-dir", str(paths.config_dir), "provider", "add", "ollama", "--api-base", fake.base_url]
    )

    assert code == 0, capsys.readouterr().err
    assert _ollama_models(paths) == ["ollama/mistral:7b"]


def _ollama_models(paths: ConfigPaths) -> list[str]:
    models = yaml.safe_load(paths.litellm_yaml.read_text())["model_list"]
    return [
        m["model_name"] for m in models if (m.get("model_info") or {}).get("ccproxy_provider") == "ollama"
    ]
