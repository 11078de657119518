"""Hot reload under load: editing both config files while requests flow fails none of them; valid edits
apply without a restart, an invalid one changes nothing and is reported as an event for the tray."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import anthropic
import pytest
import yaml

from ccproxy_desktop.ledger.store import Ledger
from ccproxy_desktop.testing.configs import free_port, model_entry, write_fake_config
from ccproxy_desktop.testing.fake_provider import FakeProvider
from ccproxy_desktop.testing.helpers import wait_for
from ccproxy_desktop.testing.proxy_runner import running_proxy

pytestmark = pytest.mark.proxy


def atomic_save(path: Path, data: Any) -> None:
    """Save like an editor: write a temp file, rename it over the target."""
    tmp = path.with_name(f".{path.name}.swp")
    tmp.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    os.replace(tmp, path)


def test_edits_under_load(provider: FakeProvider, tmp_path: Path) -> None:
    paths = write_fake_config(tmp_path / "cfg", provider.base_url, free_port())
    failures: list[str] = []
    served = 0
    stop = threading.Event()
    with running_proxy(paths) as proxy:
        client = anthropic.Anthropic(base_url=proxy.url, api_key=proxy.key, max_retries=0, timeout=30)

        def ask(model: str) -> str:
            reply = client.messages.create(
                model=model, max_tokens=20, messages=[{"role": "user", "content": "hi"}]
            )
            return reply.content[0].text  # type: ignore[union-attr]

        def load() -> None:
            nonlocal served
            while not stop.is_set():
                try:
                    ask("claude-haiku-4-5-20251001")
                    ask("claude-opus-4-8")
                    served += 2
                except anthropic.APIError as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=load) for _ in range(3)]
        for thread in threads:
            thread.start()
        try:
            # 1. config.yaml: a new model, and `background` now served by another provider model.
            models = yaml.safe_load(paths.litellm_yaml.read_text())
            models["model_list"] = [m for m in models["model_list"] if m["model_name"] != "background"]
            models["model_list"] += [
                model_entry("background", "claude-haiku-5-5", "anthropic", provider.base_url),
                model_entry("fresh", "claude-fresh-1", "anthropic", provider.base_url),
            ]
            atomic_save(paths.litellm_yaml, models)
            wait_for(lambda: "reply from claude-haiku-5-5" in ask("claude-haiku-4-5-20251001"))
            assert "reply from claude-fresh-1" in ask("fresh")

            # 2. an invalid ccproxy.yaml: nothing changes, an event says what is wrong.
            good = paths.ccproxy_yaml.read_text()
            atomic_save(paths.ccproxy_yaml, good.replace("rule: ThinkingRule", "rule: NoSuchRule"))
            wait_for(lambda: bool(_events(paths, "config_error")))
            error = _events(paths, "config_error")[0]
            assert "ccproxy.yaml:" in error["message"] and "NoSuchRule" in error["message"]
            assert "reply from claude-haiku-5-5" in ask("claude-haiku-4-5-20251001")

            # 3. valid again, with a new rule: it applies.
            rules = yaml.safe_load(good)
            rules["ccproxy"]["rules"].insert(
                0, {"name": "fresh", "rule": "MatchModelRule", "params": [{"model_name": "opus"}]}
            )
            atomic_save(paths.ccproxy_yaml, rules)
            wait_for(lambda: "reply from claude-fresh-1" in ask("claude-opus-4-8"))
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
        assert failures == []
        assert served > 20
        pid = proxy.control.state().pid  # type: ignore[union-attr]
        assert pid == proxy.state.pid  # never restarted


def _events(paths: Any, kind: str) -> list[dict[str, Any]]:
    with Ledger(paths.ledger_db) as ledger:
        return [dict(e.payload) for e in ledger.events(kinds=[kind])]
