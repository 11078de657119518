"""`ccproxy demo`: the proxy routing to the built-in fake provider, so anyone can try it offline."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

import httpx

from ..config.paths import ConfigPaths
from ..proxy.control import ProxyControl, StartFailed
from ..proxy.keys import ensure_master_key
from ..testing.configs import write_fake_config
from ..testing.fake_provider import FakeProvider

__all__ = ["run_demo"]

SAMPLES: tuple[tuple[str, dict[str, object]], ...] = (
    ("a plain request (passthrough)", {"model": "claude-opus-4-8"}),
    ("a Haiku background request", {"model": "claude-haiku-4-5-20251001"}),
    (
        "extended thinking",
        {"model": "claude-opus-4-8", "thinking": {"type": "enabled", "budget_tokens": 2048}},
    ),
    (
        "a web search",
        {"model": "claude-opus-4-8", "tools": [{"type": "web_search_20250305", "name": "web_search"}]},
    ),
    ("a 70k-token context", {"model": "claude-opus-4-8", "system": "lorem ipsum dolor " * 24000}),
)


def _send(url: str, key: str, extra: dict[str, object]) -> str:
    body = {"max_tokens": 64, "messages": [{"role": "user", "content": "hello"}], **extra}
    response = httpx.post(f"{url}/v1/messages", json=body, headers={"x-api-key": key}, timeout=60)
    if response.status_code != 200:
        return f"error {response.status_code}: {response.text[:120]}"
    text = "".join(b.get("text", "") for b in response.json().get("content", []))
    return text


def run_demo(paths: ConfigPaths, args: argparse.Namespace) -> int:
    demo_paths = ConfigPaths(paths.config_dir / "demo")
    with FakeProvider() as provider:
        write_fake_config(demo_paths.config_dir, provider.base_url, args.port)
        key = ensure_master_key(demo_paths)
        control = ProxyControl(demo_paths)
        control.stop()
        print(
            f"fake provider on {provider.base_url}; starting the proxy (config: {demo_paths.config_dir}) ..."
        )
        try:
            state = control.start_detached()
        except StartFailed as exc:
            print(f"ccproxy: could not start the demo proxy: {exc}", file=sys.stderr)
            return 1
        try:
            print(f"proxy running at {state.url}\n")
            for description, extra in SAMPLES:
                print(f"  {description:32} -> {_send(state.url, key, extra)}")
            print(
                f"\nTry it: ccproxy --config-dir {demo_paths.config_dir} run claude -p 'hello'\n"
                f"        (config files in {demo_paths.config_dir}; Ctrl-C stops the demo)"
            )
            if not args.no_wait:
                signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
                threading.Event().wait()
        finally:
            control.stop()
    return 0
