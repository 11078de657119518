"""Start-up of the frozen bundle against the venv install, interleaved in one process:
`ccproxy --version` wall time, and `ccproxy start --detach` until the proxy's first health answer (the command
returns then), on a config pointing at the fake provider, followed by `ccproxy stop`.

    python3 bench/bundle_startup.py dist/ccproxy-desktop [ROUNDS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import FakeProvider


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    return time.perf_counter() - started


def main(bundle: Path, rounds: int) -> None:
    flavours = {
        "bundle": [str(bundle / "ccproxy")],
        "venv": [sys.executable, "-m", "ccproxy_desktop.cli.main"],
    }
    version: dict[str, list[float]] = {name: [] for name in flavours}
    start: dict[str, list[float]] = {name: [] for name in flavours}
    with tempfile.TemporaryDirectory() as folder, FakeProvider() as provider:
        paths = write_fake_config(Path(folder) / "config", provider.base_url, free_port())
        for _ in range(rounds):
            for name, command in flavours.items():  # interleaved: the machine's load hits both alike
                version[name].append(timed([*command, "--version"]))
                start[name].append(
                    timed([*command, "--config-dir", str(paths.config_dir), "start", "--detach"])
                )
                subprocess.run(
                    [*command, "--config-dir", str(paths.config_dir), "stop"],
                    check=True,
                    capture_output=True,
                    timeout=120,
                )
    for name in flavours:
        print(
            f"{name}: --version median {statistics.median(version[name]):.2f} s, "
            f"start to healthy median {statistics.median(start[name]):.1f} s "
            f"(runs: {', '.join(f'{t:.1f}' for t in start[name])})"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 3)
