"""`ccproxy shell-integration [--shell bash|zsh|fish] [--install|--uninstall]`: prints the snippet, or edits
the rc file of a temporary HOME and says which file changed and what to do next."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from ccproxy_desktop.cli.main import main
from ccproxy_desktop.desktop.shell import START_MARKER, locate_ccproxy


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SHELL", "/bin/bash")
    for name in ("ZDOTDIR", "XDG_CONFIG_HOME", "CCPROXY_CONFIG_DIR"):
        monkeypatch.setenv(name, "")  # recorded, so `--config-dir` setting it is undone after the test
        monkeypatch.delenv(name)
    return tmp_path


def test_without_flags_the_snippet_is_printed_and_nothing_written(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["shell-integration", "--shell", "zsh"]) == 0
    out = capsys.readouterr().out
    assert "function claude {" in out and "emulate -L zsh" in out
    assert f"{locate_ccproxy(sys.executable, shutil.which)} run claude" in out
    assert "CCPROXY_CONFIG_DIR" in out  # resolved at run time
    assert list(home.iterdir()) == []


def test_the_shell_is_detected_from_the_shell_variable(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHELL", "/usr/bin/fish")
    assert main(["shell-integration"]) == 0
    assert "command claude $argv" in capsys.readouterr().out


def test_an_unknown_shell_asks_for_the_flag(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHELL", "/bin/tcsh")
    assert main(["shell-integration", "--install"]) == 2
    assert "--shell" in capsys.readouterr().err
    assert list(home.iterdir()) == []


def test_a_config_dir_given_on_the_command_line_is_fixed_in_the_snippet(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config-dir", str(home / "proxy conf"), "shell-integration", "--shell", "bash"]) == 0
    out = capsys.readouterr().out
    assert f"'{home}/proxy conf'" in out and f"--config-dir '{home}/proxy conf' run claude" in out


def test_install_then_uninstall_reports_the_file_and_the_next_step(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / ".bashrc").write_text("# mine\n")
    assert main(["shell-integration", "--install"]) == 0
    out = capsys.readouterr().out
    assert f"added the ccproxy shell integration to {home}/.bashrc" in out
    assert f"previous content in {home}/.bashrc.ccproxy-backup" in out
    assert f"source {home}/.bashrc" in out
    assert START_MARKER in (home / ".bashrc").read_text()

    assert main(["shell-integration", "--install"]) == 0
    assert "already in" in capsys.readouterr().out

    assert main(["shell-integration", "--uninstall"]) == 0
    out = capsys.readouterr().out
    assert f"removed the ccproxy shell integration from {home}/.bashrc" in out and "unset -f claude" in out
    assert (home / ".bashrc").read_text() == "# mine\n"


def test_fish_gets_a_file_of_its_own_which_uninstall_deletes(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = home / ".config/fish/conf.d/ccproxy.fish"
    assert main(["shell-integration", "--shell", "fish", "--install"]) == 0
    assert f"created {rc}" in capsys.readouterr().out and rc.exists()
    assert main(["shell-integration", "--shell", "fish", "--uninstall"]) == 0
    out = capsys.readouterr().out
    assert f"deleted {rc}" in out and "functions --erase claude" in out
    assert not rc.exists()


def test_unbalanced_markers_fail_with_the_file_named(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (home / ".bashrc").write_text(f"{START_MARKER}\n# mine\n")
    assert main(["shell-integration", "--uninstall"]) == 1
    err = capsys.readouterr().err
    assert f"{home}/.bashrc" in err and "not changed" in err
    assert (home / ".bashrc").read_text() == f"{START_MARKER}\n# mine\n"


def test_install_and_uninstall_exclude_each_other(home: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["shell-integration", "--install", "--uninstall"])
    assert exit_info.value.code == 2
