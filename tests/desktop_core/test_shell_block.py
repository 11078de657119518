"""The pure parts of the shell integration: the block's bytes in any rc file, which file, which shell,
which ccproxy. (The snippets themselves are tested in real shells in test_shell.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccproxy_desktop.desktop.shell import (
    END_MARKER,
    START_MARKER,
    Shell,
    UnbalancedMarkers,
    detect_shell,
    find_block,
    locate_ccproxy,
    marked_block,
    rc_file,
    snippet,
    with_block,
    without_block,
)

BLOCK = marked_block("bash", snippet("bash", "/opt/ccproxy/bin/ccproxy", None)).encode()
OTHER_BLOCK = marked_block("bash", snippet("bash", "ccproxy", Path("/elsewhere"))).encode()

# what users have in rc files: any bytes (CR, NUL, latin-1...) but our marker lines
rc_bytes = st.binary(max_size=200).filter(lambda b: b"ccproxy shell integration" not in b)
user_lines = st.lists(st.binary(max_size=20).map(lambda b: b.replace(b"\n", b"")), max_size=4).map(
    lambda lines: b"".join(line + b"\n" for line in lines)
)


@given(original=st.none() | rc_bytes)
def test_removing_the_block_gives_back_the_original_bytes(original: bytes | None) -> None:
    assert without_block(with_block(original, BLOCK)) == original


@given(original=st.none() | rc_bytes)
def test_adding_again_updates_in_place(original: bytes | None) -> None:
    once = with_block(original, BLOCK)
    assert with_block(once, BLOCK) == once
    updated = with_block(once, OTHER_BLOCK)
    assert updated.count(START_MARKER.encode()) == 1 and OTHER_BLOCK in updated
    assert without_block(updated) == original


@given(original=st.none() | rc_bytes, added=user_lines)
def test_lines_added_after_the_block_are_kept_on_lines_of_their_own(
    original: bytes | None, added: bytes
) -> None:
    kept = original or b""
    if added and kept and not kept.endswith(b"\n"):
        kept += b"\n"  # the user's last line and the added ones stay apart
    expected = kept + added if (original is not None or added) else None
    assert without_block(with_block(original, BLOCK) + added) == expected


def test_the_appended_block_starts_on_a_line_of_its_own() -> None:
    assert with_block(b"a", BLOCK) == b"a\n" + BLOCK
    assert with_block(b"a\n", BLOCK) == b"a\n\n" + BLOCK
    assert with_block(b"", BLOCK) == b"\n" + BLOCK
    assert with_block(None, BLOCK) == BLOCK


def test_without_a_block_nothing_changes() -> None:
    assert without_block(b"# mine\n") == b"# mine\n"
    assert find_block(b"# mine\n") is None


def test_unbalanced_markers_name_the_lines() -> None:
    content = f"# mine\n{START_MARKER}\nx\n{START_MARKER}\n{END_MARKER}\n".encode()
    with pytest.raises(UnbalancedMarkers, match=r"start marker on line\(s\) 2, 4, end marker on line\(s\) 5"):
        find_block(content)
    with pytest.raises(UnbalancedMarkers, match=r"end marker on line\(s\) none"):
        with_block(f"{START_MARKER}\n".encode(), BLOCK)


def test_marker_lines_are_found_with_surrounding_whitespace() -> None:
    content = f"a\n  {START_MARKER}\r\nx\n{END_MARKER}  ".encode()
    span = find_block(content)
    assert span is not None and (span.start, span.end) == (2, len(content))


@pytest.mark.parametrize(
    ("shell_path", "expected"),
    [
        ("/bin/bash", "bash"),
        ("/usr/bin/zsh", "zsh"),
        ("/opt/homebrew/bin/fish", "fish"),
        ("zsh", "zsh"),
        ("/bin/tcsh", None),
        ("/bin/sh", None),
        ("", None),
    ],
)
def test_detect_shell_from_the_shell_variable(shell_path: str, expected: Shell | None) -> None:
    assert detect_shell({"SHELL": shell_path}) == expected


def test_detect_shell_without_the_variable() -> None:
    assert detect_shell({}) is None


HOME = Path("/home/u")


@pytest.mark.parametrize(
    ("shell", "environ", "expected"),
    [
        ("bash", {"ZDOTDIR": "/z"}, HOME / ".bashrc"),
        ("zsh", {}, HOME / ".zshrc"),
        ("zsh", {"ZDOTDIR": ""}, HOME / ".zshrc"),
        ("zsh", {"ZDOTDIR": "/z"}, Path("/z/.zshrc")),
        ("zsh", {"ZDOTDIR": "~/.config/zsh"}, HOME / ".config/zsh/.zshrc"),
        ("fish", {}, HOME / ".config/fish/conf.d/ccproxy.fish"),
        ("fish", {"XDG_CONFIG_HOME": "/x"}, Path("/x/fish/conf.d/ccproxy.fish")),
    ],
)
def test_rc_file(shell: Shell, environ: dict[str, str], expected: Path) -> None:
    assert rc_file(shell, HOME, environ) == expected


def test_locate_ccproxy_prefers_the_script_beside_the_running_python(tmp_path: Path) -> None:
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    assert locate_ccproxy(str(python), lambda name: None) == "ccproxy"
    assert locate_ccproxy(str(python), lambda name: f"/usr/local/bin/{name}") == "/usr/local/bin/ccproxy"
    (bin_dir / "ccproxy").write_text("#!/bin/sh\n")
    assert locate_ccproxy(str(python), lambda name: "/usr/local/bin/ccproxy") == "/usr/local/bin/ccproxy"
    (bin_dir / "ccproxy").chmod(0o755)
    assert locate_ccproxy(str(python), lambda name: "/usr/local/bin/ccproxy") == str(bin_dir / "ccproxy")
