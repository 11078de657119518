"""Token sources from `oat_sources`: a shell command or a file (optionally a JSON path in it).

Reading a source never logs or returns the secret in an error message.
"""

from __future__ import annotations

import json
import logging
import subprocess
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


def read_source(spec: OAuthSourceSpec) -> str:
    """The token `spec` gives now. Raises SourceError."""
    if spec.command is not None:
        try:
            result = subprocess.run(
                spec.command, shell=True, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise SourceError(f"command timed out after {COMMAND_TIMEOUT:.0f} s") from exc
        if result.returncode != 0:
            raise SourceError(f"command exited with code {result.returncode}")
        text = result.stdout
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
        except ValueError as exc:
            raise SourceError("the output is not JSON") from exc
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
