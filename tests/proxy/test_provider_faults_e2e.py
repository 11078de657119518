"""Provider faults through the real proxy: whatever the provider does (5xx, 429, timeouts, resets, hangs,
malformed or truncated streams), the client gets a well-formed Anthropic error in bounded time, the proxy
stays up, the ledger records the failure, and `status --health` turns degraded and back. (A provider that
ends a stream cleanly but early, without `message_stop`, is the retry work's case: not tested here.)

One attempt per request (`retry_enabled: false`, LiteLLM's `num_retries: 0`), so each fault is seen as is;
`request_timeout` is short so that a provider that never answers ends the request quickly.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.ledger.store import Ledger
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import Behaviour, FakeProvider
from ccproxy_desktop.testing.helpers import ledger_ids, run_ccproxy, wait_for
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy

pytestmark = pytest.mark.proxy

REQUEST_TIMEOUT_S = 4
ANSWERED_WITHIN_S = REQUEST_TIMEOUT_S + 20  # the timeout plus a slow, shared machine's margin
MODEL = "claude-sonnet-5"


@pytest.fixture(scope="module")
def paths(provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> ConfigPaths:
    return write_fake_config(
        tmp_path_factory.mktemp("faults"),
        provider.base_url,
        free_port(),
        ccproxy={"retry_enabled": False},
        litellm_extra={
            "litellm_settings": {"drop_params": True, "num_retries": 0, "request_timeout": REQUEST_TIMEOUT_S}
        },
    )


@pytest.fixture(scope="module")
def faulty(paths: ConfigPaths) -> Iterator[RunningProxy]:
    with running_proxy(paths) as running:
        yield running


def post(proxy: RunningProxy, stream: bool) -> tuple[httpx.Response, bytes, float]:
    """One /v1/messages request as Claude Code sends it; (response, whole body, seconds taken)."""
    body = {
        "model": MODEL,
        "max_tokens": 50,
        "stream": stream,
        "messages": [{"role": "user", "content": "hi"}],
    }
    headers = {"x-api-key": proxy.key, "anthropic-version": "2023-06-01"}
    started = time.monotonic()
    with httpx.stream(
        "POST", f"{proxy.url}/v1/messages", json=body, headers=headers, timeout=ANSWERED_WITHIN_S + 30
    ) as response:
        raw = response.read()
    return response, raw, time.monotonic() - started


def anthropic_error(response: httpx.Response, raw: bytes) -> dict[str, Any]:
    """The `error` object of an Anthropic error: a JSON error body, or the `error` event of a stream that had
    already started. Fails the test if the answer is neither."""
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/json")
        body = json.loads(raw)
    else:
        assert response.status_code == 200
        events = [e for e in raw.decode().split("\n\n") if e.strip()]
        assert events[-1].startswith("event: error\n"), f"the stream does not end with an error: {raw!r}"
        body = json.loads(events[-1].split("data: ", 1)[1])
    assert body["type"] == "error"
    error = body["error"]
    assert isinstance(error["type"], str) and error["type"]
    assert isinstance(error["message"], str) and error["message"]
    return dict(error)


def failures_since(paths: ConfigPaths, since: float) -> tuple[int, int]:
    with Ledger(paths.ledger_db) as ledger:
        health = ledger.health(since)
    return health.requests_total, health.requests_failed


FAULTS: list[tuple[str, Behaviour, int | None]] = [
    # (name, behaviour, the status the client gets; None: any error)
    ("500", Behaviour(kind="status", status=500), 500),
    ("503", Behaviour(kind="status", status=503), 503),
    ("529 overloaded", Behaviour(kind="status", status=529), None),
    ("429 rate limited", Behaviour(kind="status", status=429), 429),
    ("connection reset", Behaviour(kind="reset"), None),
    ("no answer", Behaviour(kind="timeout"), None),
    ("hangs after headers", Behaviour(kind="hang_after_headers"), None),
    ("malformed", Behaviour(kind="malformed_sse"), None),
]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(("name", "behaviour", "status"), FAULTS, ids=[f[0] for f in FAULTS])
def test_a_fault_gives_a_clean_error_and_a_ledger_row(
    faulty: RunningProxy,
    provider: FakeProvider,
    paths: ConfigPaths,
    name: str,
    behaviour: Behaviour,
    status: int | None,
    stream: bool,
) -> None:
    provider.scenario.set_default(behaviour)
    since = time.time()

    response, raw, seconds = post(faulty, stream)

    error = anthropic_error(response, raw)
    assert seconds < ANSWERED_WITHIN_S, f"{name}: answered after {seconds:.1f} s"
    if status is not None:
        assert response.status_code == status, error
    assert len(provider.requests) == 1  # one attempt: what the client sees is this fault's own error
    assert httpx.get(f"{faulty.url}/health/liveliness", timeout=10).status_code == 200
    wait_for(lambda: failures_since(paths, since) == (1, 1))


@pytest.mark.parametrize(
    ("stream", "chunk_delay_ms"),
    [(False, 0), (True, 0), (True, 200)],
    ids=["json", "stream cut before relaying", "stream cut while relaying"],
)
def test_a_truncated_answer_gives_a_clean_error(
    faulty: RunningProxy, provider: FakeProvider, paths: ConfigPaths, stream: bool, chunk_delay_ms: int
) -> None:
    # the provider closes the connection half-way through its answer (no final chunk): a read error
    provider.scenario.set_default(Behaviour(kind="cut_stream", chunk_delay_ms=chunk_delay_ms))
    since = time.time()

    response, raw, _ = post(faulty, stream)

    anthropic_error(response, raw)
    if chunk_delay_ms:  # the first events reached the client before the cut: the error is an event
        assert response.status_code == 200 and raw.startswith(b"event: message_start")
    wait_for(lambda: failures_since(paths, since) == (1, 1))


def test_a_slow_steady_stream_outlasts_the_request_timeout(
    faulty: RunningProxy, provider: FakeProvider, paths: ConfigPaths
) -> None:
    # request_timeout bounds each silence, not the whole answer: 40 events 150 ms apart take 6 s > 4 s
    provider.scenario.set_default(Behaviour(text="word " * 40, chunk_delay_ms=150))
    client = anthropic.Anthropic(base_url=faulty.url, api_key=faulty.key, max_retries=0, timeout=60)
    started = time.monotonic()
    with client.messages.stream(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        message = stream.get_final_message()
    assert time.monotonic() - started > REQUEST_TIMEOUT_S
    assert message.content[0].type == "text" and message.content[0].text.count("word") == 40


def test_the_sdk_sees_a_malformed_stream_as_an_api_error(
    faulty: RunningProxy, provider: FakeProvider
) -> None:
    provider.scenario.set_default(Behaviour(kind="malformed_sse"))
    client = anthropic.Anthropic(base_url=faulty.url, api_key=faulty.key, max_retries=0, timeout=60)
    with (
        pytest.raises(anthropic.APIStatusError) as raised,
        client.messages.stream(model=MODEL, max_tokens=20, messages=[{"role": "user", "content": "hi"}]) as s,
    ):
        s.get_final_message()
    assert "malformed event stream" in str(raised.value)


def health_state(paths: ConfigPaths) -> dict[str, Any]:
    result = run_ccproxy(paths, "status", "--health", "--json")
    assert result.returncode == 0, result.stderr
    health: dict[str, Any] = json.loads(result.stdout)["health"]
    return health


def test_health_turns_degraded_on_a_burst_of_errors_and_back(
    faulty: RunningProxy, provider: FakeProvider, paths: ConfigPaths
) -> None:
    client = anthropic.Anthropic(base_url=faulty.url, api_key=faulty.key, max_retries=0, timeout=60)

    def send() -> None:
        client.messages.create(model=MODEL, max_tokens=20, messages=[{"role": "user", "content": "hi"}])

    for _ in range(12):  # push earlier tests' failures out of the latest requests
        send()
    wait_for(lambda: health_state(paths)["state"] == "ok", timeout=30, interval=0.5)

    provider.scenario.push(Behaviour(kind="status", status=503), times=6)
    for _ in range(6):
        with pytest.raises(anthropic.InternalServerError):
            send()
    wait_for(lambda: health_state(paths)["state"] == "degraded", timeout=30, interval=0.5)
    degraded = health_state(paths)
    assert degraded["state_reason"].startswith("6 of the last 10 requests failed at the provider")
    assert degraded["recent"] == {"requests": 10, "provider_failures": 6, "window_seconds": 120.0}
    text = run_ccproxy(paths, "status", "--health").stdout
    assert "health: degraded: 6 of the last 10 requests failed at the provider" in text

    for _ in range(6):
        send()
    wait_for(lambda: health_state(paths)["state"] == "ok", timeout=30, interval=0.5)
    assert health_state(paths)["state_reason"] is None


def test_a_client_that_leaves_mid_stream_stops_the_upstream_stream(
    faulty: RunningProxy, provider: FakeProvider, paths: ConfigPaths
) -> None:
    # Claude Code's Esc: the client closes the connection; the proxy closes the provider's stream too
    provider.scenario.set_default(Behaviour(text="word " * 200, chunk_delay_ms=100))
    body = {
        "model": MODEL,
        "max_tokens": 500,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    headers = {"x-api-key": faulty.key, "anthropic-version": "2023-06-01"}
    started = time.monotonic()
    with httpx.stream(
        "POST", f"{faulty.url}/v1/messages", json=body, headers=headers, timeout=30
    ) as response:
        request_id = response.headers["x-ccproxy-request-id"]
        next(response.iter_raw())  # the first events arrived; now leave
    wait_for(lambda: request_id in ledger_ids(paths), timeout=15)
    with sqlite3.connect(paths.ledger_db) as db:
        (outcome,) = db.execute("select outcome from requests where request_id = ?", (request_id,)).fetchone()
    assert outcome == "error:ClientDisconnected"
    assert time.monotonic() - started < 10  # not the 20 s the whole answer would have taken
