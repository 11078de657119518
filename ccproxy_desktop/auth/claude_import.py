"""Import Claude Code's own subscription login as the `anthropic` credential.

Claude Code keeps `{"claudeAiOauth": {"accessToken", "refreshToken", "expiresAt" (ms), "scopes",
"subscriptionType"}}` in the macOS Keychain (generic password, service `Claude Code-credentials`) or, elsewhere,
in `~/.claude/.credentials.json` (`$CLAUDE_CONFIG_DIR/.credentials.json` when that is set). It refreshes the
token at its OAuth endpoint with a JSON body; the imported Credential carries that endpoint so that the
credential manager can do the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .credential import Credential, CredentialError

__all__ = [
    "CLAUDE_CLIENT_ID",
    "CLAUDE_TOKEN_URL",
    "KEYCHAIN_SERVICE",
    "ClaudeImportError",
    "CommandResult",
    "Runner",
    "claude_credentials_path",
    "import_claude_credentials",
    "parse_claude_credentials",
    "run_command",
]

CLAUDE_TOKEN_URL = "https://platform.claude.com/v1/oauth/token"
"""Where Claude Code refreshes its login (it moved there from console.anthropic.com, which now answers 404)."""

CLAUDE_CLIENT_ID = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
"""Claude Code's public OAuth client id."""

KEYCHAIN_SERVICE = "Claude Code-credentials"
COMMAND_TIMEOUT_S = 10.0
_KEYCHAIN_ITEM_NOT_FOUND = 44  # `security`'s exit code for errSecItemNotFound


class ClaudeImportError(Exception):
    """No usable Claude Code login was found; the message says where we looked, never what we read."""


@dataclass(frozen=True, repr=False)
class CommandResult:
    returncode: int
    stdout: str

    def __repr__(self) -> str:
        return f"CommandResult(returncode={self.returncode}, stdout=[{len(self.stdout)} characters])"


Runner = Callable[[Sequence[str]], CommandResult]
"""Runs a command (argv, no shell) and returns its exit code and output; raises OSError if it can't start."""


def run_command(argv: Sequence[str]) -> CommandResult:
    """The real `Runner`: a subprocess with a timeout (a timeout reads as exit code -1)."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return CommandResult(-1, "")
    return CommandResult(done.returncode, done.stdout)


def claude_credentials_path(home: Path, env: Mapping[str, str]) -> Path:
    config_dir = env.get("CLAUDE_CONFIG_DIR")
    return (Path(config_dir).expanduser() if config_dir else home / ".claude") / ".credentials.json"


def parse_claude_credentials(text: str, *, now: float, where: str) -> Credential:
    """The `anthropic` Credential in Claude Code's credentials JSON. Raises ClaudeImportError."""
    try:
        document = json.loads(text)
    except ValueError:
        raise ClaudeImportError(f"{where} is not JSON") from None
    oauth = document.get("claudeAiOauth") if isinstance(document, dict) else None
    if not isinstance(oauth, dict):
        raise ClaudeImportError(
            f"{where} has no claudeAiOauth login (log in to Claude Code with a subscription)"
        )
    access_token = oauth.get("accessToken")
    if not isinstance(access_token, str) or not access_token:
        raise ClaudeImportError(f"{where} has no accessToken")
    refresh_token = oauth.get("refreshToken")
    expires_at_ms = oauth.get("expiresAt")
    scopes = oauth.get("scopes")
    try:
        return Credential(
            provider="anthropic",
            access_token=access_token,
            refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
            expires_at=(
                expires_at_ms / 1000
                if isinstance(expires_at_ms, int | float) and not isinstance(expires_at_ms, bool)
                else None
            ),
            token_url=CLAUDE_TOKEN_URL,
            client_id=CLAUDE_CLIENT_ID,
            source="claude",
            obtained_at=now,
            body_format="json",
            scopes=tuple(s for s in scopes if isinstance(s, str)) if isinstance(scopes, list) else (),
        )
    except CredentialError as exc:
        raise ClaudeImportError(f"{where}: {exc}") from None


def _from_keychain(run: Runner) -> tuple[str, str]:
    where = f"the macOS Keychain item {KEYCHAIN_SERVICE!r}"
    try:
        result = run(["security", "find-generic-password", "-s", KEYCHAIN_SERVICE, "-w"])
    except OSError as exc:
        raise ClaudeImportError(f"can't run `security` to read {where}: {exc.strerror}") from None
    if result.returncode == _KEYCHAIN_ITEM_NOT_FOUND:
        raise ClaudeImportError(f"{where} does not exist")
    if result.returncode != 0:
        raise ClaudeImportError(f"reading {where} failed (`security` exited with code {result.returncode})")
    return result.stdout, where


def _from_file(path: Path) -> tuple[str, str]:
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except FileNotFoundError:
        raise ClaudeImportError(f"{path} does not exist") from None
    except OSError as exc:
        raise ClaudeImportError(f"can't read {path}: {exc.strerror}") from None


def import_claude_credentials(
    *,
    home: Path | None = None,
    env: Mapping[str, str] | None = None,
    platform: str = sys.platform,
    run: Runner = run_command,
    clock: Callable[[], float] = time.time,
) -> Credential:
    """Claude Code's login as a Credential: from the Keychain first on macOS, else (or then) from the
    credentials file. Raises ClaudeImportError naming every place looked at."""
    environment = os.environ if env is None else env
    path = claude_credentials_path(Path.home() if home is None else home, environment)
    readers: list[Callable[[], tuple[str, str]]] = [lambda: _from_file(path)]
    if platform == "darwin":
        readers.insert(0, lambda: _from_keychain(run))
    problems: list[str] = []
    for read in readers:
        try:
            text, where = read()
            return parse_claude_credentials(text, now=clock(), where=where)
        except ClaudeImportError as exc:
            problems.append(str(exc))
    raise ClaudeImportError(
        "no Claude Code login found (" + "; ".join(problems) + "): log in with `claude` first"
    )
