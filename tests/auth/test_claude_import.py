"""Importing Claude Code's login: its credentials file, or the macOS Keychain through `security`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from ccproxy_desktop.auth.claude_import import (
    CLAUDE_CLIENT_ID,
    CLAUDE_TOKEN_URL,
    ClaudeImportError,
    CommandResult,
    import_claude_credentials,
)

ACCESS = "sk-ant-oat01-claude-SECRET"
REFRESH = "sk-ant-ort01-claude-SECRET"
EXPIRES_AT_MS = 1_750_028_800_000
NOW = 1_750_000_000.0
KEYCHAIN_COMMAND = ["security", "find-generic-password", "-s", "Claude Code-credentials", "-w"]


def claude_json(access: str = ACCESS) -> str:
    return json.dumps(
        {
            "claudeAiOauth": {
                "accessToken": access,
                "refreshToken": REFRESH,
                "expiresAt": EXPIRES_AT_MS,
                "scopes": ["user:inference", "user:profile"],
                "subscriptionType": "max",
            }
        }
    )


def write_login(home: Path, text: str, folder: str = ".claude") -> Path:
    path = home / folder / ".credentials.json"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


class FakeSecurity:
    """Stands for macOS's `security` command: records what it is asked and answers as configured."""

    def __init__(self, returncode: int = 0, stdout: str = "") -> None:
        self.result = CommandResult(returncode, stdout)
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> CommandResult:
        self.calls.append(list(argv))
        return self.result


def never_run(argv: Sequence[str]) -> CommandResult:
    raise AssertionError(f"ran {argv} on a platform without the Keychain")


def test_credentials_file_in_home(tmp_path: Path) -> None:
    write_login(tmp_path, claude_json())
    credential = import_claude_credentials(
        home=tmp_path, env={}, platform="linux", run=never_run, clock=lambda: NOW
    )
    assert credential.provider == "anthropic"
    assert credential.source == "claude"
    assert credential.access_token == ACCESS
    assert credential.refresh_token == REFRESH
    assert credential.expires_at == EXPIRES_AT_MS / 1000
    assert credential.obtained_at == NOW
    assert (credential.token_url, credential.client_id) == (CLAUDE_TOKEN_URL, CLAUDE_CLIENT_ID)
    assert credential.body_format == "json"
    assert credential.scopes == ("user:inference", "user:profile")


def test_claude_config_dir_is_honoured(tmp_path: Path) -> None:
    write_login(tmp_path, claude_json(), folder="elsewhere")
    credential = import_claude_credentials(
        home=tmp_path / "no-home", env={"CLAUDE_CONFIG_DIR": str(tmp_path / "elsewhere")}, platform="linux"
    )
    assert credential.access_token == ACCESS


def test_macos_reads_the_keychain_item_first(tmp_path: Path) -> None:
    write_login(tmp_path, claude_json("sk-ant-oat01-older-file-copy"))
    security = FakeSecurity(stdout=claude_json() + "\n")
    credential = import_claude_credentials(home=tmp_path, env={}, platform="darwin", run=security)
    assert security.calls == [KEYCHAIN_COMMAND]
    assert credential.access_token == ACCESS


def test_macos_without_a_keychain_item_falls_back_to_the_file(tmp_path: Path) -> None:
    write_login(tmp_path, claude_json())
    security = FakeSecurity(returncode=44)
    credential = import_claude_credentials(home=tmp_path, env={}, platform="darwin", run=security)
    assert security.calls == [KEYCHAIN_COMMAND]
    assert credential.access_token == ACCESS


def test_nothing_found_names_every_place_looked_at(tmp_path: Path) -> None:
    with pytest.raises(ClaudeImportError) as caught:
        import_claude_credentials(home=tmp_path, env={}, platform="darwin", run=FakeSecurity(returncode=44))
    message = str(caught.value)
    assert "Keychain item 'Claude Code-credentials' does not exist" in message
    assert f"{tmp_path / '.claude' / '.credentials.json'} does not exist" in message
    assert "log in with `claude`" in message


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"{{{ACCESS} {REFRESH}", "is not JSON"),
        (json.dumps({"oauthAccount": {"accessToken": ACCESS, "refreshToken": REFRESH}}), "no claudeAiOauth"),
        (json.dumps({"claudeAiOauth": {"refreshToken": REFRESH}}), "no accessToken"),
    ],
    ids=["not-json", "no-subscription-login", "no-access-token"],
)
def test_unusable_logins_are_explained_without_secrets(tmp_path: Path, text: str, reason: str) -> None:
    write_login(tmp_path, text)
    with pytest.raises(ClaudeImportError) as caught:
        import_claude_credentials(home=tmp_path, env={}, platform="linux")
    assert reason in str(caught.value)
    assert ACCESS not in str(caught.value) and REFRESH not in str(caught.value)


def test_failing_security_command_is_reported_without_its_output(tmp_path: Path) -> None:
    with pytest.raises(ClaudeImportError) as caught:
        import_claude_credentials(home=tmp_path, env={}, platform="darwin", run=FakeSecurity(51, ACCESS))
    assert "`security` exited with code 51" in str(caught.value)
    assert ACCESS not in str(caught.value)
