"""Shell integration with the real shells: after `install`, `claude` in a new bash, zsh or fish runs
`ccproxy run claude ARGS` while the proxy's state file names a live pid and the real `claude` otherwise, with
the arguments and the exit code passed through exactly; `uninstall` gives the rc file back byte for byte.

Each test gets a temporary HOME, a fake `claude` on PATH (records its argv, exits 3) and a fake `ccproxy` at a
path with a space and a quote in it (records its argv, exits 4). Needs bash, zsh and fish (Debian: zsh fish).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from ccproxy_desktop.config.loader import install_defaults, load_settings
from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.desktop.shell import (
    END_MARKER,
    SHELLS,
    START_MARKER,
    Shell,
    UnbalancedMarkers,
    install,
    is_installed,
    rc_file,
    snippet,
    uninstall,
)
from ccproxy_desktop.proxy.server import write_state

ARGS = ("-p", "two words", 'say "hi"', "it's", "", "$HOME", "*", "back\\slash", "two\nlines", "--", "")

# `claude ARGS` in a new shell that reads its interactive config; the arguments come in as positional
# parameters, so the test's quoting is not in the way of what the function does with them.
CALL_CLAUDE: Mapping[Shell, tuple[str, ...]] = {
    "bash": ("bash", "-i", "-c", 'claude "$@"', "bash"),
    "zsh": ("zsh", "-i", "-c", 'claude "$@"', "zsh"),
    "fish": ("fish", "-c", "claude $argv", "--"),
}
RUN_SCRIPT: Mapping[Shell, tuple[str, ...]] = {
    "bash": ("bash", "-i", "-c"),
    "zsh": ("zsh", "-i", "-c"),
    "fish": ("fish", "-c"),
}

FAKE = """#!/bin/sh
printf '%s\\0' {record} "$@" > "$CCPROXY_TEST_CALLS/{record}"
exit {code}
"""


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    claude: list[str] | None  # argv the fake claude got, None when it did not run
    ccproxy: list[str] | None


@dataclass(frozen=True)
class Sandbox:
    shell: Shell
    home: Path
    fakes: Path  # on PATH: claude, and a ccproxy that records to `ccproxy-on-path`
    ccproxy: Path  # the absolute path given to install; not on PATH
    calls: Path

    @property
    def rc(self) -> Path:
        return rc_file(self.shell, self.home, {})

    def install(self, ccproxy_command: str | None = None, config_dir: Path | None = None) -> None:
        command = str(self.ccproxy) if ccproxy_command is None else ccproxy_command
        result = install(self.shell, self.home, ccproxy_command=command, config_dir=config_dir, environ={})
        assert result.path == self.rc

    def env(self, extra: Mapping[str, str]) -> dict[str, str]:
        path = f"{self.fakes}:/usr/local/bin:/usr/bin:/bin"
        base = {"HOME": str(self.home), "PATH": path, "LANG": "C.UTF-8", "TERM": "dumb"}
        return {**base, "CCPROXY_TEST_CALLS": str(self.calls), **extra}

    def run(self, argv: tuple[str, ...], extra_env: Mapping[str, str]) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            argv,
            env=self.env(extra_env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
            check=False,
        )

    def script(self, code: str, **extra_env: str) -> str:
        done = self.run((*RUN_SCRIPT[self.shell], code), extra_env)
        return done.stdout.decode()

    def claude(self, *args: str, **extra_env: str) -> Outcome:
        for record in self.calls.iterdir():
            record.unlink()
        done = self.run((*CALL_CLAUDE[self.shell], *args), extra_env)
        return Outcome(done.returncode, self.recorded("claude"), self.recorded("ccproxy"))

    def recorded(self, record: str) -> list[str] | None:
        path = self.calls / record
        if not path.exists():
            return None
        return path.read_bytes().decode().split("\0")[1:-1]

    def write_state(self, content: bytes, config_dir: Path | None = None) -> None:
        run_dir = (config_dir or self.home / ".ccproxy") / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "proxy.json").write_bytes(content)


def make_sandbox(root: Path, shell: Shell) -> Sandbox:
    if shutil.which(shell) is None:  # not a skip: the integration must be tested in every shell it writes
        pytest.fail(
            f"{shell} is not installed; these tests need bash, zsh and fish (Debian: apt-get install zsh fish)"
        )
    home, fakes, calls = root / "home", root / "fakes", root / "calls"
    odd = root / "my tools' bin"
    for folder in (home, fakes, calls, odd):
        folder.mkdir()
    fake_files = (
        (fakes, "claude", "claude", 3),
        (fakes, "ccproxy", "ccproxy-on-path", 4),
        (odd, "ccproxy", "ccproxy", 4),
    )
    for folder, name, record, code in fake_files:
        (folder / name).write_text(FAKE.format(record=record, code=code))
        (folder / name).chmod(0o755)
    return Sandbox(shell, home, fakes, odd / "ccproxy", calls)


@pytest.fixture(params=SHELLS)
def sandbox(request: pytest.FixtureRequest, tmp_path: Path) -> Sandbox:
    return make_sandbox(tmp_path, request.param)


@pytest.fixture
def installed(sandbox: Sandbox) -> Sandbox:
    sandbox.install()
    return sandbox


def state(pid: int, *, pretty: bool = False, pid_last: bool = False) -> bytes:
    fields: dict[str, object] = {
        "pid": pid,
        "url": "http://127.0.0.1:4000",
        "host": "127.0.0.1",
        "port": 4000,
    }
    fields.update(started_at=1700000000.5, config_dir="/somewhere/.ccproxy")
    if pid_last:
        fields = {**{k: v for k, v in fields.items() if k != "pid"}, "pid": pid}
    return json.dumps(fields, indent=2 if pretty else None).encode()


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def direct(args: tuple[str, ...] = ARGS) -> Outcome:
    """The real claude ran with `args` and its exit code came back."""
    return Outcome(3, list(args), None)


def proxied(*before_run: str, args: tuple[str, ...] = ARGS) -> Outcome:
    """`ccproxy [before_run] run claude args` ran and its exit code came back."""
    return Outcome(4, None, [*before_run, "run", "claude", *args])


# --- the function in a real shell ------------------------------------------------------------------------


def test_installing_twice_leaves_one_block_and_claude_is_a_function(sandbox: Sandbox) -> None:
    sandbox.install()
    first = sandbox.rc.read_bytes()
    sandbox.install()
    assert sandbox.rc.read_bytes() == first
    assert first.count(START_MARKER.encode()) == first.count(END_MARKER.encode()) == 1
    assert "function" in sandbox.script("type claude").splitlines()[0]
    assert is_installed(sandbox.shell, sandbox.home, environ={})


def test_without_a_state_file_the_real_claude_runs_with_the_exact_arguments(installed: Sandbox) -> None:
    assert installed.claude(*ARGS) == direct()
    assert installed.claude() == direct(())


def test_with_the_state_file_of_a_running_proxy_claude_goes_through_ccproxy_run(installed: Sandbox) -> None:
    paths = ConfigPaths(installed.home / ".ccproxy")
    install_defaults(paths)
    write_state(paths, load_settings(paths))  # the proxy's own writer, with this (live) process's pid
    assert installed.claude(*ARGS) == proxied()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(state(os.getpid(), pretty=True), id="pretty"),
        pytest.param(state(os.getpid(), pid_last=True), id="pid-last"),
    ],
)
def test_other_json_layouts_with_a_live_pid_count_too(installed: Sandbox, content: bytes) -> None:
    installed.write_state(content)
    assert installed.claude(*ARGS) == proxied()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(None, id="dead-pid"),
        pytest.param(b"", id="empty"),
        pytest.param(b"not json at all", id="not-json"),
        pytest.param(b'{"pid": 0}', id="pid-0"),
        pytest.param(b'{"pid": -1}', id="negative-pid"),
        pytest.param(b'{"pid": 99999999999999999999}', id="pid-overflow"),
        pytest.param(b'\x00\xff{"pid": "x"}\xfe', id="binary"),
    ],
)
def test_with_a_dead_pid_or_a_garbage_state_file_the_real_claude_runs(
    installed: Sandbox, content: bytes | None
) -> None:
    installed.write_state(state(dead_pid()) if content is None else content)
    assert installed.claude(*ARGS) == direct()


def test_a_folder_in_place_of_the_state_file_counts_as_not_running(installed: Sandbox) -> None:
    (installed.home / ".ccproxy" / "run" / "proxy.json").mkdir(parents=True)
    assert installed.claude("x") == direct(("x",))


def test_the_config_dir_is_resolved_at_run_time_like_ccproxy_does(installed: Sandbox) -> None:
    other = installed.home / "other config"
    installed.write_state(state(os.getpid()), config_dir=other)
    assert installed.claude("x") == direct(("x",))  # ~/.ccproxy has no state file
    assert installed.claude("x", CCPROXY_CONFIG_DIR=str(other)) == proxied(args=("x",))
    assert installed.claude("x", CCPROXY_CONFIG_DIR="~/other config") == proxied(args=("x",))
    installed.write_state(state(os.getpid()))
    assert installed.claude("x", CCPROXY_CONFIG_DIR=str(installed.home / "empty")) == direct(("x",))


def test_a_config_dir_given_at_install_is_fixed_and_passed_to_ccproxy(sandbox: Sandbox) -> None:
    fixed = sandbox.home / "fixed 'dir'"
    sandbox.install(config_dir=fixed)
    sandbox.write_state(state(os.getpid()), config_dir=fixed)
    outcome = sandbox.claude(*ARGS, CCPROXY_CONFIG_DIR=str(sandbox.home / "elsewhere"))
    assert outcome == proxied("--config-dir", str(fixed))


def test_a_bare_ccproxy_command_is_found_on_path(sandbox: Sandbox) -> None:
    sandbox.install(ccproxy_command="ccproxy")
    sandbox.write_state(state(os.getpid()))
    assert sandbox.claude(*ARGS) == Outcome(4, None, None)
    assert sandbox.recorded("ccproxy-on-path") == ["run", "claude", *ARGS]


@pytest.mark.parametrize(
    ("shell", "user_config"),
    [
        ("bash", "set -u\nalias claude='echo ALIAS'\n"),
        ("zsh", "setopt ksh_arrays no_unset sh_word_split\nalias claude='echo ALIAS'\n"),
    ],
    ids=["bash", "zsh"],
)
def test_user_options_and_an_old_claude_alias_do_not_get_in_the_way(
    tmp_path: Path, shell: Shell, user_config: str
) -> None:
    sandbox = make_sandbox(tmp_path, shell)
    sandbox.rc.write_text(user_config)
    sandbox.install()
    assert sandbox.claude(*ARGS) == direct()
    sandbox.write_state(state(os.getpid()))
    assert sandbox.claude(*ARGS) == proxied()


@pytest.mark.parametrize("shell", SHELLS)
def test_the_printed_snippet_works_when_evaluated(tmp_path: Path, shell: Shell) -> None:
    sandbox = make_sandbox(tmp_path, shell)
    code = tmp_path / "snippet"
    code.write_text(snippet(shell, str(sandbox.ccproxy), None))
    if shell == "fish":
        load = f"cat '{code}' | source"
    else:  # an alias defined before must not hijack the definition when it is eval'ed in one piece
        sandbox.rc.write_text("alias claude='echo ALIAS'\n")
        load = f"eval \"$(cat '{code}')\""
    sandbox.write_state(state(os.getpid()))
    status = "$status" if shell == "fish" else "$?"
    typed = tmp_path / "typed"  # sourced: read a command at a time, like lines typed at the prompt
    typed.write_text(f"{load}\nclaude 'a b' ''\necho status={status}\n")
    out = sandbox.script(f"source '{typed}'")
    assert sandbox.recorded("ccproxy") == ["run", "claude", "a b", ""]
    assert "status=4" in out


@pytest.mark.parametrize(
    ("shell", "variable", "rc_relative"),
    [("zsh", "ZDOTDIR", "zdot/.zshrc"), ("fish", "XDG_CONFIG_HOME", "xdg/fish/conf.d/ccproxy.fish")],
)
def test_zdotdir_and_xdg_config_home_are_honoured(
    tmp_path: Path, shell: Shell, variable: str, rc_relative: str
) -> None:
    sandbox = make_sandbox(tmp_path, shell)
    environ = {variable: str(sandbox.home / rc_relative.split("/")[0])}
    result = install(shell, sandbox.home, ccproxy_command=str(sandbox.ccproxy), environ=environ)
    assert result.path == sandbox.home / rc_relative
    assert sandbox.claude("x", **environ) == direct(("x",))


# --- the rc file: byte for byte ----------------------------------------------------------------------------

ORIGINALS = [
    pytest.param(None, id="absent"),
    pytest.param(b"", id="empty"),
    pytest.param(b"export EDITOR=vim", id="no-final-newline"),
    pytest.param(b"export EDITOR=vim\n\n", id="final-newlines"),
    pytest.param(b"# caf\xe9 in latin-1\r\nexport A=1\n", id="not-utf8-crlf"),
]


def write_original(path: Path, original: bytes | None) -> None:
    if original is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(original)


@pytest.mark.parametrize("original", ORIGINALS)
def test_uninstall_restores_the_rc_file_byte_for_byte(sandbox: Sandbox, original: bytes | None) -> None:
    write_original(sandbox.rc, original)
    sandbox.install()
    sandbox.install(ccproxy_command="/changed/ccproxy")  # an update in place changes nothing here
    assert uninstall(sandbox.shell, sandbox.home, environ={}).changed
    assert (sandbox.rc.read_bytes() if sandbox.rc.exists() else None) == original
    assert not is_installed(sandbox.shell, sandbox.home, environ={})


@pytest.mark.parametrize("original", ORIGINALS)
def test_lines_the_user_adds_after_the_block_survive_uninstall(
    sandbox: Sandbox, original: bytes | None
) -> None:
    write_original(sandbox.rc, original)
    sandbox.install()
    with sandbox.rc.open("ab") as rc:
        rc.write(b"export ADDED=later\n")
    sandbox.install(ccproxy_command="/changed/ccproxy")
    content = sandbox.rc.read_bytes()
    assert content.index(b"/changed/ccproxy") < content.index(b"ADDED")  # updated in place
    uninstall(sandbox.shell, sandbox.home, environ={})
    kept = original or b""
    separator = b"\n" if kept and not kept.endswith(b"\n") else b""
    assert sandbox.rc.read_bytes() == kept + separator + b"export ADDED=later\n"


def test_the_users_config_before_the_block_keeps_working(sandbox: Sandbox) -> None:
    line = "set -gx KEPT yes" if sandbox.shell == "fish" else "export KEPT=yes"
    write_original(sandbox.rc, line.encode())  # no final newline: the block must not run into it
    sandbox.install()
    assert sandbox.script("echo $KEPT").strip() == "yes"
    assert sandbox.claude("x") == direct(("x",))


def test_a_backup_holds_the_content_before_each_change(sandbox: Sandbox) -> None:
    backup = sandbox.rc.with_name(sandbox.rc.name + ".ccproxy-backup")
    write_original(sandbox.rc, b"# mine\n")
    sandbox.install()
    assert backup.read_bytes() == b"# mine\n"
    installed = sandbox.rc.read_bytes()
    sandbox.install()  # no change, no new backup
    assert backup.read_bytes() == b"# mine\n"
    uninstall(sandbox.shell, sandbox.home, environ={})
    assert backup.read_bytes() == installed


def test_install_keeps_the_mode_and_leaves_no_temp_files(sandbox: Sandbox) -> None:
    write_original(sandbox.rc, b"# private\n")
    sandbox.rc.chmod(0o600)
    sandbox.install()
    assert sandbox.rc.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in sandbox.rc.parent.iterdir() if "ccproxy-tmp" in p.name) == []


def test_a_symlinked_rc_file_stays_a_link_and_its_target_is_edited(tmp_path: Path) -> None:
    sandbox = make_sandbox(tmp_path, "bash")
    target = sandbox.home / "dotfiles" / "bashrc"
    write_original(target, b"# from my dotfiles\n")
    sandbox.rc.symlink_to(target)
    sandbox.install()
    assert sandbox.rc.is_symlink()
    assert START_MARKER.encode() in target.read_bytes()
    uninstall("bash", sandbox.home, environ={})
    assert sandbox.rc.is_symlink() and target.read_bytes() == b"# from my dotfiles\n"


def test_uninstall_without_the_block_touches_nothing(sandbox: Sandbox) -> None:
    write_original(sandbox.rc, b"# mine\n")
    result = uninstall(sandbox.shell, sandbox.home, environ={})
    assert (result.action, result.changed) == ("not-installed", False)
    assert sandbox.rc.read_bytes() == b"# mine\n"
    assert [p.name for p in sandbox.rc.parent.iterdir()] == [sandbox.rc.name]


START, END = START_MARKER + "\n", END_MARKER + "\n"


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(f"# mine\n{START}claude() {{ :; }}\n", id="start-without-end"),
        pytest.param(f"# mine\n{END}", id="end-without-start"),
        pytest.param(f"{END}# mine\n{START}", id="end-before-start"),
        pytest.param(f"{START}{END}# mine\n{START}{END}", id="two-blocks"),
        pytest.param(f"{START}{START}{END}{END}", id="nested"),
    ],
)
def test_unbalanced_markers_are_refused_and_the_file_is_untouched(sandbox: Sandbox, content: str) -> None:
    write_original(sandbox.rc, content.encode())
    before = sandbox.rc.stat().st_mtime_ns
    for action in (install, uninstall, is_installed):
        with pytest.raises(UnbalancedMarkers, match=str(sandbox.rc)):
            action(sandbox.shell, sandbox.home, environ={})
    assert sandbox.rc.read_bytes() == content.encode()
    assert sandbox.rc.stat().st_mtime_ns == before
    assert [p.name for p in sandbox.rc.parent.iterdir()] == [sandbox.rc.name]


# --- the project header ----------------------------------------------------------------------------------

HEADERS_FAKE = """#!/bin/sh
printf '%s' "$ANTHROPIC_CUSTOM_HEADERS" > "$CCPROXY_TEST_CALLS/headers"
exit 4
"""


def headers_in(sandbox: Sandbox, cwd: Path, **extra_env: str) -> str:
    """What `ccproxy run` got in ANTHROPIC_CUSTOM_HEADERS when `claude` ran in `cwd` with a running proxy."""
    sandbox.ccproxy.write_text(HEADERS_FAKE)
    paths = ConfigPaths(sandbox.home / ".ccproxy")
    install_defaults(paths)
    write_state(paths, load_settings(paths))
    done = subprocess.run(
        (*CALL_CLAUDE[sandbox.shell], "x"),
        env=sandbox.env({"PWD": str(cwd), **extra_env}),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 4, done.stderr
    return (sandbox.calls / "headers").read_text()


def test_through_the_proxy_claude_names_the_git_top_level_folder_as_the_project(
    installed: Sandbox, tmp_path: Path
) -> None:
    repo = tmp_path / "my project"
    (repo / "src" / "deep").mkdir(parents=True)
    subprocess.run(
        ["git", "init", "-q", str(repo)], check=True, env={**installed.env({}), "GIT_CONFIG_NOSYSTEM": "1"}
    )
    assert headers_in(installed, repo / "src" / "deep") == "x-ccproxy-project: my project"


def test_outside_git_the_current_folder_names_the_project_and_other_headers_are_kept(
    installed: Sandbox, tmp_path: Path
) -> None:
    folder = tmp_path / "scratch"
    folder.mkdir()
    assert headers_in(installed, folder) == "x-ccproxy-project: scratch"
    merged = headers_in(installed, folder, ANTHROPIC_CUSTOM_HEADERS="x-team: blue\nx-other: 1")
    assert merged == "x-ccproxy-project: scratch\nx-team: blue\nx-other: 1"
