"""Shell integration: a `claude` shell function that goes through the proxy while it runs.

After `install`, typing `claude` in a new bash, zsh or fish runs `ccproxy run claude ARGS...` while the proxy
is running and the real `claude` straight to the provider when it is not. The running test reads the pid from
the proxy's state file (`<config dir>/run/proxy.json`) with shell built-ins and checks it with `kill -0`: no
Python starts on a direct call.

The function lives in a marked block of the shell's rc file (fish: a file of its own in `conf.d`). The block
owns exactly the bytes it added, so `uninstall` gives back the file as it was before `install`:
  - it opens the file (offset 0) only when `install` created the file: removing it deletes the file again,
    unless the user has written something after it since;
  - otherwise it owns the one line break just before its start marker (the file's missing final newline, or
    the blank line that sets it apart from the user's last line).
Edits are atomic (temp file in the same folder, renamed over), keep the file's mode, follow a symlinked rc file
to its target and leave a copy of the previous content in `<rc file>.ccproxy-backup`. A file whose markers are
unbalanced is refused, never guessed at.

`snippet`, `marked_block`, `with_block`, `without_block`, `find_block`, `rc_file` and `detect_shell` are pure;
`install`, `uninstall` and `is_installed` are the file adapter the CLI and the tray call.
"""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, get_args

from ..config.paths import atomic_write

__all__ = [
    "END_MARKER",
    "SHELLS",
    "START_MARKER",
    "Action",
    "BlockSpan",
    "InstallResult",
    "Shell",
    "ShellIntegrationError",
    "UnbalancedMarkers",
    "detect_shell",
    "find_block",
    "install",
    "is_installed",
    "locate_ccproxy",
    "marked_block",
    "rc_file",
    "snippet",
    "uninstall",
    "with_block",
    "without_block",
]

Shell = Literal["bash", "zsh", "fish"]
SHELLS: Final[tuple[Shell, ...]] = get_args(Shell)

START_MARKER: Final = "# >>> ccproxy shell integration >>>"
END_MARKER: Final = "# <<< ccproxy shell integration <<<"
BACKUP_SUFFIX: Final = ".ccproxy-backup"

# "pid" and at most 9 digits (no overflow into a 0 or negative pid, which `kill` takes as a process group),
# in a syntax that bash and zsh (POSIX ERE) and fish (PCRE2) all read. The state file is one line of JSON:
# `{"pid": 1234, "url": ...}`.
_PID_ERE: Final = '"pid"[[:space:]]*:[[:space:]]*([1-9][0-9]{0,8})([^0-9]|$)'

_HEADER: Final = (
    "# claude: Claude Code through the ccproxy proxy while it runs (`ccproxy run claude`),\n"
    "# straight to the provider when it does not. Through the proxy, its requests name the project (the git\n"
    "# top-level folder's name, else the current folder's) in an x-ccproxy-project header, for `ccproxy usage`.\n"
)

# bash and zsh differ only in the regex syntax and options; `function claude` (not `claude()`) because an
# alias named claude would be expanded in `claude() {` when the code is eval'ed in one piece.
_POSIX_LIKE: Final = """\
unalias claude 2>/dev/null || true
function claude {
@PROLOGUE@    local _ccproxy_dir=@DIR@ _ccproxy_json="" _ccproxy_pid=""
    case $_ccproxy_dir in "~" | "~/"*) _ccproxy_dir=$HOME${_ccproxy_dir#"~"} ;; esac
    if [ -f "$_ccproxy_dir/run/proxy.json" ] && [ -r "$_ccproxy_dir/run/proxy.json" ]; then
        IFS= read -r -d '' _ccproxy_json <"$_ccproxy_dir/run/proxy.json" || true
    fi
    if [[ $_ccproxy_json =~ @REGEX@ ]]; then
        _ccproxy_pid=@MATCH@
    fi
    if [ -n "$_ccproxy_pid" ] && kill -0 "$_ccproxy_pid" 2>/dev/null; then
        local _ccproxy_project _ccproxy_headers
        _ccproxy_project=$(command git rev-parse --show-toplevel 2>/dev/null) || _ccproxy_project=""
        _ccproxy_project=${_ccproxy_project:-$PWD}
        _ccproxy_project=${_ccproxy_project##*/}
        _ccproxy_project=${_ccproxy_project//[$'\\r\\n']/}
        _ccproxy_headers="x-ccproxy-project: $_ccproxy_project"
        if [ -n "${ANTHROPIC_CUSTOM_HEADERS-}" ]; then
            _ccproxy_headers="$_ccproxy_headers"$'\\n'"$ANTHROPIC_CUSTOM_HEADERS"
        fi
        ANTHROPIC_CUSTOM_HEADERS=$_ccproxy_headers @CCPROXY@ run claude "$@"
    else
        command claude "$@"
    fi
}
"""

_FISH: Final = """\
function claude --description 'Claude Code, through ccproxy while the proxy runs'
@DIR@    set -l _ccproxy_pid
    if test -f "$_ccproxy_dir/run/proxy.json" -a -r "$_ccproxy_dir/run/proxy.json"
        set -l _ccproxy_match (string match -r -- @REGEX@ <"$_ccproxy_dir/run/proxy.json")
        set _ccproxy_pid $_ccproxy_match[2]
    end
    if test -n "$_ccproxy_pid"; and command kill -0 $_ccproxy_pid 2>/dev/null
        set -l _ccproxy_project (command git rev-parse --show-toplevel 2>/dev/null | string join '')
        test -n "$_ccproxy_project"; or set _ccproxy_project $PWD
        set _ccproxy_project (string replace -r '.*/' '' -- $_ccproxy_project | string replace -a \\r '')
        set -l _ccproxy_headers "x-ccproxy-project: $_ccproxy_project"
        if test -n "$ANTHROPIC_CUSTOM_HEADERS"
            set _ccproxy_headers "$_ccproxy_headers"\\n"$ANTHROPIC_CUSTOM_HEADERS"
        end
        ANTHROPIC_CUSTOM_HEADERS=$_ccproxy_headers @CCPROXY@ run claude $argv
    else
        command claude $argv
    end
end
"""

_FISH_RUNTIME_DIR: Final = """\
    set -l _ccproxy_dir $HOME/.ccproxy
    if test -n "$CCPROXY_CONFIG_DIR"
        set _ccproxy_dir $CCPROXY_CONFIG_DIR
        if string match -q -r '^~(/|$)' -- $_ccproxy_dir
            set _ccproxy_dir $HOME(string sub -s 2 -- $_ccproxy_dir)
        end
    end
"""


class ShellIntegrationError(Exception):
    """The rc file can't be edited safely; the message says which file and why."""


class UnbalancedMarkers(ShellIntegrationError):
    """The file has a start marker without an end (or the reverse, or several blocks)."""


Action = Literal["created", "added", "updated", "unchanged", "removed", "deleted", "not-installed"]


@dataclass(frozen=True)
class InstallResult:
    """What `install`/`uninstall` did to `path`; `backup` holds the previous content when it changed."""

    shell: Shell
    path: Path
    action: Action
    backup: Path | None = None

    @property
    def changed(self) -> bool:
        return self.action not in ("unchanged", "not-installed")


@dataclass(frozen=True)
class BlockSpan:
    """Byte offsets of a marked block: `start` at its start marker, `end` just after its end marker line."""

    start: int
    end: int


# --- pure: which shell, which file, which code ---------------------------------------------------------


def detect_shell(environ: Mapping[str, str]) -> Shell | None:
    """The user's shell from $SHELL (`/usr/bin/zsh` -> zsh), or None when it is not one we support."""
    name = os.path.basename(environ.get("SHELL", ""))
    for shell in SHELLS:
        if name == shell:
            return shell
    return None


def locate_ccproxy(python_executable: str, which: Callable[[str], str | None]) -> str:
    """The `ccproxy` to put in the snippet: the console script installed beside this Python (the same
    environment as the running code), else the one on PATH, else the bare name."""
    beside = Path(python_executable).parent / "ccproxy"
    if python_executable and os.access(beside, os.X_OK) and beside.is_file():
        return str(beside)
    found = which("ccproxy")
    return os.path.abspath(found) if found else "ccproxy"


def rc_file(shell: Shell, home: Path, environ: Mapping[str, str]) -> Path:
    """The file a new interactive shell reads: ~/.bashrc, ${ZDOTDIR:-~}/.zshrc,
    ${XDG_CONFIG_HOME:-~/.config}/fish/conf.d/ccproxy.fish."""
    if shell == "bash":
        return home / ".bashrc"
    if shell == "zsh":
        return _dir_from_env(environ.get("ZDOTDIR"), home, home) / ".zshrc"
    config_home = _dir_from_env(environ.get("XDG_CONFIG_HOME"), home, home / ".config")
    return config_home / "fish" / "conf.d" / "ccproxy.fish"


def _dir_from_env(value: str | None, home: Path, default: Path) -> Path:
    if not value:
        return default
    if value == "~" or value.startswith("~/"):
        return home / value[2:]
    return Path(value)


def snippet(shell: Shell, ccproxy_command: str, config_dir: Path | None) -> str:
    """The shell code defining `claude`. `config_dir` fixes the proxy's config folder (and is passed to
    `ccproxy --config-dir`); None resolves it on every call like ccproxy does: $CCPROXY_CONFIG_DIR or
    ~/.ccproxy."""
    if shell == "fish":
        return _HEADER + _fish_snippet(ccproxy_command, config_dir)
    return _HEADER + _posix_like_snippet(shell, ccproxy_command, config_dir)


def _posix_like_snippet(shell: Shell, ccproxy_command: str, config_dir: Path | None) -> str:
    ccproxy = shlex.quote(ccproxy_command)
    if config_dir is None:
        directory = '"${CCPROXY_CONFIG_DIR:-$HOME/.ccproxy}"'
    else:
        directory = shlex.quote(str(config_dir))
        ccproxy += " --config-dir " + directory
    if shell == "zsh":  # emulate: the user's options (ksh_arrays, no_unset...) don't apply inside
        prologue, regex, match = (
            "    emulate -L zsh\n    local -a match mbegin mend\n",
            shlex.quote(_PID_ERE),
            "$match[1]",
        )
    else:  # bash: an unquoted regex (quoted parts match literally)
        prologue, regex, match = "", _PID_ERE.replace('"', '\\"'), "${BASH_REMATCH[1]}"
    return (
        _POSIX_LIKE.replace("@PROLOGUE@", prologue)
        .replace("@DIR@", directory)
        .replace("@REGEX@", regex)
        .replace("@MATCH@", match)
        .replace("@CCPROXY@", ccproxy)
    )


def _fish_snippet(ccproxy_command: str, config_dir: Path | None) -> str:
    ccproxy = _fish_quote(ccproxy_command)
    if config_dir is None:
        directory = _FISH_RUNTIME_DIR
    else:
        directory = f"    set -l _ccproxy_dir {_fish_quote(str(config_dir))}\n"
        ccproxy += " --config-dir " + _fish_quote(str(config_dir))
    return (
        _FISH.replace("@DIR@", directory)
        .replace("@REGEX@", _fish_quote(_PID_ERE))
        .replace("@CCPROXY@", ccproxy)
    )


def _fish_quote(text: str) -> str:
    """A fish single-quoted string: only backslash and the quote itself are special inside."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def marked_block(shell: Shell, snippet_text: str) -> str:
    """`snippet_text` between the marker lines, with a note on how to remove it. Ends with a newline."""
    body = snippet_text if snippet_text.endswith("\n") else snippet_text + "\n"
    return (
        f"{START_MARKER}\n"
        f"# Added by `ccproxy shell-integration --install`. To remove it, run\n"
        f"# `ccproxy shell-integration --shell {shell} --uninstall` or delete these lines, markers included.\n"
        f"{body}{END_MARKER}\n"
    )


# --- pure: the block in the file's bytes -----------------------------------------------------------------


def _lines(content: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(line number from 1, offset, line without its newline) for every line of `content`."""
    offset = 0
    for number, line in enumerate(content.split(b"\n"), start=1):
        yield number, offset, line
        offset += len(line) + 1


def find_block(content: bytes) -> BlockSpan | None:
    """The one marked block in `content`, None when there is none; raises UnbalancedMarkers otherwise."""
    starts: list[tuple[int, int]] = []
    ends: list[tuple[int, int]] = []
    for number, offset, line in _lines(content):
        text = line.strip()
        if text == START_MARKER.encode():
            starts.append((number, offset))
        elif text == END_MARKER.encode():
            ends.append((number, min(offset + len(line) + 1, len(content))))
    if not starts and not ends:
        return None
    if len(starts) == 1 and len(ends) == 1 and starts[0][0] < ends[0][0]:
        return BlockSpan(starts[0][1], ends[0][1])
    raise UnbalancedMarkers(
        f"start marker on line(s) {_numbers(starts)}, end marker on line(s) {_numbers(ends)}: "
        f"expected one '{START_MARKER}' line followed by one '{END_MARKER}' line"
    )


def _numbers(found: list[tuple[int, int]]) -> str:
    return ", ".join(str(number) for number, _ in found) or "none"


def with_block(content: bytes | None, block: bytes) -> bytes:
    """`content` (None: no file yet) with `block` replacing its marked block in place, or appended.

    Appending adds one line break before the block (ending an unterminated last line, or a blank line);
    a new file starts with the block itself. Either way `without_block` gives `content` back.
    """
    if content is None:
        return block
    span = find_block(content)
    if span is None:
        return content + b"\n" + block
    return content[: span.start] + block + content[span.end :]


def without_block(content: bytes) -> bytes | None:
    """`content` without its marked block and the line break the block owns; None when the file was created
    for the block and nothing else is in it (the file should be deleted). Unchanged without a block."""
    span = find_block(content)
    if span is None:
        return content
    before, after = content[: span.start], content[span.end :]
    if span.start == 0:
        return after or None
    if after and before[:-1] and not before[:-1].endswith(b"\n"):
        return before + after  # keep the break: the user's last line would run into what follows
    return before[:-1] + after


# --- adapter: the rc file on disk ------------------------------------------------------------------------


def install(
    shell: Shell,
    home: Path,
    *,
    ccproxy_command: str = "ccproxy",
    config_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> InstallResult:
    """Add the integration to the shell's rc file, or update it in place. Idempotent.

    Raises ShellIntegrationError (the file untouched) when its markers are unbalanced; OSError as the OS does.
    """
    path = rc_file(shell, home, os.environ if environ is None else environ)
    old = _read(path)
    block = marked_block(shell, snippet(shell, ccproxy_command, config_dir)).encode(
        "utf-8", "surrogateescape"
    )
    with _about(path):
        new = with_block(old, block)
    if new == old:
        return InstallResult(shell, path, "unchanged")
    backup = _write(path, old, new)
    if old is None:
        return InstallResult(shell, path, "created", backup)
    return InstallResult(shell, path, "updated" if find_block(old) else "added", backup)


def uninstall(shell: Shell, home: Path, *, environ: Mapping[str, str] | None = None) -> InstallResult:
    """Remove the integration: the rc file gets back the bytes it had before `install` (plus whatever the
    user wrote since), or is deleted when `install` created it. Raises like `install`."""
    path = rc_file(shell, home, os.environ if environ is None else environ)
    old = _read(path)
    with _about(path):
        if old is None or find_block(old) is None:
            return InstallResult(shell, path, "not-installed")
    new = without_block(old)
    backup = _write(path, old, new)
    return InstallResult(shell, path, "removed" if new is not None else "deleted", backup)


def is_installed(shell: Shell, home: Path, *, environ: Mapping[str, str] | None = None) -> bool:
    """Whether the shell's rc file has the block. Raises ShellIntegrationError on unbalanced markers."""
    path = rc_file(shell, home, os.environ if environ is None else environ)
    old = _read(path)
    with _about(path):
        return old is not None and find_block(old) is not None


@contextmanager
def _about(path: Path) -> Iterator[None]:
    """Name the file in an UnbalancedMarkers raised inside."""
    try:
        yield
    except UnbalancedMarkers as exc:
        raise UnbalancedMarkers(f"{path}: {exc}; fix the file by hand, it was not changed") from None


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _write(path: Path, old: bytes | None, new: bytes | None) -> Path | None:
    """Back up `old`, then replace the file with `new` (None: delete it). Returns the backup's path."""
    backup = None
    mode = None
    if old is not None:
        mode = stat.S_IMODE(path.stat().st_mode)
        backup = path.with_name(path.name + BACKUP_SUFFIX)
        atomic_write(backup, old, mode)
    if new is None:
        path.unlink()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        # the file behind a symlinked rc file (dotfile managers): the link stays a link
        atomic_write(path.resolve(), new, mode)
    return backup
