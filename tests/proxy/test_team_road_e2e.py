"""The team road: a stock `litellm --config config.yaml` proxy with our handler as a callback.

Teams who run LiteLLM's own proxy load `ccproxy_desktop.proxy.handler.proxy_handler_instance` from
`litellm_settings.callbacks`, with `CCPROXY_CONFIG_DIR` naming a ccproxy config folder. One LiteLLM process
serves the whole module (it takes ~15 s to start); the real anthropic SDK talks to it, the fake provider
answers, and the ledger of the config folder is read from outside.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
import yaml

from ccproxy_desktop.config.compat import OUR_CALLBACK
from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.testing.configs import DEMO_MODELS, free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import FakeProvider
from ccproxy_desktop.testing.helpers import wait_for

pytestmark = pytest.mark.proxy

START_TIMEOUT_S = 180.0
MASTER_KEY = "sk-team-road-test-key"
# A model_name only the budget test uses, so its blocking budget refuses nothing the other tests send.
METERED = "metered"
MODELS = {**DEMO_MODELS, METERED: ("claude-sonnet-5", "anthropic")}
BUDGET = {"name": "tiny", "limit_usd": 0.000001, "block": True, "model": METERED}


@dataclass(frozen=True)
class TeamProxy:
    paths: ConfigPaths
    url: str
    log: Path

    def log_tail(self, lines: int = 60) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def _litellm_command() -> list[str]:
    """LiteLLM's own `litellm` console script, the one installed beside this interpreter."""
    script = Path(sysconfig.get_path("scripts")) / "litellm"
    found = str(script) if script.exists() else shutil.which("litellm")
    if found is None:
        pytest.fail("LiteLLM's `litellm` command is not installed (pip install 'litellm[proxy]')")
    return [found]


def _write_config(config_dir: Path, provider_url: str, port: int) -> ConfigPaths:
    """A ccproxy config folder (default rules and hooks, plus a blocking budget on `metered`) whose config.yaml
    is also LiteLLM's: the fake provider's models plus our callback, as a team would write it."""
    paths = write_fake_config(config_dir, provider_url, port, models=MODELS)
    settings = yaml.safe_load(paths.ccproxy_yaml.read_text())
    settings["ccproxy"]["budgets"] = [BUDGET]
    settings["ccproxy"]["pricing"] = {METERED: {"input": 3.0, "output": 15.0}}
    paths.ccproxy_yaml.write_text(yaml.safe_dump(settings, sort_keys=False))
    litellm = yaml.safe_load(paths.litellm_yaml.read_text())
    litellm.setdefault("litellm_settings", {})["callbacks"] = [OUR_CALLBACK]
    paths.litellm_yaml.write_text(yaml.safe_dump(litellm, sort_keys=False))
    return paths


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/liveliness", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the LiteLLM process this module started (and its own children: it runs in its own session)."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


@pytest.fixture(scope="module")
def team_proxy(provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamProxy]:
    base = tmp_path_factory.mktemp("team-road")
    port = free_port()
    paths = _write_config(base / "ccproxy", provider.base_url, port)
    log = base / "litellm.log"
    env = {
        **os.environ,
        "CCPROXY_CONFIG_DIR": str(paths.config_dir),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_MASTER_KEY": MASTER_KEY,
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        *_litellm_command(),
        "--config",
        str(paths.litellm_yaml),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=base,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = TeamProxy(paths, url, log)
    try:
        while not _healthy(url):
            if process.poll() is not None:
                pytest.fail(f"litellm exited with code {process.returncode}:\n{running.log_tail()}")
            if time.monotonic() - started > START_TIMEOUT_S:
                pytest.fail(f"litellm did not answer within {START_TIMEOUT_S:.0f} s:\n{running.log_tail()}")
            time.sleep(0.25)
        print(f"litellm answered after {time.monotonic() - started:.1f} s", file=sys.stderr)
        yield running
    finally:
        _stop(process)


@pytest.fixture
def client(team_proxy: TeamProxy) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=team_proxy.url, api_key=MASTER_KEY, max_retries=0, timeout=60)


def _ask(client: anthropic.Anthropic, stream: bool, **extra: Any) -> str:
    """Send one Messages request; return LiteLLM's call id, the id of the request's ledger row."""
    params: dict[str, Any] = {
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "hello there"}],
        **extra,
    }
    if stream:
        with client.messages.with_streaming_response.create(**params, stream=True) as response:
            body = response.read().decode()
            assert "message_stop" in body, body[-500:]
            call_id = response.headers.get("x-litellm-call-id")
    else:
        raw = client.messages.with_raw_response.create(**params)
        message = raw.parse()
        assert message.content and message.content[0].type == "text"
        call_id = raw.headers.get("x-litellm-call-id")
    assert call_id, "LiteLLM answered without x-litellm-call-id"
    return call_id


def _ledger_row(paths: ConfigPaths, request_id: str, timeout: float = 15.0) -> dict[str, Any]:
    """The ledger row of `request_id`, once the proxy's ledger writer has committed it."""
    deadline = time.monotonic() + timeout
    while True:
        if paths.ledger_db.exists():
            with sqlite3.connect(paths.ledger_db) as conn:
                conn.row_factory = sqlite3.Row
                row = conn.execute("SELECT * FROM requests WHERE request_id = ?", (request_id,)).fetchone()
            if row is not None:
                return dict(row)
        assert time.monotonic() < deadline, f"no ledger row for {request_id}"
        time.sleep(0.1)


ROUTED = [
    ("haiku -> background", {"model": "claude-haiku-4-5-20251001"}, "background"),
    (
        "thinking -> think",
        {"model": "claude-opus-4-8", "thinking": {"type": "enabled", "budget_tokens": 2048}},
        "think",
    ),
]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(("name", "extra", "rule"), ROUTED, ids=[case[0] for case in ROUTED])
def test_a_rule_routes_the_request_and_the_ledger_records_it(
    client: anthropic.Anthropic,
    provider: FakeProvider,
    team_proxy: TeamProxy,
    name: str,
    extra: dict[str, Any],
    rule: str,
    stream: bool,
) -> None:
    call_id = _ask(client, stream, **extra)
    assert provider.requests, "the request never reached the provider"
    assert provider.requests[-1].model == MODELS[rule][0], team_proxy.log_tail()
    row = _ledger_row(team_proxy.paths, call_id)
    assert row["label"] == rule
    assert row["routed_model"] == rule
    assert row["requested_model"] == extra["model"]
    assert row["provider_model"] == f"anthropic/{MODELS[rule][0]}"
    assert row["outcome"] == "ok"
    assert row["stream"] == int(stream)
    assert row["input_tokens"] > 0 and row["output_tokens"] > 0


def test_a_request_no_rule_matches_keeps_its_model(
    client: anthropic.Anthropic, provider: FakeProvider, team_proxy: TeamProxy
) -> None:
    call_id = _ask(client, False, model="claude-opus-4-8")
    assert provider.requests[-1].model == "claude-opus-4-8"
    row = _ledger_row(team_proxy.paths, call_id)
    assert (row["label"], row["routed_model"], row["outcome"]) == ("default", "claude-opus-4-8", "ok")


def test_a_blocking_budget_refuses_with_a_400_naming_it(
    client: anthropic.Anthropic, provider: FakeProvider, team_proxy: TeamProxy
) -> None:
    # The first request in the budget's scope finds nothing spent yet; its cost reaches the limit.
    call_id = _ask(client, False, model=METERED)
    first = _ledger_row(team_proxy.paths, call_id)
    assert first["outcome"] == "ok" and first["cost_usd"] > BUDGET["limit_usd"]

    refusals: list[anthropic.BadRequestError] = []

    def refused() -> bool:
        # The budget learns the spend right after the ledger commits the row: poll until it refuses.
        try:
            _ask(client, False, model=METERED)
        except anthropic.BadRequestError as exc:
            refusals.append(exc)
            return True
        return False

    wait_for(refused, timeout=10.0, interval=0.2)
    error = refusals[-1]
    assert error.status_code == 400
    assert isinstance(error.body, dict) and error.body["type"] == "error", error.body
    assert error.body["error"]["type"] == "invalid_request_error"
    assert "ccproxy budget 'tiny' reached" in error.body["error"]["message"]
    refusal = _ledger_row(team_proxy.paths, error.response.headers["x-litellm-call-id"])
    assert (refusal["label"], refusal["routed_model"], refusal["outcome"]) == ("default", METERED, "refused")
    assert refusal["cost_usd"] == 0
    # Refused before LiteLLM sends anything: a refused stream never reaches the provider either.
    sent = len(provider.requests)
    with pytest.raises(anthropic.BadRequestError, match="'tiny'"):
        _ask(client, True, model=METERED)
    assert len(provider.requests) == sent, "a refused request reached the provider"
    # Other models are outside the budget's scope.
    _ask(client, False, model="claude-opus-4-8")
    assert provider.requests[-1].model == "claude-opus-4-8"
