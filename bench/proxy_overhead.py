"""Time to first byte through our proxy (LiteLLM + our guard and handler) against a bare LiteLLM proxy.

Both serve the same model list against the same fake provider (a separate process), with the same uvicorn
settings; requests alternate between the two so machine noise hits both alike. The request is a real
Claude Code main turn (tests/fixtures/claude_code/main_streaming.json, ~25 tools), streamed.

    python bench/proxy_overhead.py [--requests 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider.process import fake_provider_process
from ccproxy_desktop.testing.proxy_runner import running_proxy

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "claude_code" / "main_streaming.json"


def start_bare_litellm(paths: ConfigPaths, key: str) -> tuple[subprocess.Popen[bytes], str]:
    """LiteLLM's own app under uvicorn with the same model list and no ccproxy callback or guard."""
    config = yaml.safe_load(paths.litellm_yaml.read_text())
    bare = paths.config_dir / "bare.yaml"
    bare.write_text(yaml.safe_dump(config))
    port = free_port()
    env = {
        **os.environ,
        "CONFIG_FILE_PATH": str(bare),
        "LITELLM_MASTER_KEY": key,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "WARNING",
    }
    code = f"import uvicorn; uvicorn.run('litellm.proxy.proxy_server:app', host='127.0.0.1', port={port}, log_level='warning', access_log=False)"
    process = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health/liveliness", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError("bare LiteLLM did not start")


def ttfb(
    client: httpx.Client, url: str, key: str, body: dict[str, object], headers: dict[str, str]
) -> tuple[float, float]:
    start = time.perf_counter()
    with client.stream(
        "POST", f"{url}/v1/messages", json=body, headers={**headers, "x-api-key": key}
    ) as response:
        first = None
        for _ in response.iter_bytes():
            if first is None:
                first = time.perf_counter()
        assert response.status_code == 200, response.read()
    end = time.perf_counter()
    return ((first or end) - start) * 1000, (end - start) * 1000


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    fixture = json.loads(FIXTURE.read_text())
    body = fixture["body"]
    headers = {
        k: v
        for k, v in fixture["headers"].items()
        if k.lower()
        in {"anthropic-version", "anthropic-beta", "content-type", "user-agent", "x-claude-code-session-id"}
    }
    with fake_provider_process() as provider, tempfile.TemporaryDirectory() as tmp:
        paths = write_fake_config(Path(tmp), provider.base_url, free_port())
        with running_proxy(paths) as ours:
            bare, bare_url = start_bare_litellm(paths, ours.key)
            try:
                results: dict[str, list[tuple[float, float]]] = {"bare": [], "ours": []}
                with httpx.Client(timeout=60) as client:
                    for _ in range(10):  # warm-up: imports, connection pools, token cache
                        ttfb(client, bare_url, ours.key, body, headers)
                        ttfb(client, ours.url, ours.key, body, headers)
                    for i in range(args.requests):
                        order = (
                            (("bare", bare_url), ("ours", ours.url))
                            if i % 2
                            else (("ours", ours.url), ("bare", bare_url))
                        )
                        for name, url in order:
                            results[name].append(ttfb(client, url, ours.key, body, headers))
            finally:
                bare.terminate()
                bare.wait(10)
    print(f"{args.requests} streamed Claude Code main turns each, alternating; times in ms")
    print(f"{'':6} {'ttfb p50':>9} {'ttfb p95':>9} {'total p50':>10}")
    summary = {}
    for name, rows in results.items():
        first = [r[0] for r in rows]
        total = [r[1] for r in rows]
        summary[name] = statistics.median(first)
        print(
            f"{name:6} {statistics.median(first):9.2f} {pct(first, 0.95):9.2f} {statistics.median(total):10.2f}"
        )
    ratio = summary["ours"] / summary["bare"]
    print(
        f"ours / bare (ttfb p50): {ratio:.3f}  -> our handler adds {100 * (ratio - 1):+.1f}% (target: at most +10%)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
