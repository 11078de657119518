"""Cost of a response cache lookup on the request path, against parsing the request body.

Run: ``python bench/cache_lookup.py``. For Claude Code-shaped requests of growing size (a conversation of N
turns with tool results), measures per request:

* key: ``request_key`` (canonical sorted-key JSON without ``cache_control``, SHA-256), what the cache computes
  for every request when it is on;
* lookup: ``SqliteResponseStore.get`` of a present key in a ``cache.db`` of 1,000 entries (a hit; a miss is
  cheaper), the read the proxy makes in a worker thread;
* baseline: ``json.loads`` of the same request's wire JSON, which the proxy's guard and LiteLLM already do
  for every request.

Best of ``REPEATS`` runs (the machines are noisy; the same estimator for all three); the ratio is (key + lookup) / baseline.
"""

from __future__ import annotations

import functools
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ccproxy_desktop.cache.key import request_key
from ccproxy_desktop.cache.store import SqliteResponseStore

FIELDS = frozenset(
    {"messages", "system", "tools", "max_tokens", "temperature", "thinking", "stream", "metadata"}
)
REPEATS = 50
TOOL_RESULT = "line of a file that Claude Code read into the conversation\n" * 60


def conversation(turns: int) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    for i in range(turns):
        messages.append({"role": "user", "content": [{"type": "text", "text": f"step {i}: fix the test"}]})
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": f"t{i}", "name": "Read", "input": {"path": f"f{i}.py"}}
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": f"t{i}",
                        "content": TOOL_RESULT,
                        "cache_control": {"type": "ephemeral"},
                    }
                ],
            }
        )
    tools = [
        {"name": f"Tool{i}", "description": "a tool " * 40, "input_schema": {"type": "object"}}
        for i in range(15)
    ]
    return {
        "model": "default",
        "max_tokens": 32000,
        "stream": True,
        "system": "You are Claude Code. " * 200,
        "messages": messages,
        "tools": tools,
        "metadata": {"user_id": "session"},
    }


def best_us(work: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times) * 1e6


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteResponseStore(Path(folder) / "cache.db", 3600, 10_000, 10**9)
        for i in range(1000):
            store.put(f"default:{i:064x}", "default", "x" * 2000)
        print(
            f"{'turns':>6} {'body KB':>8} {'key µs':>8} {'lookup µs':>10} {'json.loads µs':>14} {'ratio':>6}"
        )
        for turns in (1, 10, 40, 100):
            request = conversation(turns)
            wire = json.dumps(request)
            key = request_key("default", request, FIELDS)
            store.put(key, "default", "y" * 2000)
            key_us = best_us(functools.partial(request_key, "default", request, FIELDS))
            lookup_us = best_us(functools.partial(store.get, key))
            base_us = best_us(functools.partial(json.loads, wire))
            ratio = (key_us + lookup_us) / base_us
            print(
                f"{turns:>6} {len(wire) / 1024:>8.0f} {key_us:>8.0f} {lookup_us:>10.0f} {base_us:>14.0f} {ratio:>6.2f}"
            )
        store.close()


if __name__ == "__main__":
    main()
