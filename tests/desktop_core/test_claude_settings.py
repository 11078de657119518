"""The pure part of the settings.json patch: one member inserted, replaced or removed, nothing else touched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ccproxy_desktop.desktop.claude_settings import (
    find_member,
    settings_file,
    with_status_line,
    without_member,
)

OURS = {"type": "command", "command": "python3 -m ccproxy_desktop.cli.statusline_commands"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{}", '{\n  "statusLine": {\n    "type": "command",\n    "command": "C"\n  }\n}'),
        ('{"a":1}', '{"a":1,\n  "statusLine": {\n    "type": "command",\n    "command": "C"\n  }}'),
        (
            '{\n\t"a": [1, 2]\n}\n',
            '{\n\t"a": [1, 2],\n\t"statusLine": {\n\t\t"type": "command",\n\t\t"command": "C"\n\t}\n}\n',
        ),
        (
            '{\n    "statusLine": {"type": "command", "command": "old"},\n    "b": "}"\n}\n',
            '{\n    "statusLine": {\n        "type": "command",\n        "command": "C"\n    },\n    "b": "}"\n}\n',
        ),
    ],
)
def test_with_status_line(text: str, expected: str) -> None:
    assert with_status_line(text, {"type": "command", "command": "C"}) == expected


@pytest.mark.parametrize(
    "text",
    [
        "{}",
        "{ }\n",
        '{"a":1}',
        '{\n  "model": "opus",\n  "env": {"statusLine": "not top-level"}\n}',
        '{\n\t"a": [1, {"b": "\\"}"}]\n}\n',
    ],
)
def test_inserting_then_removing_gives_the_members_back(text: str) -> None:
    patched = with_status_line(text, OURS)
    assert json.loads(patched) == {**json.loads(text), "statusLine": OURS}
    assert json.loads(without_member(patched, "statusLine")) == json.loads(text)
    if (
        text.strip() != "{ }"
    ):  # an empty object gains a line break; uninstall restores the saved bytes instead
        assert without_member(patched, "statusLine") == text


def test_find_member_sees_only_top_level_keys() -> None:
    text = '{"env": {"statusLine": 1}, "statusLine": {"type": "command"}}'
    member = find_member(text, "statusLine")
    assert member is not None
    assert text[member.value_start : member.end] == '{"type": "command"}'
    assert find_member('{"env": {"statusLine": 1}}', "statusLine") is None


@pytest.mark.parametrize("text", ["[]", '{"a": 1,}', '{"a" 1}', '{"a": 1} x', ""])
def test_not_an_object_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        find_member(text, "statusLine")


def test_settings_file_follows_claude_config_dir(tmp_path: Path) -> None:
    assert settings_file(tmp_path, {}) == tmp_path / ".claude" / "settings.json"
    assert settings_file(tmp_path, {"CLAUDE_CONFIG_DIR": "/x/y"}) == Path("/x/y/settings.json")
    assert settings_file(tmp_path, {"CLAUDE_CONFIG_DIR": ""}) == tmp_path / ".claude" / "settings.json"
