"""The Linux bundle and .deb as a user gets them: build (installers/pyinstaller/build.sh, installers/linux/build-deb.sh),
install with dpkg, run the installed `ccproxy` against the fake provider, start the tray from the installed menu
entry's Exec line, remove the package and check nothing of it is left.

Slow (the PyInstaller build of a LiteLLM app takes minutes) and it installs a system package, so it runs only when
asked: `CCPROXY_BUNDLE_TEST=1`, as root (dpkg), in the desktop session for the tray part:
    CCPROXY_BUNDLE_TEST=1 bash tests/desktop-session.sh python3 -m pytest tests/installers/test_bundle_deb.py -q
`CCPROXY_BUNDLE_DIR=dist/ccproxy-desktop` reuses a bundle built before instead of building one; `CCPROXY_DEB=FILE`
a .deb.
"""

from __future__ import annotations

import configparser
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest

from ccproxy_desktop.proxy.control import ProxyControl
from ccproxy_desktop.proxy.keys import read_master_key
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import FakeProvider

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "ccproxy-desktop"
ENTRY = Path("/usr/share/applications/ccproxy-desktop.desktop")
CCPROXY = "/usr/bin/ccproxy"  # by its path: a venv or pyenv `ccproxy` may come first on PATH

pytestmark = pytest.mark.skipif(
    os.environ.get("CCPROXY_BUNDLE_TEST") != "1",
    reason="slow, installs a system package: set CCPROXY_BUNDLE_TEST=1 (see the module docstring)",
)


def sh(*command: str, timeout: float = 120, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, (
        f"{shlex.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert os.geteuid() == 0, "dpkg -i needs root"
    if os.environ.get("CCPROXY_DEB"):  # a .deb built before (build-deb.sh compresses ~1 GB for minutes)
        return Path(os.environ["CCPROXY_DEB"])
    folder = tmp_path_factory.mktemp("bundle")
    bundle = Path(os.environ.get("CCPROXY_BUNDLE_DIR") or folder / "dist" / PACKAGE)
    if not os.environ.get("CCPROXY_BUNDLE_DIR"):
        sh(
            "bash",
            str(REPO / "installers/pyinstaller/build.sh"),
            "--venv",
            str(folder / "venv"),
            "--dist",
            str(folder / "dist"),
            "--work",
            str(folder / "work"),
            timeout=1800,
        )
    out = sh(
        "bash",
        str(REPO / "installers/linux/build-deb.sh"),
        "--bundle",
        str(bundle),
        "--out",
        str(folder),
        "--compression",
        "gzip",  # xz takes minutes for the bundle; what the package holds is the same
        timeout=900,
    )
    return Path(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def installed(deb: Path) -> Iterator[list[Path]]:
    sh("dpkg", "-i", str(deb))
    files = [Path(line) for line in sh("dpkg", "-L", PACKAGE).splitlines() if line.strip()]
    try:
        yield files
    finally:
        subprocess.run(["dpkg", "--purge", PACKAGE], capture_output=True, timeout=120)


def test_the_installed_ccproxy_is_on_path(installed: list[Path]) -> None:
    assert Path("/usr/bin/ccproxy").resolve() == Path("/opt/ccproxy-desktop/ccproxy")
    assert sh(CCPROXY, "--version").startswith("ccproxy-desktop ")
    assert ENTRY in installed and ENTRY.exists()
    assert Path("/usr/share/icons/hicolor/256x256/apps/ccproxy-desktop.png") in installed


def test_start_a_request_and_stop_with_the_installed_ccproxy(installed: list[Path], tmp_path: Path) -> None:
    with FakeProvider() as provider:
        paths = write_fake_config(tmp_path / "config", provider.base_url, free_port())
        sh(CCPROXY, "--config-dir", str(paths.config_dir), "start", "--detach", timeout=300)
        try:
            state = ProxyControl(paths).state()
            assert state is not None
            client = anthropic.Anthropic(base_url=state.url, api_key=read_master_key(paths), max_retries=0)
            reply = client.messages.create(
                model="claude-sonnet-5", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
            )
            assert reply.content
            assert provider.log.snapshot(), "the request did not reach the fake provider"
        finally:
            sh(CCPROXY, "--config-dir", str(paths.config_dir), "stop", timeout=120)
        assert ProxyControl(paths).state() is None


def test_the_menu_entry_starts_the_tray_which_runs_the_proxy(installed: list[Path], tmp_path: Path) -> None:
    assert os.environ.get("DISPLAY"), "run in the desktop session (tests/desktop-session.sh)"
    entry = configparser.ConfigParser(interpolation=None)
    entry.read(ENTRY)
    command = shlex.split(entry["Desktop Entry"]["Exec"])
    with FakeProvider() as provider:
        paths = write_fake_config(tmp_path / "config", provider.base_url, free_port())
        env = {**os.environ, "CCPROXY_CONFIG_DIR": str(paths.config_dir)}
        log = tmp_path / "tray.log"
        with log.open("wb") as sink:
            tray = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 300
            control = ProxyControl(paths)
            while True:
                assert tray.poll() is None, f"the tray exited {tray.returncode}:\n{log.read_text()[-3000:]}"
                state = control.state()
                if state is not None and control.healthy(state.url, timeout=1):
                    break
                assert time.monotonic() < deadline, f"no proxy from the tray:\n{log.read_text()[-3000:]}"
                time.sleep(0.5)
            tray.send_signal(signal.SIGTERM)
            assert tray.wait(timeout=120) == 0, log.read_text()[-3000:]
            assert control.state() is None, "the tray left its proxy running"
        finally:
            if tray.poll() is None:
                tray.kill()


def test_removal_leaves_no_file_behind(installed: list[Path]) -> None:
    sh("dpkg", "-r", PACKAGE)
    left = [p for p in installed if p.exists() and not p.is_dir()]
    assert not left, f"left after dpkg -r: {left[:20]}"
    assert not Path("/opt/ccproxy-desktop").exists()
    sh("dpkg", "--purge", PACKAGE)
