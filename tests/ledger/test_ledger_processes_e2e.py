"""The ledger under several proxy workers and under a kill -9 in the middle of a burst."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anthropic
import pytest

from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import Behaviour, FakeProvider
from ccproxy_desktop.testing.helpers import ledger_ids, ledger_integrity, wait_for_rows
from ccproxy_desktop.testing.proxy_runner import running_proxy

pytestmark = pytest.mark.proxy


def test_two_workers_writing_at_once_lose_nothing(provider: FakeProvider, tmp_path: Path) -> None:
    paths = write_fake_config(tmp_path / "cfg", provider.base_url, free_port())
    text = paths.ccproxy_yaml.read_text().replace("num_workers: 1", "num_workers: 2")
    paths.ccproxy_yaml.write_text(text)
    requests = 120
    with running_proxy(paths, timeout=120) as proxy:
        client = anthropic.Anthropic(base_url=proxy.url, api_key=proxy.key, max_retries=0)

        def one(index: int, fresh: bool = False) -> str:
            with anthropic.Anthropic(base_url=proxy.url, api_key=proxy.key, max_retries=0) as own:
                reply = (own if fresh else client).messages.with_raw_response.create(
                    model="claude-opus-4-8",
                    max_tokens=20,
                    messages=[{"role": "user", "content": f"request {index}"}],
                )
            return reply.headers["x-ccproxy-request-id"]

        def workers() -> set[str]:
            return set(re.findall(r"\[(\d+)\] INFO ccproxy_desktop.proxy.service: done", proxy.log_text()))

        # The proxy answers its health check as soon as one worker is up; the other may still be starting.
        # New connections from then on, until both have served one: none may be dropped meanwhile.
        call_ids: set[str] = set()
        deadline = time.monotonic() + 60
        while len(workers()) < 2 and time.monotonic() < deadline:
            call_ids.add(one(-1, fresh=True))
            time.sleep(0.05)
        assert len(workers()) == 2, "the second worker never served a request"
        with ThreadPoolExecutor(max_workers=16) as pool:
            call_ids |= set(pool.map(one, range(requests)))
        assert wait_for_rows(paths, len(call_ids)) == len(call_ids)
        assert ledger_ids(paths) == call_ids


def test_kill_9_during_a_burst_keeps_the_ledger_intact(provider: FakeProvider, tmp_path: Path) -> None:
    paths = write_fake_config(tmp_path / "cfg", provider.base_url, free_port())
    provider.scenario.set_default(Behaviour(chunk_delay_ms=5))
    completed: list[tuple[str, float]] = []
    stop = threading.Event()
    with running_proxy(paths) as proxy:
        client = anthropic.Anthropic(base_url=proxy.url, api_key=proxy.key, max_retries=0, timeout=10)

        def hammer() -> None:
            while not stop.is_set():
                try:
                    reply = client.messages.with_raw_response.create(
                        model="claude-opus-4-8",
                        max_tokens=20,
                        messages=[{"role": "user", "content": "burst"}],
                    )
                    reply.parse()
                except (anthropic.APIError, OSError):
                    continue
                completed.append((reply.headers["x-ccproxy-request-id"], time.time()))

        threads = [threading.Thread(target=hammer) for _ in range(6)]
        for thread in threads:
            thread.start()
        began = time.monotonic()
        deadline = began + 30
        # at least 150 requests, and for long enough that some completed well before the kill
        while (len(completed) < 150 or time.monotonic() - began < 3.0) and time.monotonic() < deadline:
            time.sleep(0.05)
        killed_at = time.time()
        os.killpg(proxy.state.pid, signal.SIGKILL)
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        assert len(completed) >= 150

        assert ledger_integrity(paths) == "ok"
        recorded = ledger_ids(paths)
        must_have = {call_id for call_id, done in completed if done < killed_at - 1.0}
        assert must_have, "the burst should have completed requests well before the kill"
        assert must_have <= recorded, (
            f"{len(must_have - recorded)} completed requests missing from the ledger"
        )

        restarted = proxy.control.start_detached()
        assert proxy.control.healthy(restarted.url)
