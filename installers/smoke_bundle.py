"""Smoke test of a built bundle on the machine that built it (CI's macOS and Windows runners, or Linux):

    python installers/smoke_bundle.py dist/ccproxy-desktop

`ccproxy --version`; `ccproxy start --detach` on a config pointing at the fake provider (served by this Python,
which needs the project's `test` extra); one request through it with the `anthropic` SDK; `ccproxy stop`; then the
tray (`ccproxy-desktop`) started, its proxy waited for, and the tray quit (SIGTERM; on Windows the process is
terminated and `ccproxy stop` stops the proxy it left). Exits non-zero with a message on the first failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anthropic

from ccproxy_desktop.proxy.control import ProxyControl
from ccproxy_desktop.proxy.keys import read_master_key
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import FakeProvider

EXE = ".exe" if sys.platform == "win32" else ""


def run(*command: str, timeout: float = 300) -> str:
    print("+", " ".join(command), flush=True)
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def main(bundle: Path) -> int:
    ccproxy, tray = str(bundle / f"ccproxy{EXE}"), str(bundle / f"ccproxy-desktop{EXE}")
    started = time.monotonic()
    print(run(ccproxy, "--version").strip(), f"({time.monotonic() - started:.2f} s)")
    with tempfile.TemporaryDirectory() as folder, FakeProvider() as provider:
        paths = write_fake_config(Path(folder) / "config", provider.base_url, free_port())
        control = ProxyControl(paths)
        started = time.monotonic()
        run(ccproxy, "--config-dir", str(paths.config_dir), "start", "--detach")
        print(f"start to healthy: {time.monotonic() - started:.1f} s")
        state = control.state()
        assert state is not None, "ccproxy start --detach left no proxy"
        client = anthropic.Anthropic(base_url=state.url, api_key=read_master_key(paths), max_retries=0)
        reply = client.messages.create(
            model="claude-sonnet-5", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.content and provider.log.snapshot(), "no answer through the proxy"
        run(ccproxy, "--config-dir", str(paths.config_dir), "stop")
        assert control.state() is None, "ccproxy stop left the proxy running"

        env = {**os.environ, "CCPROXY_CONFIG_DIR": str(paths.config_dir)}
        process = subprocess.Popen([tray], env=env)
        deadline = time.monotonic() + 300
        while not ((s := control.state()) is not None and control.healthy(s.url, timeout=1)):
            if process.poll() is not None:
                raise SystemExit(f"the tray exited {process.returncode} before its proxy answered")
            if time.monotonic() > deadline:
                raise SystemExit("the tray's proxy did not answer within 300 s")
            time.sleep(0.5)
        print("tray: running, its proxy answers")
        process.terminate()
        process.wait(timeout=120)
        if control.state() is not None:  # Windows: TerminateProcess gives the tray no chance to stop it
            run(ccproxy, "--config-dir", str(paths.config_dir), "stop")
        assert control.state() is None
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
