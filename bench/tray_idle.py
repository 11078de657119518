"""CPU and memory of the tray app sitting idle, against an idle `python -c "import time; time.sleep(N)"`.

Starts the fake provider (its own process), a proxy on it (`ccproxy start --detach`, which the tray attaches to)
and `ccproxy tray`; after a warm-up (docking, first poll) it samples both processes from /proc once a second for
`--seconds`: CPU time (utime + stime) over the window and resident memory (VmRSS; PSS at the end, which counts
shared libraries once per sharer). Needs a display with a system tray; on a headless Linux machine:

    bash tests/desktop-session.sh python3 bench/tray_idle.py [--seconds 60] [--warmup 10]

Targets: CPU < 1 %, max RSS < 80 MB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ccproxy_desktop.proxy.control import ProxyControl
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider.process import fake_provider_process

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
CPU_TARGET_PERCENT = 1.0
RSS_TARGET_MB = 80.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def pss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


@dataclass
class Sampled:
    name: str
    pid: int
    cpu_start: float = 0.0
    cpu_end: float = 0.0
    rss_kb: list[int] = field(default_factory=list)

    def begin(self) -> None:
        self.cpu_start = cpu_seconds(self.pid)

    def sample(self) -> None:
        self.rss_kb.append(status_kb(self.pid, "VmRSS"))

    def end(self) -> None:
        self.cpu_end = cpu_seconds(self.pid)

    def cpu_percent(self, wall: float) -> float:
        return (self.cpu_end - self.cpu_start) / wall * 100


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="idle window measured (default 60)")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before measuring (default 10)")
    args = parser.parse_args()
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        print("needs a display: bash tests/desktop-session.sh python3 bench/tray_idle.py", file=sys.stderr)
        return 2

    with fake_provider_process() as provider, tempfile.TemporaryDirectory(prefix="tray-idle-") as folder:
        paths = write_fake_config(
            Path(folder) / "config",
            provider.base_url,
            free_port(),
            ccproxy={"budgets": [{"name": "daily", "limit_usd": 10.0}]},
        )
        control = ProxyControl(paths)
        tray: subprocess.Popen[bytes] | None = None
        baseline: subprocess.Popen[bytes] | None = None
        try:
            started = time.monotonic()
            control.start_detached()
            print(f"proxy up in {time.monotonic() - started:.1f} s; starting the tray", file=sys.stderr)
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            tray = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "ccproxy_desktop.cli.main",
                    "--config-dir",
                    str(paths.config_dir),
                    "tray",
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(args.warmup)  # docking and the first poll are start-up, not idle
            if tray.poll() is not None:
                print(f"the tray exited with {tray.returncode}", file=sys.stderr)
                return 1
            sleep_for = args.seconds + 30
            baseline = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({sleep_for})"])
            time.sleep(1.0)  # the baseline's interpreter start-up is not idle either
            measured = [Sampled("ccproxy tray", tray.pid), Sampled("python sleep (baseline)", baseline.pid)]
            window_start = time.monotonic()
            for process in measured:
                process.begin()
            while time.monotonic() - window_start < args.seconds:
                for process in measured:
                    process.sample()
                time.sleep(1.0)
            for process in measured:
                process.end()
            wall = time.monotonic() - window_start
            report(measured, wall, tray.pid)
            tray_cpu = measured[0].cpu_percent(wall)
            tray_rss = max(measured[0].rss_kb) / 1024
            return 0 if tray_cpu < CPU_TARGET_PERCENT and tray_rss < RSS_TARGET_MB else 1
        finally:
            for child in (tray, baseline):
                if child is not None and child.poll() is None:
                    child.terminate()
                    child.wait(30)
            control.stop()


def report(measured: list[Sampled], wall: float, tray_pid: int) -> None:
    print(f"idle window: {wall:.1f} s, {len(measured[0].rss_kb)} samples")
    print(f"{'process':26} {'CPU s':>7} {'CPU %':>7} {'max RSS MB':>11}")
    for process in measured:
        cpu = process.cpu_end - process.cpu_start
        print(
            f"{process.name:26} {cpu:>7.2f} {process.cpu_percent(wall):>7.2f} {max(process.rss_kb) / 1024:>11.1f}"
        )
    peak = status_kb(tray_pid, "VmHWM") / 1024
    print(f"tray: peak RSS since start (VmHWM) {peak:.1f} MB, PSS now {pss_kb(tray_pid) / 1024:.1f} MB")
    tray = measured[0]
    cpu_ok = tray.cpu_percent(wall) < CPU_TARGET_PERCENT
    rss_ok = max(tray.rss_kb) / 1024 < RSS_TARGET_MB
    print(
        f"targets: CPU < {CPU_TARGET_PERCENT:g} % {'PASS' if cpu_ok else 'FAIL'}, "
        f"max RSS < {RSS_TARGET_MB:g} MB {'PASS' if rss_ok else 'FAIL'}"
    )


if __name__ == "__main__":
    sys.exit(main())
