"""What the proxy process checks and writes before it serves: credentials, port, effective LiteLLM config."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest
import yaml

from ccproxy_desktop.config.compat import OUR_CALLBACK
from ccproxy_desktop.config.loader import install_defaults, load_settings
from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.proxy.effective import effective_litellm_config, write_effective_config
from ccproxy_desktop.proxy.server import credential_warnings, port_problem


@pytest.fixture
def paths(tmp_path: Path) -> ConfigPaths:
    paths = ConfigPaths(tmp_path / "cfg")
    install_defaults(paths)
    return paths


def test_missing_anthropic_key_is_a_warning_that_says_how_to_fix_it(
    paths: ConfigPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    warnings = credential_warnings(load_settings(paths))
    assert len(warnings) == 1
    assert "no credentials for anthropic" in warnings[0] and "ANTHROPIC_API_KEY" in warnings[0]


def test_no_warning_when_the_key_is_in_the_environment(
    paths: ConfigPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    assert credential_warnings(load_settings(paths)) == []


def test_a_taken_port_is_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert (
            port_problem("127.0.0.1", port)
            == f"port {port} on 127.0.0.1 is already in use by another program"
        )
    assert port_problem("127.0.0.1", port) is None


@pytest.mark.parametrize(
    "callbacks",
    [
        "ccproxy.handler",
        ["ccproxy.handler", "langfuse"],
        ["custom_callbacks.proxy_handler_instance"],
        ["ccproxy.handler:CCProxyHandler", "langfuse"],
        None,
    ],
)
def test_upstream_callbacks_are_replaced_by_ours(paths: ConfigPaths, callbacks: object) -> None:
    config = yaml.safe_load(paths.litellm_yaml.read_text())
    if callbacks is not None:
        config.setdefault("litellm_settings", {})["callbacks"] = callbacks
    paths.litellm_yaml.write_text(yaml.safe_dump(config))
    effective = effective_litellm_config(load_settings(paths))
    result = effective["litellm_settings"]["callbacks"]
    assert result[0] == OUR_CALLBACK
    assert not any(str(c).startswith(("ccproxy.", "custom_callbacks")) for c in result)
    assert ("langfuse" in result) == ("langfuse" in str(callbacks))


def test_effective_config_is_private(paths: ConfigPaths) -> None:
    write_effective_config(load_settings(paths))
    assert stat.S_IMODE(paths.effective_litellm_yaml.stat().st_mode) == 0o600
    for name in ("ccproxy.yaml", "config.yaml"):
        assert stat.S_IMODE((paths.config_dir / name).stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("section", "settings", "expected"),
    [
        (None, None, 0),  # our retry layer applies the retry_* keys; LiteLLM's own retries are off
        ("router_settings", {"num_retries": 4, "timeout": 30}, 4),
        ("litellm_settings", {"num_retries": 2}, None),  # the user's global setting stays in charge
    ],
)
def test_litellm_retries_are_off_unless_config_yaml_sets_them(
    paths: ConfigPaths, section: str | None, settings: dict[str, object] | None, expected: int | None
) -> None:
    config = yaml.safe_load(paths.litellm_yaml.read_text())
    if section is not None:
        config.setdefault(section, {}).update(settings or {})
    paths.litellm_yaml.write_text(yaml.safe_dump(config))
    effective = effective_litellm_config(load_settings(paths))
    assert effective.get("router_settings", {}).get("num_retries") == expected
