"""`ccproxy tray` without a desktop: the single-instance rule, the headless fallback, the backend choice, and
what the tray process imports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.desktop.backend import choose_backend, has_display, prepare_backend
from ccproxy_desktop.instance import AlreadyRunning, SingleInstance

REPO = Path(__file__).resolve().parents[2]


def ccproxy_tray(config_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ccproxy_desktop.cli.main", "--config-dir", str(config_dir), "tray"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO)},
        check=False,
    )


def session_free_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "PYSTRAY_BACKEND")}


def test_the_lock_admits_one_holder_and_is_free_again_after_release(tmp_path: Path) -> None:
    path = tmp_path / "run" / "tray.lock"
    first = SingleInstance(path)
    first.acquire()
    with pytest.raises(AlreadyRunning) as raised:
        SingleInstance(path).acquire()
    assert raised.value.pid == os.getpid()
    first.release()
    with SingleInstance(path):
        pass


def test_the_lock_dies_with_its_process(tmp_path: Path) -> None:
    path = tmp_path / "tray.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from ccproxy_desktop.instance import SingleInstance\n"
            f"SingleInstance(__import__('pathlib').Path({str(path)!r})).acquire()\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(AlreadyRunning):
            SingleInstance(path).acquire()
    finally:
        holder.kill()
        holder.wait(10)
    SingleInstance(path).acquire()  # killed, not released: the OS freed the lock


def test_a_second_tray_says_so_and_exits_zero(tmp_path: Path) -> None:
    paths = ConfigPaths(tmp_path / "cfg")
    with SingleInstance(paths.run_dir / "tray.lock"):
        done = ccproxy_tray(paths.config_dir, {**session_free_env(), "DISPLAY": ":99"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ccproxy-desktop is already running"


def test_without_a_display_it_runs_the_proxy_in_the_foreground(tmp_path: Path) -> None:
    """An invalid config makes the proxy exit at once, with its own message: proof it ran instead of a tray."""
    config_dir = tmp_path / "cfg"
    config_dir.mkdir()
    (config_dir / "ccproxy.yaml").write_text("ccproxy:\n  no_such_key: 1\n")
    (config_dir / "config.yaml").write_text("model_list: []\n")
    done = ccproxy_tray(config_dir, session_free_env())
    assert done.stdout.startswith("no display: running the proxy headless (ccproxy start)\n")
    assert "the configuration is invalid" in done.stderr
    assert "no_such_key" in done.stderr
    assert done.returncode != 0


@pytest.mark.parametrize(
    ("environ", "platform", "expected"),
    [
        ({"DISPLAY": ":0"}, "linux", True),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
        ({}, "linux", False),
        ({"DISPLAY": ""}, "linux", False),
        ({}, "darwin", True),
        ({}, "win32", True),
    ],
)
def test_has_display(environ: dict[str, str], platform: str, expected: bool) -> None:
    assert has_display(environ, platform) is expected


@pytest.mark.parametrize(
    ("environ", "platform", "gtk", "indicator", "expected"),
    [
        ({}, "linux", True, True, "gtk"),
        ({"XDG_CURRENT_DESKTOP": "XFCE"}, "linux", True, True, "gtk"),
        ({"XDG_CURRENT_DESKTOP": "ubuntu:GNOME"}, "linux", True, True, "appindicator"),
        ({"XDG_CURRENT_DESKTOP": "KDE"}, "linux", True, True, "appindicator"),
        ({"XDG_SESSION_TYPE": "wayland"}, "linux", True, True, "appindicator"),
        ({"XDG_CURRENT_DESKTOP": "GNOME"}, "linux", True, False, "gtk"),
        ({}, "linux", False, True, "appindicator"),
        ({}, "linux", False, False, "xorg"),
        ({"PYSTRAY_BACKEND": "xorg"}, "linux", True, True, "xorg"),
        ({}, "darwin", False, False, None),
        ({}, "win32", False, False, None),
    ],
)
def test_choose_backend(
    environ: dict[str, str], platform: str, gtk: bool, indicator: bool, expected: str | None
) -> None:
    chosen = choose_backend(
        environ, platform, gtk_available=lambda: gtk, appindicator_available=lambda: indicator
    )
    assert chosen == expected


def test_prepare_backend_turns_gtks_opengl_off_for_the_tray_only() -> None:
    env = {"PYSTRAY_BACKEND": "gtk"}
    assert prepare_backend(env) == "gtk"
    assert env["GDK_GL"] == "disable"


def test_the_tray_process_imports_neither_litellm_nor_the_rest_of_the_cli() -> None:
    """What `python -m ccproxy_desktop.desktop` loads (its entry's own modules, and those it imports lazily):
    LiteLLM costs seconds and tens of MB, the routing pipeline brings tokenizers, httpx's CLI brings rich."""
    code = (
        "import sys\n"
        "sys.modules.setdefault('httpx._main', None)  # as desktop/__main__.py does\n"
        "import ccproxy_desktop.desktop.launch\n"
        "import ccproxy_desktop.desktop.app, ccproxy_desktop.desktop.notifier, ccproxy_desktop.desktop.opener\n"
        "import ccproxy_desktop.desktop.proxy_port, ccproxy_desktop.desktop.toggles, ccproxy_desktop.ledger.store\n"
        "import ccproxy_desktop.proxy.control\n"
        "heavy = ('litellm', 'uvicorn', 'fastapi', 'tiktoken', 'rich', 'click', 'keyring', 'aiohttp')\n"
        "found = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
        "found += sorted(m for m in sys.modules if m.startswith(('ccproxy_desktop.pipeline.tokens', 'ccproxy_desktop.cli.')))\n"
        "print(' '.join(found))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "PYSTRAY_BACKEND": "dummy"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
