"""`ccproxy statusline`: the line Claude Code shows, and its install in Claude Code's settings.json.

The input is what Claude Code 2.1.332 piped to a statusLine command after one turn (recorded against the fake
provider); the ledger is a real one written with `Ledger` in a tmp config folder. A "running proxy" is a
process whose command line names the proxy's server module, as `ccproxy status` checks it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from ccproxy_desktop.cli.main import main
from ccproxy_desktop.cli.statusline_commands import render
from ccproxy_desktop.ledger.records import RequestRecord, TokenUsage
from ccproxy_desktop.ledger.store import Ledger

FIXTURE = Path(__file__).parent.parent / "fixtures" / "statusline" / "statusline_input.json"
INPUT = FIXTURE.read_bytes()
SESSION = json.loads(INPUT)["session_id"]
REPO = Path(__file__).parent.parent.parent

BUDGETS_YAML = """\
ccproxy:
  budgets:
    - name: weekly
      limit_usd: 50.0
      period: week
    - name: daily
      limit_usd: 10.0
      period: day
"""


def _record(n: int, ts: float, **fields: object) -> RequestRecord:
    base: dict[str, object] = {
        "request_id": f"req-{n}",
        "ts": ts,
        "label": "default",
        "requested_model": "claude-sonnet-5-5",
        "routed_model": "sonnet",
        "provider_model": "anthropic/claude-sonnet-5-5",
        "usage": TokenUsage(100, 10),
        "cost_usd": 0.5,
        "session_id": SESSION,
    }
    base.update(fields)
    return RequestRecord(**base)  # type: ignore[arg-type]


@pytest.fixture
def now() -> float:
    moment = time.time()
    midnight = datetime.combine(datetime.fromtimestamp(moment).date(), datetime.min.time()).timestamp()
    return max(moment, midnight + 60)  # the rows below, a few seconds old, are today's


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    path = tmp_path / "ccproxy"
    (path / "run").mkdir(parents=True)
    return path


@pytest.fixture
def ledger(config_dir: Path, now: float) -> Path:
    """This session: opus (default) first, then sonnet (think) last; another session spent 0.125 today."""
    with Ledger(config_dir / "ledger.db") as opened:
        opened.record(_record(1, now - 30, routed_model="opus", cost_usd=0.25))
        opened.record(_record(2, now - 10, label="think", cost_usd=0.5))
        opened.record(_record(3, now - 20, session_id="other", cost_usd=0.125))
        opened.record(_record(4, now - 3 * 86400, cost_usd=64.0))  # this session, days ago: not today
        assert opened.flush(), opened.last_error
    return config_dir / "ledger.db"


@pytest.fixture
def running_proxy(config_dir: Path) -> Iterator[int]:
    """A live process that looks like the proxy to the pid check, named in run/proxy.json."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "ccproxy_desktop.proxy.server"]
    )
    deadline = time.monotonic() + 10
    while Path("/proc").is_dir() and b"ccproxy_desktop.proxy.server" not in _cmdline(proc.pid):
        assert time.monotonic() < deadline, "the stand-in proxy did not start"
        time.sleep(0.01)  # Popen can return before the child's exec shows in /proc
    state = {
        "pid": proc.pid,
        "url": "http://127.0.0.1:4000",
        "started_at": 0.0,
        "config_dir": str(config_dir),
    }
    (config_dir / "run" / "proxy.json").write_text(json.dumps(state))
    yield proc.pid
    proc.kill()
    proc.wait()


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def _subscription(config_dir: Path, used: float, resets_at: float) -> None:
    windows = {
        "5h": {"used": used, "resets_at": resets_at, "status": "allowed"},
        "7d": {"used": 0.1, "resets_at": resets_at + 86400, "status": "allowed"},
    }
    data = {
        "accounts": {
            "old": {"updated_at": 1.0, "windows": {"5h": {"used": 0.99, "resets_at": resets_at}}},
            "acct-1": {"updated_at": resets_at - 3600, "windows": windows},
        }
    }
    (config_dir / "run" / "subscription.json").write_text(json.dumps(data))


def _hhmm(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M")


# -- the line ----------------------------------------------------------------------------------------------


def test_shows_route_rule_session_cost_budget_and_window(
    config_dir: Path, ledger: Path, running_proxy: int, now: float
) -> None:
    (config_dir / "ccproxy.yaml").write_text(BUDGETS_YAML)
    _subscription(config_dir, 0.62, now + 3600)
    line = render(config_dir, INPUT, now)
    assert line == (
        f"ccproxy → sonnet (think) · session $64.75 · today $0.88/$10.00 (9%) · 5h 62% ↻{_hhmm(now + 3600)}"
    )


def test_without_budget_or_window_shows_route_and_session_cost(
    config_dir: Path, ledger: Path, running_proxy: int, now: float
) -> None:
    (config_dir / "ccproxy.yaml").write_text("ccproxy:\n  rules: []\n")
    assert render(config_dir, INPUT, now) == "ccproxy → sonnet (think) · session $64.75"


@pytest.mark.parametrize(
    "content",
    [
        None,  # absent: the window is unknown
        "{not json",
        json.dumps({"accounts": {}}),
        json.dumps({"accounts": {"a": {"updated_at": 1, "windows": {"7d": {"used": 0.5}}}}}),
    ],
)
def test_unknown_window_is_left_out(
    config_dir: Path, ledger: Path, running_proxy: int, now: float, content: str | None
) -> None:
    if content is not None:
        (config_dir / "run" / "subscription.json").write_text(content)
    assert "5h" not in render(config_dir, INPUT, now)


def test_a_window_that_has_reset_is_left_out(
    config_dir: Path, ledger: Path, running_proxy: int, now: float
) -> None:
    _subscription(config_dir, 0.62, now - 1)
    assert "5h" not in render(config_dir, INPUT, now)


def test_proxy_down_and_no_ledger(config_dir: Path, now: float) -> None:
    assert render(config_dir, INPUT, now) == "ccproxy: proxy not running"


def test_stale_state_file_counts_as_down(config_dir: Path, ledger: Path, now: float) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    (config_dir / "run" / "proxy.json").write_text(json.dumps({"pid": int(dead.stdout)}))
    assert (
        render(config_dir, INPUT, now) == "ccproxy: proxy not running · last sonnet (think) · session $64.75"
    )


def test_running_proxy_new_session(config_dir: Path, ledger: Path, running_proxy: int, now: float) -> None:
    stdin = json.dumps({**json.loads(INPUT), "session_id": "not-seen-yet"}).encode()
    assert render(config_dir, stdin, now) == "ccproxy: no request of this session yet"


@pytest.mark.parametrize("stdin", [b"", b"not json", b"[]", b'{"session_id": 7}'])
def test_odd_input_still_prints_a_line(
    config_dir: Path, ledger: Path, running_proxy: int, now: float, stdin: bytes
) -> None:
    assert render(config_dir, stdin, now) == "ccproxy: no request of this session yet"


def test_command_answers_as_subprocess(config_dir: Path, ledger: Path, running_proxy: int) -> None:
    """Both entry points print the line; the fast one (what --install sets) well under a second."""
    for argv, bound in (
        (
            [
                sys.executable,
                "-m",
                "ccproxy_desktop.cli.statusline_commands",
                "--config-dir",
                str(config_dir),
            ],
            1.0,
        ),
        (
            [sys.executable, "-m", "ccproxy_desktop.cli.main", "--config-dir", str(config_dir), "statusline"],
            5.0,
        ),
    ):
        started = time.perf_counter()
        done = subprocess.run(argv, input=INPUT, capture_output=True, cwd=REPO, timeout=30, check=True)
        elapsed = time.perf_counter() - started
        assert done.stdout.decode() == "ccproxy → sonnet (think) · session $64.75\n"
        assert elapsed < bound, (argv, elapsed)


def test_own_work_is_fast(config_dir: Path, ledger: Path, running_proxy: int, now: float) -> None:
    """The in-process work (files, ledger, line): ~1 ms on a small ledger, ~18 ms with 200,000 rows (see
    docs/desktop.md); the bound is generous so a loaded CI machine doesn't flake."""
    (config_dir / "ccproxy.yaml").write_text(BUDGETS_YAML)
    best = min(_timed(lambda: render(config_dir, INPUT, now)) for _ in range(5))
    assert best < 0.25


def _timed(call: object) -> float:
    started = time.perf_counter()
    call()  # type: ignore[operator]
    return time.perf_counter() - started


def test_wraps_the_users_command(config_dir: Path) -> None:
    """Theirs gets the same input; ours is appended to what it prints."""
    theirs = f"{sys.executable} -c \"import json,sys; print('[' + json.load(sys.stdin)['model']['display_name'] + ']')\""
    fast = [sys.executable, "-m", "ccproxy_desktop.cli.statusline_commands", "--config-dir", str(config_dir)]
    done = subprocess.run(
        [*fast, "--wrap-command", theirs],
        input=INPUT,
        capture_output=True,
        cwd=REPO,
        timeout=30,
        check=True,
    )
    assert done.stdout.decode() == "[Sonnet 5.5] · ccproxy: proxy not running\n"


# -- install / uninstall -------------------------------------------------------------------------------------

USER_SETTINGS = (
    b'{\n    "model": "sonnet",\n    "permissions": {\n        "allow": ["Bash(git diff:*)"]\n    },\n'
    b'    "env": {"FOO": "1"}\n}'  # four spaces, one inline object, no final newline
)
USER_STATUS = (
    b'{\n  "statusLine": {\n    "type": "command",\n    "command": "~/.claude/my-line.sh",\n    "padding": 1\n  },\n'
    b'  "theme": "dark"\n}\n'
)


@pytest.fixture
def claude_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_dir: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CCPROXY_CONFIG_DIR", str(config_dir))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    return home / ".claude"


def _cli(*args: str) -> int:
    return main(["statusline", *args])


def _status_line(settings: Path) -> dict[str, object]:
    value = json.loads(settings.read_bytes())["statusLine"]
    assert isinstance(value, dict)
    return value


@pytest.mark.parametrize("original", [None, b"{}", b"{}\n", USER_SETTINGS])
def test_install_uninstall_round_trip(
    claude_dir: Path, original: bytes | None, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = claude_dir / "settings.json"
    if original is not None:
        claude_dir.mkdir()
        settings.write_bytes(original)
    assert _cli("--install") == 0
    value = _status_line(settings)
    assert value["type"] == "command"
    assert "ccproxy_desktop.cli.statusline_commands" in str(value["command"])
    if original == USER_SETTINGS:  # the other members, byte for byte, and the file's own indentation
        assert settings.read_bytes().startswith(
            USER_SETTINGS[:-2] + b',\n    "statusLine": {\n        "type"'
        )
        assert not settings.read_bytes().endswith(b"\n")
    assert _cli("--install") == 0  # again: unchanged
    assert "nothing changed" in capsys.readouterr().out
    assert _cli("--uninstall") == 0
    if original is None:
        assert not settings.exists()
    else:
        assert settings.read_bytes() == original
    assert _cli("--uninstall") == 0
    assert "not in" in capsys.readouterr().out


def test_own_status_line_is_refused_without_wrap(
    claude_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    claude_dir.mkdir()
    settings = claude_dir / "settings.json"
    settings.write_bytes(USER_STATUS)
    assert _cli("--install") == 1
    assert "--wrap" in capsys.readouterr().err
    assert settings.read_bytes() == USER_STATUS


def test_wrap_keeps_the_users_status_line_and_uninstall_restores_it(
    claude_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    claude_dir.mkdir()
    settings = claude_dir / "settings.json"
    settings.write_bytes(USER_STATUS)
    assert _cli("--install", "--wrap") == 0
    out = capsys.readouterr().out
    assert "wraps yours" in out and "~/.claude/my-line.sh" in out and "appended" in out
    value = _status_line(settings)
    assert value["padding"] == 1
    assert str(value["command"]).endswith("--wrap-command '~/.claude/my-line.sh'")
    assert settings.read_bytes().endswith(b'  },\n  "theme": "dark"\n}\n')
    assert _cli("--uninstall") == 0
    assert settings.read_bytes() == USER_STATUS


def test_claude_config_dir(claude_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "claude-config"
    elsewhere.mkdir()
    (elsewhere / "settings.json").write_bytes(USER_SETTINGS)
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(elsewhere))
    assert _cli("--install") == 0
    assert "statusLine" in json.loads((elsewhere / "settings.json").read_bytes())
    assert not claude_dir.exists()
    assert _cli("--uninstall") == 0
    assert (elsewhere / "settings.json").read_bytes() == USER_SETTINGS


def test_other_edits_since_install_are_kept(claude_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    claude_dir.mkdir()
    settings = claude_dir / "settings.json"
    settings.write_bytes(USER_STATUS)
    assert _cli("--install", "--wrap") == 0
    settings.write_bytes(settings.read_bytes().replace(b'"dark"', b'"light"'))
    assert _cli("--uninstall") == 0
    assert "other edits since the install are kept" in capsys.readouterr().out
    assert settings.read_bytes() == USER_STATUS.replace(b'"dark"', b'"light"')


def test_changed_status_line_is_refused_on_uninstall(
    claude_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    claude_dir.mkdir()
    settings = claude_dir / "settings.json"
    settings.write_bytes(USER_SETTINGS)
    assert _cli("--install") == 0
    edited = settings.read_bytes().replace(b'"type": "command"', b'"type": "command", "padding": 2')
    settings.write_bytes(edited)
    assert _cli("--uninstall") == 1
    assert "was changed since" in capsys.readouterr().err
    assert settings.read_bytes() == edited


def test_invalid_settings_are_refused(claude_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    claude_dir.mkdir()
    settings = claude_dir / "settings.json"
    settings.write_bytes(b'{"model": "sonnet",}')
    assert _cli("--install") == 1
    assert "not valid JSON" in capsys.readouterr().err
    assert settings.read_bytes() == b'{"model": "sonnet",}'
