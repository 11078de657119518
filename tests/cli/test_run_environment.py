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
