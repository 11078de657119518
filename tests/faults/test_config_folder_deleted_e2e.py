"""The config folder is deleted while the proxy runs (`rm -rf ~/.ccproxy`), then written again.

The proxy must keep serving with the config it has; put back what the CLI and the tray need to find it (its
state file, the key file, a log one can open) and say what happened there; keep recording requests (into a new
ledger: the old one went with the folder); and load the config written into the folder later, as any edit.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import anthropic
import pytest

from ccproxy_desktop.proxy.keys import read_master_key
from ccproxy_desktop.testing.configs import DEMO_MODELS, free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import FakeProvider
from ccproxy_desktop.testing.helpers import ledger_integrity, run_ccproxy, wait_for, wait_for_rows
from ccproxy_desktop.testing.proxy_runner import running_proxy

pytestmark = pytest.mark.proxy


def answers(client: anthropic.Anthropic, model: str) -> bool:
    try:
        client.messages.create(model=model, max_tokens=16, messages=[{"role": "user", "content": "hi"}])
    except anthropic.APIStatusError:
        return False
    return True


def test_a_deleted_config_folder_keeps_the_proxy_serving_and_is_picked_up_again(
    provider: FakeProvider, tmp_path: Path
) -> None:
    port = free_port()
    paths = write_fake_config(tmp_path / "cfg", provider.base_url, port)
    with running_proxy(paths) as proxy:
        client = anthropic.Anthropic(base_url=proxy.url, api_key=proxy.key, max_retries=0, timeout=30)
        assert answers(client, "claude-opus-4-8")
        assert wait_for_rows(paths, 1) == 1

        shutil.rmtree(paths.config_dir)
        assert answers(client, "claude-opus-4-8")  # the config in memory keeps serving
        wait_for(lambda: paths.state_file.exists(), timeout=15)
        status = json.loads(run_ccproxy(paths, "status", "--json").stdout)
        assert status["running"] and status["pid"] == proxy.state.pid  # the CLI still finds it
        assert read_master_key(paths) == proxy.key  # `ccproxy run` still hands out the key it accepts
        wait_for(lambda: "was deleted while the proxy runs" in proxy.log_text(), timeout=15)

        assert answers(client, "claude-opus-4-8")
        assert wait_for_rows(paths, 2, timeout=30) >= 2  # a new ledger, with the requests made since
        assert not answers(client, "fresh")  # not a model of the config it serves

        models = {**DEMO_MODELS, "fresh": ("claude-fresh-1", "anthropic")}
        write_fake_config(paths.config_dir, provider.base_url, port, models=models)  # as `ccproxy install`
        wait_for(lambda: answers(client, "fresh"), timeout=30)  # loaded like any edit
        assert "config reloaded (model list updated)" in proxy.log_text()
        assert ledger_integrity(paths) == "ok"

        stopped = run_ccproxy(paths, "stop")
        assert stopped.returncode == 0
        assert f"stopped the proxy (pid {proxy.state.pid})" in stopped.stdout
