"""Token sources from `oat_sources`: commands, files, JSON paths, and errors that never show the secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ccproxy_desktop.auth.sources import SourceError, StaticTokenStore, read_source
from ccproxy_desktop.config.schema import OAuthSourceSpec

SECRET = "sk-ant-oat01-very-secret"


def test_command_output_is_the_token() -> None:
    assert read_source(OAuthSourceSpec(command=f"echo '  {SECRET}  '")) == SECRET


def test_file_with_a_json_path(tmp_path: Path) -> None:
    creds = tmp_path / "credentials.json"
    creds.write_text(json.dumps({"claudeAiOauth": {"accessToken": SECRET, "expiresAt": 1}}))
    assert read_source(OAuthSourceSpec(file=str(creds), json_path="claudeAiOauth.accessToken")) == SECRET


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        (OAuthSourceSpec(command=f"echo {SECRET}; exit 3"), "exited with code 3"),
        (OAuthSourceSpec(command="printf ''"), "empty token"),
        (OAuthSourceSpec(file="/nonexistent/token"), "can't read"),
        (OAuthSourceSpec(command=f'echo \'{{"a": "{SECRET}"}}\'', json_path="b"), "no 'b'"),
        (OAuthSourceSpec(command=f"echo {SECRET}", json_path="a"), "not JSON"),
    ],
    ids=["failing-command", "empty", "missing-file", "missing-json-key", "not-json"],
)
def test_errors_say_why_without_the_secret(spec: OAuthSourceSpec, reason: str) -> None:
    with pytest.raises(SourceError) as caught:
        read_source(spec)
    assert reason in str(caught.value)
    assert SECRET not in str(caught.value)


def test_store_keeps_working_providers_and_warns_about_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    store = StaticTokenStore.load(
        {
            "anthropic": OAuthSourceSpec(command=f"echo {SECRET}", user_agent="claude-cli/2"),
            "gemini": OAuthSourceSpec(command="exit 1"),
        }
    )
    assert store.token_for("anthropic") == SECRET
    assert store.user_agent_for("anthropic") == "claude-cli/2"
    assert store.token_for("gemini") is None
    assert "no token for gemini" in caplog.text
    assert SECRET not in caplog.text
