"""The peer servers of `bench/peers.py`: how each is started, found in /proc, measured and stopped.

ccproxy (`ccproxy start --detach`: whatever server that runs), a bare LiteLLM proxy (`litellm --config`) and
claude-code-router (installed by `bench/setup-ccr.sh`), each against the bench's fake provider.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ccproxy_desktop.proxy.control import ProxyControl
from ccproxy_desktop.proxy.keys import ensure_master_key
from ccproxy_desktop.testing.configs import DEMO_MODELS, free_port, write_fake_config

ROOT = Path(__file__).resolve().parent.parent
TRANSLATED_MODEL = "gpt-bench"
"""The model name the translated target asks for: an `openai/gpt-4o` deployment at the fake provider."""
PROVIDER_KEY = "fake-provider-key"
# The fixture's headers a target doesn't get: connection handling and the captured credentials.
DROPPED_HEADERS = {"connection", "accept-encoding", "content-length", "host", "x-api-key", "authorization"}
POLL_S = 0.05
STOP_TIMEOUT_S = 20.0


class StartError(Exception):
    """A server did not come up; the message says what it printed."""


@dataclass(frozen=True)
class Target:
    """Where one target's requests go and what they carry."""

    name: str
    url: str
    headers: dict[str, str]
    body: bytes


class Server(ABC):
    """One peer server: how to start it, where its process tree is, how to stop it.

    `launch` runs the server's own start command; the server is up when a real request through it succeeds
    (`start` polls). A launcher that returns once the server runs (`ccproxy start --detach`, `ccr start`) may
    exit 0; one that *is* the server (`litellm`) must not exit at all.
    """

    name: str
    probe = ""
    """The target whose first successful request says the server is up."""
    launcher_is_server = False

    def __init__(self, work: Path) -> None:
        self.work = work
        self.log = work / f"{self.name}.log"
        self.launcher: subprocess.Popen[bytes] | None = None
        self.seen: dict[int, str] = {}
        """pid -> start time of every process of the server's tree seen while it ran: stop() makes sure
        each is gone (the start time tells a reused pid apart)."""

    @abstractmethod
    def command(self) -> tuple[list[str], dict[str, str], Path]:
        """(argv, environment, working directory) of the start command."""

    @abstractmethod
    def root_pid(self) -> int | None:
        """The pid of the running server's top process (None: not known yet)."""

    @abstractmethod
    def target(self, name: str, body: dict[str, Any], headers: dict[str, str]) -> Target:
        """The target `name` served by this server, for the fixture's `body` and `headers`."""

    def shutdown(self) -> None:
        """Ask the server to stop (its own stop command); stop() then kills what is left."""
        if self.launcher is not None and self.launcher.poll() is None:
            self.launcher.terminate()

    def launch(self) -> None:
        argv, env, cwd = self.command()
        with open(self.log, "ab") as log:
            self.launcher = subprocess.Popen(
                argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )

    def check_launcher(self) -> None:
        """StartError when the start command has failed."""
        assert self.launcher is not None
        code = self.launcher.poll()
        if code is not None and (code != 0 or self.launcher_is_server):
            tail = self.log.read_text(errors="replace").splitlines()[-15:]
            raise StartError(f"{self.name}: the start command exited with {code}:\n" + "\n".join(tail))

    def settle(self) -> None:
        """Once the server answers: wait for a start command that returns to return, and for the server's pid
        (CCR's gateway answers a moment before `ccr start` writes its service file)."""
        assert self.launcher is not None
        if not self.launcher_is_server:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.launcher.wait(STOP_TIMEOUT_S)
            self.check_launcher()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while self.root_pid() is None:
            if time.monotonic() > deadline:
                raise StartError(f"{self.name}: answers, but its process can't be found")
            time.sleep(POLL_S)

    def processes(self) -> list[tuple[str, float]]:
        """(command line, VmRSS in MB) of every process of the server's tree, from /proc."""
        pid = self.root_pid()
        tree = tree_pids(pid) if pid is not None else set()
        self.remember(tree)
        return [(command_line(p), vm_rss_mb(p)) for p in sorted(tree)]

    def rss_mb(self) -> float:
        """The summed RSS of the server's process tree."""
        return round(sum(mb for _, mb in self.processes()), 1)

    def remember(self, pids: set[int]) -> None:
        for pid in pids:
            started = stat_fields(pid)
            if started is not None:
                self.seen.setdefault(pid, started[19])

    def stop(self) -> None:
        """The server's own stop, then SIGKILL for any of its processes still there after STOP_TIMEOUT_S."""
        pid = self.root_pid()
        if pid is not None:
            self.remember(tree_pids(pid))
        with contextlib.suppress(Exception):
            self.shutdown()
        if self.launcher is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.launcher.wait(STOP_TIMEOUT_S)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while any(alive(p, t) for p, t in self.seen.items()) and time.monotonic() < deadline:
            time.sleep(0.1)
        for p, t in self.seen.items():
            if alive(p, t):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGKILL)
        if self.launcher is not None and self.launcher.poll() is None:
            self.launcher.kill()
            self.launcher.wait()
        self.launcher = None
        self.seen.clear()


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (0: state, 1: parent pid, 19: start time)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: the other fields follow the last ')'
    return stat.rsplit(")", 1)[1].split()


def tree_pids(root: int) -> set[int]:
    """`root` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        fields = stat_fields(int(entry)) if entry.isdigit() else None
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, pending = set(), [root]
    while pending:
        pid = pending.pop()
        found.add(pid)
        pending.extend(children.get(pid, []))
    return found


def vm_rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return kb / 1024


def command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)


def alive(pid: int, started: str | None = None) -> bool:
    """`pid` runs (not a zombie) and, given `started`, is the process that started then."""
    fields = stat_fields(pid)
    return fields is not None and fields[0] != "Z" and started in (None, fields[19])


def claude_code_headers(headers: dict[str, str], key: str, bearer: bool = False) -> dict[str, str]:
    auth = {"authorization": f"Bearer {key}"} if bearer else {"x-api-key": key}
    return {k: v for k, v in headers.items() if k.lower() not in DROPPED_HEADERS} | auth


def with_model(body: dict[str, Any], model: str | None = None) -> bytes:
    return json.dumps(body if model is None else {**body, "model": model}).encode()


class Ccproxy(Server):
    """`python -m ccproxy_desktop start --detach` on a config folder wired to the fake provider: whatever
    server `ccproxy start` runs today. The fixture's model goes to `anthropic/...` (native); TRANSLATED_MODEL
    to `openai/gpt-4o` (translated)."""

    name = "ccproxy"
    probe = "native"

    def __init__(self, work: Path, provider_url: str) -> None:
        super().__init__(work)
        models = {**DEMO_MODELS, TRANSLATED_MODEL: ("gpt-4o", "openai")}
        self.port = free_port()
        self.paths = write_fake_config(work / "ccproxy", provider_url, self.port, models=models)
        self.key = ensure_master_key(self.paths)

    def command(self) -> tuple[list[str], dict[str, str], Path]:
        argv = [sys.executable, "-m", "ccproxy_desktop", "--config-dir", str(self.paths.config_dir)]
        return [*argv, "start", "--detach"], dict(os.environ), ROOT

    def root_pid(self) -> int | None:
        state = ProxyControl(self.paths).state()
        return None if state is None else state.pid

    def target(self, name: str, body: dict[str, Any], headers: dict[str, str]) -> Target:
        model = TRANSLATED_MODEL if name == "translated" else None
        url = f"http://127.0.0.1:{self.port}"
        return Target(name, url, claude_code_headers(headers, self.key), with_model(body, model))

    def shutdown(self) -> None:
        ProxyControl(self.paths).stop(timeout=STOP_TIMEOUT_S)


class Litellm(Server):
    """`litellm --config FILE --port P`: LiteLLM's proxy with ccproxy's model list and a master key."""

    name = "litellm"
    probe = "litellm"
    launcher_is_server = True
    key = "sk-bench-litellm"

    def __init__(self, work: Path, model_list_yaml: Path) -> None:
        super().__init__(work)
        config = yaml.safe_load(model_list_yaml.read_text())
        config.setdefault("general_settings", {})["master_key"] = self.key
        self.config = work / "litellm.yaml"
        self.config.write_text(yaml.safe_dump(config, sort_keys=False))
        self.port = free_port()

    def command(self) -> tuple[list[str], dict[str, str], Path]:
        executable = Path(sys.executable).with_name("litellm")
        argv = [
            str(executable),
            "--config",
            str(self.config),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "WARNING"}
        return argv, env, self.work

    def root_pid(self) -> int | None:
        return None if self.launcher is None else self.launcher.pid

    def target(self, name: str, body: dict[str, Any], headers: dict[str, str]) -> Target:
        url = f"http://127.0.0.1:{self.port}"
        return Target(name, url, claude_code_headers(headers, self.key), with_model(body))


class Ccr(Server):
    """claude-code-router from `bench/setup-ccr.sh`, with HOME in the work folder (it rewrites
    ~/.claude/settings.json, ~/.codex and more): `ccr start --no-open`, a legacy `config.json` with one
    provider of type `anthropic_messages` at the fake provider, listing the fixture's model."""

    name = "ccr"
    probe = "ccr"
    key = "sk-bench-ccr"

    def __init__(self, work: Path, install: Path, provider_url: str, model: str) -> None:
        super().__init__(work)
        self.node = install / "bin" / "node"
        self.cli = install / "package" / "dist" / "main" / "cli.js"
        self.home = work / "ccr-home"
        self.port = free_port()
        self.ui_port = free_port()
        config = {
            "APIKEY": self.key,
            "HOST": "127.0.0.1",
            "PORT": self.port,
            "Providers": [
                {
                    "name": "fake",
                    "api_base_url": f"{provider_url}/v1/messages",
                    "api_key": PROVIDER_KEY,
                    "models": [model],
                    "type": "anthropic_messages",
                    "protocol": "anthropic_messages",
                }
            ],
        }
        (self.home / ".claude-code-router").mkdir(parents=True)
        (self.home / ".claude-code-router" / "config.json").write_text(json.dumps(config, indent=2))

    @staticmethod
    def installed(install: Path) -> bool:
        return (install / "bin" / "node").exists() and (install / "package/dist/main/cli.js").exists()

    def _env(self) -> dict[str, str]:
        return {**os.environ, "HOME": str(self.home), "BROWSER": "true", "NO_COLOR": "1"}

    def command(self) -> tuple[list[str], dict[str, str], Path]:
        argv = [str(self.node), str(self.cli), "start", "--no-open", "--port", str(self.ui_port)]
        return argv, self._env(), self.home

    def root_pid(self) -> int | None:
        try:
            pid = json.loads((self.home / ".claude-code-router" / "service.json").read_text())["pid"]
        except (OSError, ValueError, KeyError):
            return None
        return int(pid) if alive(int(pid)) else None

    def target(self, name: str, body: dict[str, Any], headers: dict[str, str]) -> Target:
        url = f"http://127.0.0.1:{self.port}"
        return Target(name, url, claude_code_headers(headers, self.key), with_model(body))

    def shutdown(self) -> None:
        subprocess.run(
            [str(self.node), str(self.cli), "stop"],
            env=self._env(),
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=STOP_TIMEOUT_S,
            check=False,
        )
