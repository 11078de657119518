"""What `ccproxy run` gives its child: the proxy's URL, and either the proxy key (API-key users) or no key at
all (a Claude Code logged in to a subscription keeps its login); `x-ccproxy-key` either way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ccproxy_desktop.cli.proxy_commands import child_environment, claude_logged_in, project_of

URL, KEY = "http://127.0.0.1:4000", "sk-ccproxy-test"


@pytest.mark.parametrize(
    ("files", "env", "logged_in"),
    [
        ({}, {}, False),
        ({".claude/.credentials.json": "{}"}, {}, True),
        ({".claude.json": json.dumps({"oauthAccount": {"emailAddress": "a@b.c"}})}, {}, True),
        ({".claude.json": json.dumps({"numStartups": 3})}, {}, False),
        ({".claude.json": "not json"}, {}, False),
        ({}, {"CLAUDE_CODE_OAUTH_TOKEN": "x"}, True),
        ({".claude/.credentials.json": "{}"}, {"ANTHROPIC_API_KEY": "sk-ant-api-own"}, False),  # a key wins
        ({"cfg/.credentials.json": "{}"}, {"CLAUDE_CONFIG_DIR": "cfg"}, True),
    ],
)
def test_a_claude_login_is_recognised_without_reading_it(
    tmp_path: Path, files: dict[str, str], env: dict[str, str], logged_in: bool
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    env = {k: (str(tmp_path / v) if k == "CLAUDE_CONFIG_DIR" else v) for k, v in env.items()}
    assert claude_logged_in(tmp_path, env) is logged_in


def test_api_key_users_get_the_proxy_key_and_logged_in_users_none() -> None:
    keyed = child_environment(URL, KEY, {"ANTHROPIC_AUTH_TOKEN": "stale"})
    assert keyed["ANTHROPIC_API_KEY"] == KEY and "ANTHROPIC_AUTH_TOKEN" not in keyed
    login = child_environment(URL, KEY, {"ANTHROPIC_API_KEY": "leftover"}, login=True)
    assert "ANTHROPIC_API_KEY" not in login and "ANTHROPIC_AUTH_TOKEN" not in login
    for env in (keyed, login):
        assert env["ANTHROPIC_BASE_URL"] == URL
        assert env["ANTHROPIC_CUSTOM_HEADERS"] == f"x-ccproxy-key: {KEY}"


def test_the_users_own_custom_headers_are_kept() -> None:
    env = child_environment(
        URL, KEY, {"ANTHROPIC_CUSTOM_HEADERS": "x-team: a\nx-ccproxy-key: old"}, login=True
    )
    assert env["ANTHROPIC_CUSTOM_HEADERS"].splitlines() == ["x-team: a", f"x-ccproxy-key: {KEY}"]


def test_requests_are_tagged_with_the_working_folders_project(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "src" / "deep").mkdir(parents=True)
    assert project_of(tmp_path / "repo" / "src" / "deep") == "repo"
    assert project_of(tmp_path) == tmp_path.name
    env = child_environment(URL, KEY, {}, project="repo")
    assert env["ANTHROPIC_CUSTOM_HEADERS"].splitlines() == [
        f"x-ccproxy-key: {KEY}",
        "x-ccproxy-project: repo",
    ]
    shell_set = child_environment(
        URL, KEY, {"ANTHROPIC_CUSTOM_HEADERS": "x-ccproxy-project: other"}, project="repo"
    )
    assert "x-ccproxy-project: repo" not in shell_set["ANTHROPIC_CUSTOM_HEADERS"]


def test_a_main_model_with_a_smaller_window_makes_claude_code_compact_against_it(tmp_path: Path) -> None:
    from ccproxy_desktop.cli.proxy_commands import compact_window
    from ccproxy_desktop.config.loader import load_settings
    from ccproxy_desktop.testing.configs import write_fake_config

    paths = write_fake_config(tmp_path / "cfg", "http://127.0.0.1:9", 4000)
    assert compact_window(load_settings(paths)) is None  # a Claude model: Claude Code knows its window
    config = yaml.safe_load(paths.litellm_yaml.read_text())
    config["model_list"] += [
        {
            "model_name": "deepseek/deepseek-chat",
            "litellm_params": {
                "model": "anthropic/deepseek-chat",
                "api_base": "https://api.deepseek.com/anthropic",
            },
            "model_info": {"max_input_tokens": 131072},
        }
    ]
    for entry in config["model_list"]:
        if entry["model_name"] == "default":  # `ccproxy route default deepseek/deepseek-chat`
            entry["litellm_params"] = {"model": "deepseek/deepseek-chat"}
    paths.litellm_yaml.write_text(yaml.safe_dump(config, sort_keys=False))
    window = compact_window(load_settings(paths))
    assert window == 131072
    env = child_environment(URL, KEY, {}, context_window=window)
    assert env["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "131072"
    mine = child_environment(URL, KEY, {"CLAUDE_CODE_AUTO_COMPACT_WINDOW": "90000"}, context_window=window)
    assert mine["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "90000"  # the user's own setting wins
    assert "CLAUDE_CODE_AUTO_COMPACT_WINDOW" not in child_environment(URL, KEY, {})


def _claude_code_threshold(env: dict[str, str], model_window: int = 1_000_000) -> int:
    """The context size at which Claude Code 2.1.332 compacts, as its bundle computes it from `env`: the
    window (CLAUDE_CODE_AUTO_COMPACT_WINDOW, at least 100,000, at most the model's) less the output reserve
    (the model's output limit, at most 20,000), then that less 13,000, or P% of it if lower."""
    window = min(model_window, max(100_000, int(env["CLAUDE_CODE_AUTO_COMPACT_WINDOW"])))
    output = int(env.get("CLAUDE_CODE_MAX_OUTPUT_TOKENS", "128000"))
    effective = window - min(output, 20_000)
    percent = float(env.get("CLAUDE_AUTOCOMPACT_PCT_OVERRIDE", "0"))
    if 0 < percent <= 100:
        return min(int(effective * percent / 100), effective - 13_000)
    return effective - 13_000


@pytest.mark.parametrize(
    ("window", "threshold"),
    [(8_192, 6_143), (32_768, 24_575), (65_536, 49_151), (99_999, 67_000)],
)
def test_a_window_below_100k_is_reached_through_the_percentage(window: int, threshold: int) -> None:
    """Claude Code reads a window below 100,000 as 100,000: `ccproxy run` sets 100,000 and a percentage that
    puts the threshold at three quarters of the model's window (Claude Code caps it at 67,000)."""
    env = child_environment(URL, KEY, {}, context_window=window)
    assert env["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "100000"
    assert "CLAUDE_AUTOCOMPACT_PCT_OVERRIDE" in env
    assert abs(_claude_code_threshold(env) - threshold) <= 1  # float rounding in Claude Code's floor()
    assert _claude_code_threshold(env) <= window * 3 // 4


def test_from_100k_up_the_window_alone_is_set() -> None:
    env = child_environment(URL, KEY, {}, context_window=131_072)
    assert env["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "131072"
    assert "CLAUDE_AUTOCOMPACT_PCT_OVERRIDE" not in env
    assert _claude_code_threshold(env) == 131_072 - 20_000 - 13_000


def test_a_lower_output_limit_of_the_users_is_counted_in() -> None:
    env = child_environment(URL, KEY, {"CLAUDE_CODE_MAX_OUTPUT_TOKENS": "8000"}, context_window=32_768)
    assert env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == "8000"
    assert abs(_claude_code_threshold(env) - 24_576) <= 1  # 26.7130% of 92,000, not 30.72% of 80,000


def test_the_users_own_compaction_settings_win() -> None:
    mine = {"CLAUDE_CODE_AUTO_COMPACT_WINDOW": "150000"}
    env = child_environment(URL, KEY, mine, context_window=32_768)
    assert env["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "150000"
    assert "CLAUDE_AUTOCOMPACT_PCT_OVERRIDE" not in env  # a percentage of ours would apply to their window
    env = child_environment(URL, KEY, {"CLAUDE_AUTOCOMPACT_PCT_OVERRIDE": "20"}, context_window=32_768)
    assert env["CLAUDE_AUTOCOMPACT_PCT_OVERRIDE"] == "20"
    assert env["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "100000"
    assert _claude_code_threshold(env) == 16_000
    assert "CLAUDE_AUTOCOMPACT_PCT_OVERRIDE" not in child_environment(URL, KEY, {})


@pytest.mark.parametrize(
    ("window", "words"),
    [(8_192, "too small for Claude Code"), (16_000, "too small"), (24_576, "after nearly every turn")],
)
def test_a_window_too_small_for_claude_code_is_warned_about(window: int, words: str) -> None:
    from ccproxy_desktop.cli.proxy_commands import compaction_warning

    warning = compaction_warning(window)
    assert warning is not None and words in warning and f"{window:,}-token" in warning
    assert compaction_warning(32_768) is None and compaction_warning(131_072) is None


def test_ccproxy_run_prints_the_warning_and_still_sets_the_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse
    import types

    from ccproxy_desktop.cli import proxy_commands
    from ccproxy_desktop.testing.configs import write_fake_config

    paths = write_fake_config(
        tmp_path / "cfg", "http://127.0.0.1:9", 4000, models={"default": ("llama3.1", "ollama")}
    )
    config = yaml.safe_load(paths.litellm_yaml.read_text())
    config["model_list"][0]["model_info"] = {"max_input_tokens": 8192}  # Ollama's llama3.1 at its default
    paths.litellm_yaml.write_text(yaml.safe_dump(config, sort_keys=False))

    class RunningControl:
        def __init__(self, _paths: object) -> None:
            pass

        def state(self) -> object:
            return types.SimpleNamespace(url=URL)

    children: list[dict[str, str]] = []
    monkeypatch.setattr(proxy_commands, "ProxyControl", RunningControl)
    monkeypatch.setattr(proxy_commands.subprocess, "call", lambda _cmd, env: children.append(env) or 0)
    monkeypatch.delenv("CLAUDE_CODE_AUTO_COMPACT_WINDOW", raising=False)
    monkeypatch.delenv("CLAUDE_AUTOCOMPACT_PCT_OVERRIDE", raising=False)
    monkeypatch.delenv("CLAUDE_CODE_MAX_OUTPUT_TOKENS", raising=False)
    assert proxy_commands.run(paths, argparse.Namespace(cmd=["true"])) == 0
    assert "8,192-token context window: too small for Claude Code" in capsys.readouterr().err
    (env,) = children
    assert env["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "100000"
    assert _claude_code_threshold(env) <= 8192 * 3 // 4
