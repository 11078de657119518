"""Config edits that respect the user's file: a config.yaml with comments and odd formatting survives
provider add/remove and route with exactly the intended lines changed; invalid results are refused and
nothing is written; the previous version is kept as .bak."""

from __future__ import annotations

import difflib
import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from ccproxy_desktop.config.edit import (
    ConfigEditError,
    add_models,
    add_user,
    apply_change,
    edit_config,
    remove_models,
    set_budget,
    set_route,
)
from ccproxy_desktop.config.loader import ConfigInvalid
from ccproxy_desktop.config.paths import ConfigPaths

# Four-space indentation, sequences not indented, flow maps, quotes, inline and trailing comments.
CONFIG = textwrap.dedent(
    """\
    # my models -- hand-written, please keep this comment
    model_list:
    - model_name: default       # the main one
      litellm_params:
          model: 'anthropic/claude-sonnet-5'
          extra_headers: {x-team: "blue"}
    # background work goes to haiku
    - model_name: background
      litellm_params:
          model: "anthropic/claude-haiku-4-5-20251001"   # cheap
          api_key: os.environ/ANTHROPIC_API_KEY
    - model_name: "claude-*"
      litellm_params: {model: "anthropic/claude-*"}

    litellm_settings:
        drop_params: true     # keep
        request_timeout: 600
    """
)

CCPROXY = textwrap.dedent(
    """\
    ccproxy:
      # rules, in order
      rules:
        - name: background
          rule: MatchModelRule
          params: {model_name: haiku}
      budgets: []
    litellm:
      port: 4000
    """
)

DEEPSEEK = {
    "model_name": "deepseek/deepseek-chat",
    "litellm_params": {
        "model": "anthropic/deepseek-chat",
        "api_base": "https://api.deepseek.com/anthropic",
        "api_key": "keyring/deepseek",
    },
    "model_info": {"ccproxy_provider": "deepseek"},
}


def changed_lines(diff: str) -> list[str]:
    return [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]


@pytest.fixture
def paths(tmp_path: Path) -> ConfigPaths:
    paths = ConfigPaths(tmp_path)
    paths.litellm_yaml.write_text(CONFIG)
    paths.ccproxy_yaml.write_text(CCPROXY)
    paths.litellm_yaml.chmod(0o640)
    return paths


def test_add_route_remove_change_only_the_intended_lines(paths: ConfigPaths) -> None:
    added = edit_config(paths, "config.yaml", add_models([DEEPSEEK]))
    assert changed_lines(added.diff) == [
        "+- model_name: deepseek/deepseek-chat",
        "+  litellm_params:",
        "+      model: anthropic/deepseek-chat",
        "+      api_base: https://api.deepseek.com/anthropic",
        "+      api_key: keyring/deepseek",
        "+  model_info:",
        "+      ccproxy_provider: deepseek",
    ]
    text = paths.litellm_yaml.read_text()
    # The new entry sits after the last model, before the blank line that separates the sections.
    assert '  litellm_params: {model: "anthropic/claude-*"}\n- model_name: deepseek/deepseek-chat\n' in text
    assert "      ccproxy_provider: deepseek\n\nlitellm_settings:\n" in text
    assert added.backup == paths.litellm_yaml.with_name("config.yaml.bak")
    assert added.backup.read_text() == CONFIG
    assert oct(paths.litellm_yaml.stat().st_mode & 0o777) == "0o640"  # the user's permissions kept

    routed = edit_config(paths, "config.yaml", set_route("background", "deepseek/deepseek-chat"))
    # The value changes in place (its quoting and its comment's column kept), the rule's own key goes.
    assert changed_lines(routed.diff) == [
        '-      model: "anthropic/claude-haiku-4-5-20251001"   # cheap',
        "-      api_key: os.environ/ANTHROPIC_API_KEY",
        '+      model: "deepseek/deepseek-chat"                # cheap',
    ]
    assert "# background work goes to haiku" in paths.litellm_yaml.read_text()

    edit_config(paths, "config.yaml", set_route("background", "default"))
    removed = edit_config(
        paths, "config.yaml", remove_models(lambda m: m["model_name"] == "deepseek/deepseek-chat")
    )
    assert changed_lines(removed.diff) == [
        "-- model_name: deepseek/deepseek-chat",
        "-  litellm_params:",
        "-      model: anthropic/deepseek-chat",
        "-      api_base: https://api.deepseek.com/anthropic",
        "-      api_key: keyring/deepseek",
        "-  model_info:",
        "-      ccproxy_provider: deepseek",
    ]
    # After add, route, route back and remove, the file is the original but for the routed rule.
    assert paths.litellm_yaml.read_text() == CONFIG.replace(
        '      model: "anthropic/claude-haiku-4-5-20251001"   # cheap\n'
        "      api_key: os.environ/ANTHROPIC_API_KEY\n",
        '      model: "default"                               # cheap\n',
    )


def test_an_invalid_result_is_refused_and_nothing_is_written(paths: ConfigPaths) -> None:
    broken = dict(DEEPSEEK, model_name="")  # an empty model_name is invalid
    with pytest.raises(ConfigInvalid) as refused:
        edit_config(paths, "config.yaml", add_models([broken]))
    assert str(paths.litellm_yaml) in str(refused.value)
    assert "model_name" in str(refused.value)
    assert paths.litellm_yaml.read_text() == CONFIG
    assert not paths.litellm_yaml.with_name("config.yaml.bak").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (set_route("background", "nonesuch"), "no model named 'nonesuch'"),
        (set_route("default", "default"), "itself"),
        (remove_models(lambda m: m["model_name"] == "nonesuch"), "no such model"),
        (add_models([dict(DEEPSEEK, model_name="default")]), "already has a model named 'default'"),
    ],
)
def test_changes_that_cannot_be_made_say_why(paths: ConfigPaths, change: object, message: str) -> None:
    with pytest.raises(ConfigEditError, match=message):
        edit_config(paths, "config.yaml", change)  # type: ignore[arg-type]
    assert paths.litellm_yaml.read_text() == CONFIG


def test_route_of_a_rule_without_an_entry_appends_an_alias() -> None:
    new = apply_change(CONFIG, set_route("think", "default"))
    assert new.endswith('  litellm_params: {model: "anthropic/claude-*"}\n- model_name: think\n'
                       "  litellm_params:\n      model: default\n\nlitellm_settings:\n"
                       "    drop_params: true     # keep\n    request_timeout: 600\n")  # fmt: skip


def test_user_and_budget_edits_keep_ccproxy_yaml_comments(paths: ConfigPaths) -> None:
    edit_config(
        paths, "ccproxy.yaml", add_user("carol", {"key_hash": "sha256:" + "ab" * 32, "daily_token_limit": 10})
    )
    result = edit_config(
        paths, "ccproxy.yaml", set_budget({"name": "daily", "limit_usd": 5.0, "period": "day"})
    )
    text = paths.ccproxy_yaml.read_text()
    assert "  # rules, in order\n" in text and "params: {model_name: haiku}" in text
    assert "carol:" in text and "daily_token_limit: 10" in text
    assert changed_lines(result.diff) == [
        "-  budgets: []",
        "+  budgets:",
        "+    - name: daily",
        "+      limit_usd: 5.0",
        "+      period: day",
    ]
    with pytest.raises(ConfigEditError, match="already exists"):
        edit_config(paths, "ccproxy.yaml", add_user("carol", {"key_hash": "sha256:" + "cd" * 32}))


Ccproxy = Callable[..., tuple[int, str, str]]


@pytest.fixture
def ccproxy(paths: ConfigPaths, capsys: pytest.CaptureFixture[str]) -> Ccproxy:
    """`ccproxy --config-dir DIR ARGS...` in this process: (exit code, stdout, stderr)."""
    from ccproxy_desktop.cli.main import main

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["--config-dir", str(paths.config_dir), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_provider_add_route_remove_through_the_cli_change_only_their_lines(
    paths: ConfigPaths, ccproxy: Ccproxy
) -> None:
    def shown_diff(out: str) -> list[str]:  # the diff the command printed
        return changed_lines(out.split("\nsaved ")[0])

    # LM Studio: a local server, no key (nothing to ask, no keyring); port 9 refuses at once, so no discovery.
    before = paths.litellm_yaml.read_text()
    code, out, err = ccproxy(
        "provider",
        "add",
        "lmstudio",
        "--api-base",
        "http://127.0.0.1:9/v1",
        "--model",
        "qwen/qwen3-coder-30b",
    )
    assert code == 0, err
    entry = [
        "+- model_name: lmstudio/qwen/qwen3-coder-30b",
        "+  litellm_params:",
        "+      model: lm_studio/qwen/qwen3-coder-30b",
        "+      api_base: http://127.0.0.1:9/v1",
        "+  model_info:",
        "+      ccproxy_provider: lmstudio",
        "+      max_input_tokens: 262144",
    ]
    assert shown_diff(out) == entry
    assert (
        changed_lines(
            "".join(
                difflib.unified_diff(before.splitlines(True), paths.litellm_yaml.read_text().splitlines(True))
            )
        )
        == entry
    )
    assert "      ccproxy_provider: lmstudio\n      max_input_tokens: 262144\n\nlitellm_settings:\n" in (
        paths.litellm_yaml.read_text()
    )

    code, out, err = ccproxy("route", "background", "lmstudio/qwen/qwen3-coder-30b")
    assert code == 0, err
    assert shown_diff(out) == [
        '-      model: "anthropic/claude-haiku-4-5-20251001"   # cheap',
        "-      api_key: os.environ/ANTHROPIC_API_KEY",
        '+      model: "lmstudio/qwen/qwen3-coder-30b"         # cheap',
    ]
    code, _, err = ccproxy("route", "nonesuch", "default")
    assert code == 1 and "no rule named 'nonesuch'" in err

    code, _, err = ccproxy("provider", "remove", "lmstudio")
    assert code == 1 and "background still route to lmstudio" in err
    assert ccproxy("route", "background", "default")[0] == 0
    code, out, err = ccproxy("provider", "remove", "lmstudio")
    assert code == 0, err
    assert shown_diff(out) == ["-" + line[1:] for line in entry]
    # Everything but the rule that was routed is as the user wrote it: comments, quotes, flow maps, indents.
    assert paths.litellm_yaml.read_text() == CONFIG.replace(
        '      model: "anthropic/claude-haiku-4-5-20251001"   # cheap\n'
        "      api_key: os.environ/ANTHROPIC_API_KEY\n",
        '      model: "default"                               # cheap\n',
    )
    assert paths.litellm_yaml.with_name("config.yaml.bak").exists()


def test_budget_set_remove_and_user_remove_through_the_cli_change_only_their_lines(
    paths: ConfigPaths, ccproxy: Ccproxy
) -> None:
    original = paths.ccproxy_yaml.read_text()
    code, out, err = ccproxy("budget", "set", "thinking", "5", "--period", "week", "--model", "think")
    assert code == 0, err
    assert changed_lines(out.split("\nsaved ")[0]) == [
        "-  budgets: []",
        "+  budgets:",
        "+    - name: thinking",
        "+      limit_usd: 5.0",
        "+      period: week",
        "+      model: think",
    ]
    code, out, err = ccproxy("budget", "set", "thinking", "8", "--period", "week", "--alert-at", "0.5,1")
    assert code == 0, err
    assert "+      limit_usd: 8.0" in changed_lines(out) and "-      model: think" in changed_lines(out)
    code, out, _ = ccproxy("budget", "--json")
    [status] = json.loads(out)
    assert (status["name"], status["limit_usd"], status["period"]) == ("thinking", 8.0, "week")

    code, _, err = ccproxy("budget", "set", "thinking", "0")  # refused, nothing written
    assert code == 2 and "limit_usd: Input should be greater than 0" in err
    code, _, err = ccproxy("budget", "remove", "nope")
    assert code == 1 and "no budget 'nope'" in err
    code, out, err = ccproxy("budget", "remove", "thinking")
    assert code == 0, err
    text = paths.ccproxy_yaml.read_text()
    assert "thinking" not in text and "  # rules, in order\n" in text

    edit_config(paths, "ccproxy.yaml", add_user("carol", {"key_hash": "sha256:" + "ab" * 32}))
    code, out, err = ccproxy("user", "remove", "carol")
    assert code == 0, err
    assert changed_lines(out.split("\nsaved ")[0]) == [
        "-  users:",
        "-    carol:",
        f"-      key_hash: sha256:{'ab' * 32}",
    ]
    code, _, err = ccproxy("user", "remove", "carol")
    assert code == 1 and "no user 'carol'" in err
    # Nothing else changed: the emptied lists are gone, the comments are where they were.
    assert paths.ccproxy_yaml.read_text() == original.replace("  budgets: []\n", "")
