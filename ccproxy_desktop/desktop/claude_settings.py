"""Claude Code's `statusLine` setting: add ccproxy's status line to `settings.json`, and take it out again.

The file is `$CLAUDE_CONFIG_DIR/settings.json`, or `~/.claude/settings.json` without that variable. Edits are
textual: only the `statusLine` member is inserted or its value replaced, so every other key, its order, the
indentation and the file's final newline stay as they were. `install` keeps the bytes the file had before in a
side file (`settings.json.ccproxy-statusline`, JSON: `original` text or null when there was no file,
`installed` the `statusLine` value we wrote), and a copy of the previous content in `settings.json.ccproxy-backup`.

`uninstall` gives the file back byte for byte when nothing changed since `install`; when the user edited other
keys meanwhile, only our member is reverted (their old `statusLine` put back, or ours removed). When our
`statusLine` itself was changed since, it refuses: the value is the user's now.

A user's own `statusLine` is never overwritten: `install` refuses unless `wrap` is set, and then our command
runs theirs (`--wrap-command`), prints its output and appends ccproxy's part. Other `statusLine` keys
(`padding`...) are kept.

`settings_file`, `find_member`, `with_status_line` and `without_member` are pure; `install` and `uninstall`
are the file adapter.
"""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..config.paths import atomic_write

__all__ = [
    "BACKUP_SUFFIX",
    "KEY",
    "SIDE_SUFFIX",
    "ClaudeSettingsError",
    "ForeignStatusLine",
    "SettingsResult",
    "find_member",
    "install",
    "is_installed",
    "settings_file",
    "uninstall",
    "with_status_line",
    "without_member",
]

KEY = "statusLine"
BACKUP_SUFFIX = ".ccproxy-backup"
SIDE_SUFFIX = ".ccproxy-statusline"

Action = Literal[
    "created", "added", "wrapped", "updated", "unchanged", "restored", "reverted", "deleted", "not-installed"
]


class ClaudeSettingsError(Exception):
    """settings.json can't be changed safely; the message says which file, why, and what to do."""


class ForeignStatusLine(ClaudeSettingsError):
    """The user has a statusLine command of their own: ccproxy's can wrap it (`wrap=True`), never replace it."""


@dataclass(frozen=True)
class SettingsResult:
    path: Path
    action: Action
    backup: Path | None = None
    wrapped: str | None = None  # the user's own command that ours now runs


@dataclass(frozen=True)
class Member:
    """Character offsets of one top-level member: `start` at its key's quote, `value` and `end` around the value."""

    start: int
    value_start: int
    end: int


def settings_file(home: Path, environ: Mapping[str, str]) -> Path:
    base = environ.get("CLAUDE_CONFIG_DIR")
    return (Path(base).expanduser() if base else home / ".claude") / "settings.json"


# --- pure: the member in the text -------------------------------------------------------------------------

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def _skip(text: str, pos: int) -> int:
    match = _WS.match(text, pos)
    return match.end() if match else pos


def _members(text: str) -> tuple[list[tuple[str, Member]], int]:
    """The top-level members of the JSON object in `text` and the offset of its closing brace."""
    pos = _skip(text, 0)
    if not text.startswith("{", pos):
        raise ValueError("the file is not a JSON object")
    pos = _skip(text, pos + 1)
    members: list[tuple[str, Member]] = []
    if text.startswith("}", pos):
        return members, pos
    while True:
        if not text.startswith('"', pos):
            raise ValueError(f"expected a key at offset {pos}")
        key, after = _DECODER.raw_decode(text, pos)
        colon = _skip(text, after)
        if not text.startswith(":", colon):
            raise ValueError(f"expected ':' at offset {colon}")
        value_start = _skip(text, colon + 1)
        _, end = _DECODER.raw_decode(text, value_start)
        members.append((key, Member(pos, value_start, end)))
        pos = _skip(text, end)
        if text.startswith("}", pos):
            if text[pos + 1 :].strip():
                raise ValueError("text after the JSON object")
            return members, pos
        if not text.startswith(",", pos):
            raise ValueError(f"expected ',' or '}}' at offset {pos}")
        pos = _skip(text, pos + 1)


def find_member(text: str, key: str) -> Member | None:
    """The top-level member `key` (the last one, as JSON parsers keep it). Raises ValueError on bad JSON."""
    found = [member for name, member in _members(text)[0] if name == key]
    return found[-1] if found else None


def _indent(text: str) -> str:
    """The indentation of the object's first member, or two spaces."""
    members, _ = _members(text)
    if not members:
        return "  "
    line_start = text.rfind("\n", 0, members[0][1].start) + 1
    prefix = text[line_start : members[0][1].start]
    return prefix if prefix.strip() == "" and prefix else "  "


def _render(value: dict[str, Any], indent: str) -> str:
    body = json.dumps(value, indent=indent)
    return body.replace("\n", "\n" + indent)


def with_status_line(text: str | None, value: dict[str, Any]) -> str:
    """`text` with `statusLine` set to `value`: its value replaced in place, or a member appended."""
    if text is None or not text.strip():
        return "{\n" + '  "statusLine": ' + _render(value, "  ") + "\n}\n"
    member = find_member(text, KEY)
    indent = _indent(text)
    if member is not None:
        line_start = text.rfind("\n", 0, member.start) + 1
        here = text[line_start : member.start]
        return (
            text[: member.value_start]
            + _render(value, here if not here.strip() else indent)
            + text[member.end :]
        )
    members, close = _members(text)
    rendered = f'"{KEY}": ' + _render(value, indent)
    if not members:
        return text[: text.index("{") + 1] + "\n" + indent + rendered + "\n" + text[close:]
    last_end = members[-1][1].end
    return text[:last_end] + ",\n" + indent + rendered + text[last_end:]


def without_member(text: str, key: str) -> str:
    """`text` without the top-level member `key` and the separator before it (after it, when it is first)."""
    members, close = _members(text)
    names = [name for name, _ in members]
    if key not in names:
        return text
    index = len(names) - 1 - names[::-1].index(key)
    member = members[index][1]
    if index > 0:
        return text[: members[index - 1][1].end] + text[member.end :]
    if len(members) > 1:
        return text[: member.start] + text[members[1][1].start :]
    return text[: text.index("{") + 1] + text[close:]


# --- adapter: the file on disk ----------------------------------------------------------------------------


def _read(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise ClaudeSettingsError(f"{path}: not UTF-8 ({exc}); it was not changed") from None


def _value(path: Path, text: str | None) -> Any:
    if text is None or not text.strip():
        return None
    try:
        member = find_member(text, KEY)
    except ValueError as exc:
        raise ClaudeSettingsError(
            f"{path}: not valid JSON ({exc}); fix it by hand, it was not changed"
        ) from None
    return None if member is None else json.loads(text[member.value_start : member.end])


def _write(path: Path, old: str | None, new: str | None) -> Path | None:
    backup = None
    mode = None
    if old is not None:
        mode = stat.S_IMODE(path.stat().st_mode)
        backup = path.with_name(path.name + BACKUP_SUFFIX)
        atomic_write(backup, old.encode("utf-8"), mode)
    if new is None:
        path.unlink()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path.resolve(), new.encode("utf-8"), mode)
    return backup


def _side(path: Path) -> Path:
    return path.with_name(path.name + SIDE_SUFFIX)


def _load_side(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(_side(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "installed" in data else None


def install(path: Path, command: Callable[[str | None], str], *, wrap: bool = False) -> SettingsResult:
    """Point Claude Code's status line at `command(None)`, or with `wrap` at `command(their_command)`.

    Raises ClaudeSettingsError (the file untouched) when the user has a `statusLine` of their own and `wrap` is
    not set, when theirs is not a command, or when the file is not a JSON object.
    """
    old = _read(path)
    current = _value(path, old)
    side = _load_side(path)
    ours = side is not None and current == side["installed"]
    wrapped: str | None = None
    if ours:
        assert side is not None
        wrapped = side.get("wrapped")
        base = dict(current)
    elif current is not None:
        if not isinstance(current, dict) or current.get("type") != "command" or not current.get("command"):
            raise ClaudeSettingsError(
                f"{path}: its statusLine is not a command ({json.dumps(current)}); ccproxy can't wrap it"
            )
        if not wrap:
            raise ForeignStatusLine(
                f"{path} already has a statusLine of yours (command: {current['command']}); it was not changed. "
                "Run `ccproxy statusline --install --wrap` to keep it: ccproxy's command then runs yours and "
                "appends its part to what yours prints"
            )
        wrapped = str(current["command"])
        base = dict(current)
    else:
        base = {"type": "command"}
    value = {**base, "type": "command", "command": command(wrapped)}
    if ours and value == current:
        return SettingsResult(path, "unchanged", None, wrapped)
    new = with_status_line(old, value)
    # the side file first: a crash in between leaves the original bytes recoverable
    record: dict[str, Any] = {"original": old, "wrapped": wrapped} if not ours else dict(side or {})
    record.update(installed=value, written=new)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(_side(path), json.dumps(record, indent=2).encode() + b"\n", 0o600)
    backup = _write(path, old, new)
    if ours:
        return SettingsResult(path, "updated", backup, wrapped)
    action: Action = "created" if old is None else ("wrapped" if wrapped else "added")
    return SettingsResult(path, action, backup, wrapped)


def is_installed(path: Path) -> bool:
    """ccproxy's status line is the statusLine of `path` (as `install` wrote it)."""
    side = _load_side(path)
    if side is None:
        return False
    try:
        return bool(_value(path, _read(path)) == side["installed"])
    except ClaudeSettingsError:
        return False


def uninstall(path: Path) -> SettingsResult:
    """Take ccproxy's status line out: the file's bytes from before `install` when nothing else changed, else
    only our member reverted. Raises ClaudeSettingsError when our statusLine was changed since."""
    side = _load_side(path)
    old = _read(path)
    if side is None:
        return SettingsResult(path, "not-installed")
    current = _value(path, old)
    if current is None:  # the user took it out already
        _side(path).unlink(missing_ok=True)
        return SettingsResult(path, "not-installed")
    if current != side["installed"]:
        raise ClaudeSettingsError(
            f"{path}: its statusLine was changed since `ccproxy statusline --install` "
            f"(now {json.dumps(current)}); it was not changed. Edit it by hand; the file as it was before the "
            f"install is in {_side(path)} (key `original`)"
        )
    original: str | None = side.get("original")
    untouched = old == side.get("written")
    new = original if untouched else _revert(old, original)
    backup = _write(path, old, new) if old is not None or new is not None else None
    _side(path).unlink(missing_ok=True)
    if new is None:
        return SettingsResult(path, "deleted", backup)
    return SettingsResult(path, "restored" if untouched else "reverted", backup)


def _revert(text: str | None, original: str | None) -> str | None:
    """`text` (edited by the user since the install, our statusLine untouched) with our member reverted: the
    value it had in `original` put back, or the member removed when `original` had none."""
    if text is None:
        return None  # deleted since: leave it deleted
    prior = find_member(original, KEY) if original and original.strip() else None
    if prior is None or original is None:
        return without_member(text, KEY)
    member = find_member(text, KEY)
    assert member is not None
    return text[: member.value_start] + original[prior.value_start : prior.end] + text[member.end :]
