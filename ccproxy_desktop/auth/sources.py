"""Token sources from `oat_sources`: a shell command or a file (optionally a JSON path in it).

Reading a source never logs or returns the secret in an error message.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config.schema import OAuthSourceSpec

__all__ = ["SourceError", "StaticTokenStore", "read_source"]

log = logging.getLogger(__name__)

COMMAND_TIMEOUT = 10.0


class SourceError(Exception):
    """A token source gave no token; the message says why, never what it printed."""


def _json_path(document: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(document, dict) and part in document:
            document = document[part]
        elif isinstance(document, list) and part.isdigit() and int(part) < len(document):
            document = document[int(part)]
        else:
            raise SourceError(f"no {part!r} at that point of the JSON path {path!r}")
    return document


def _kill_tree(process: subprocess.Popen[str]) -> None:
    if sys.platform == "win32":
        process.kill()
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:  # the group is already gone
        process.kill()


def _run_command(command: str, timeout: float) -> tuple[int, str]:
    """(exit code, stdout) of a shell command; on timeout its whole process group is killed, so that a child
    of the shell still holding the output pipe can't keep us waiting."""
    try:
        process = subprocess.Popen(
            command,
            shell=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
    except OSError as exc:
        raise SourceError(f"can't start the command: {exc.strerror}") from None
    with process:
        try:
            stdout, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(process)
            process.communicate()
            raise SourceError(f"command timed out after {timeout:g} s") from None
    return process.returncode, stdout


def read_source(spec: OAuthSourceSpec, timeout: float = COMMAND_TIMEOUT) -> str:
    """The token `spec` gives now; a command is killed after `timeout` seconds. Blocks: call it from a thread
    when on an event loop. Raises SourceError."""
    if spec.command is not None:
        returncode, text = _run_command(spec.command, timeout)
        if returncode != 0:
            raise SourceError(f"command exited with code {returncode}")
    elif spec.file is not None:
        try:
            text = Path(spec.file).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise SourceError(f"can't read {spec.file}: {exc.strerror}") from exc
    else:
        raise SourceError(
            "no command or file (OAuth2 token_url sources are refreshed by the credential store)"
        )
    if spec.json_path:
        try:
            value = _json_path(json.loads(text), spec.json_path)
        except ValueError:
            # Not chained: the JSON error keeps the whole document, token included.
            raise SourceError("the output is not JSON") from None
        text = value if isinstance(value, str) else ""
    token = text.strip()
    if not token:
        raise SourceError("gave an empty token")
    return token


@dataclass
class StaticTokenStore:
    """Tokens read once from `oat_sources` when the proxy starts (implements the hooks' `TokenSource`)."""

    tokens: dict[str, str]
    user_agents: dict[str, str]

    @classmethod
    def load(cls, sources: dict[str, OAuthSourceSpec]) -> StaticTokenStore:
        tokens: dict[str, str] = {}
        for provider, spec in sources.items():
            try:
                tokens[provider] = read_source(spec)
            except SourceError as exc:
                log.warning("no token for %s from oat_sources: %s", provider, exc)
        agents = {p: s.user_agent for p, s in sources.items() if s.user_agent}
        return cls(tokens, agents)

    def token_for(self, provider: str) -> str | None:
        return self.tokens.get(provider)

    def user_agent_for(self, provider: str) -> str | None:
        return self.user_agents.get(provider)
