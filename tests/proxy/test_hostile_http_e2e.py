"""Hostile HTTP against the real proxy: broken and malicious requests get a 4xx (an Anthropic error body
whenever the request got as far as HTTP), browsers, foreign Host names and non-loopback peers are refused,
and afterwards the same proxy process still serves the anthropic SDK.

One proxy for the module, listening on 0.0.0.0 (so a non-loopback peer can reach it) with one browser
origin and one extra Host name allowed: both the refusals and the "unless configured otherwise" paths.
"""

from __future__ import annotations

import json
import os
import re
import select
import socket
import time
from collections.abc import Iterable, Iterator

import anthropic
import httpx
import pytest
import yaml

from ccproxy_desktop.proxy.guard import MAX_BODY_BYTES, MAX_JSON_DEPTH
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import FakeProvider
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy

pytestmark = pytest.mark.proxy

ALLOWED_ORIGIN = "http://localhost:5173"
ALLOWED_HOST = "ccproxy.test"
OK = {"model": "claude-opus-4-8", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
MB = 1024 * 1024


def _body(**fields: object) -> bytes:
    return json.dumps({**OK, **fields}).encode()


def _nested(depth: int, leaf: str = '"x"') -> str:
    return "[" * depth + leaf + "]" * depth


@pytest.fixture(scope="module")
def hostile_proxy(provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    paths = write_fake_config(tmp_path_factory.mktemp("hostile"), provider.base_url, free_port())
    settings = yaml.safe_load(paths.ccproxy_yaml.read_text())
    settings["litellm"].update(host="0.0.0.0", allowed_origins=[ALLOWED_ORIGIN], allowed_hosts=[ALLOWED_HOST])
    paths.ccproxy_yaml.write_text(yaml.safe_dump(settings, sort_keys=False))
    with running_proxy(paths) as running:
        yield running


@pytest.fixture(scope="module")
def port(hostile_proxy: RunningProxy) -> int:
    return int(hostile_proxy.url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def _post(
    url: str, key: str, body: bytes, headers: dict[str, str] | None = None, path: str = "/v1/messages"
) -> httpx.Response:
    sent = {"content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": key}
    return httpx.post(f"{url}{path}", content=body, headers={**sent, **(headers or {})}, timeout=120)


def _assert_anthropic_error(response: httpx.Response, status: int | tuple[int, ...]) -> str:
    expected = status if isinstance(status, tuple) else (status,)
    assert response.status_code in expected, response.text[:300]
    assert response.headers["content-type"].startswith("application/json")
    payload = response.json()
    assert payload["type"] == "error" and set(payload["error"]) == {"type", "message"}
    assert isinstance(payload["error"]["type"], str) and payload["error"]["message"]
    return str(payload["error"]["message"])


BAD_BODIES: list[tuple[str, bytes, str]] = [
    ("invalid json", b'{"model": "claude-opus-4-8", ', "not valid JSON"),
    ("json array", b"[1, 2]", "must be a JSON object"),
    ("json string", b'"hello"', "must be a JSON object"),
    ("json number", b"42", "must be a JSON object"),
    ("json null", b"null", "must be a JSON object"),
    ("empty body", b"", "not valid JSON"),
    ("binary garbage", bytes(range(256)) * 4, "not valid JSON"),
    ("utf-16 body", json.dumps(OK).encode("utf-16"), "not valid JSON"),
    ("utf-8 BOM", b"\xef\xbb\xbf" + json.dumps(OK).encode(), "not valid JSON"),
    ("NaN", _body(temperature=float("nan")), "NaN is not valid JSON"),
    ("max_tokens string", _body(max_tokens="x"), "max_tokens"),
    ("max_tokens float", _body(max_tokens=1.5), "max_tokens"),
    ("max_tokens zero", _body(max_tokens=0), "max_tokens"),
    ("max_tokens bool", _body(max_tokens=True), "max_tokens"),
    ("messages a dict", _body(messages={"role": "user", "content": "hi"}), "messages"),
    ("message a string", _body(messages=["hi"]), "messages.0"),
    ("content a number", _body(messages=[{"role": "user", "content": 5}]), "messages.0.content"),
    ("content numbers", _body(messages=[{"role": "user", "content": [1, 2]}]), "messages.0.content"),
    ("role missing", _body(messages=[{"content": "hi"}]), "messages.0.role"),
    ("model a list", _body(model=["claude-opus-4-8"]), "model"),
    ("system a number", _body(system=5), "system"),
    ("tools an object", _body(tools={"name": "x"}), "tools"),
    ("tool a number", _body(tools=[1]), "tools.0"),
    ("thinking a list", _body(thinking=[1]), "thinking"),
    ("thinking budget a string", _body(thinking={"type": "enabled", "budget_tokens": "x"}), "budget_tokens"),
    ("metadata a string", _body(metadata="x"), "metadata"),
    ("metadata user_id a number", _body(metadata={"user_id": 5}), "metadata.user_id"),
    ("stream a string", _body(stream="yes"), "stream"),
    ("missing model", json.dumps({"max_tokens": 5, "messages": []}).encode(), "model"),
    ("missing messages", json.dumps({"model": "claude-opus-4-8", "max_tokens": 5}).encode(), "messages"),
    ("missing max_tokens", json.dumps({"model": "claude-opus-4-8", "messages": []}).encode(), "max_tokens"),
    (
        "misspelt key",
        json.dumps({"model": "claude-opus-4-8", "max_tokens": 5, "mesages": []}).encode(),
        "messages",
    ),
    ("nested 100k levels", _nested(100_000).encode(), "nested too deeply"),
    ("nested 5000 levels inside", f'{{"metadata": {{"x": {_nested(5000)}}}}}'.encode(), "nested too deeply"),
    (
        "nested 900 levels inside",
        _body()[:-1] + f', "metadata": {{"x": {_nested(900)}}}}}'.encode(),
        "nested",
    ),
    (
        "nested just over the limit",
        _body()[:-1] + f', "metadata": {{"x": {_nested(MAX_JSON_DEPTH)}}}}}'.encode(),
        f"deeper than {MAX_JSON_DEPTH}",
    ),
]


@pytest.mark.parametrize(("name", "body", "message"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_bodies_get_an_anthropic_400(
    hostile_proxy: RunningProxy, provider: FakeProvider, url: str, name: str, body: bytes, message: str
) -> None:
    response = _post(url, hostile_proxy.key, body)
    assert message in _assert_anthropic_error(response, 400)
    assert provider.requests == []


def test_nesting_at_the_limit_is_served(
    hostile_proxy: RunningProxy, provider: FakeProvider, url: str
) -> None:
    """The depth limit leaves room: a body nested exactly MAX_JSON_DEPTH levels reaches the provider."""
    depth_inside = MAX_JSON_DEPTH - 2  # below the body object and metadata
    body = _body()[:-1] + f', "metadata": {{"user_id": "u", "x": {_nested(depth_inside)}}}}}'.encode()
    response = _post(url, hostile_proxy.key, body)
    assert response.status_code == 200, response.text[:300]
    assert len(provider.requests) == 1


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("text/plain", 200),
        ("", 200),
        ("application/x-www-form-urlencoded", 400),
        ("multipart/form-data; boundary=x", 400),
    ],
)
def test_wrong_content_type_is_read_as_json_or_refused(
    hostile_proxy: RunningProxy, url: str, content_type: str, status: int
) -> None:
    response = _post(url, hostile_proxy.key, _body(), {"content-type": content_type})
    if status == 200:
        assert response.status_code == 200 and response.json()["type"] == "message"
    else:
        _assert_anthropic_error(response, status)


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses", "/v1/messages/count_tokens"])
@pytest.mark.parametrize(
    "body", [b"{bad", _nested(100_000).encode(), bytes(range(256))], ids=["invalid", "deep", "binary"]
)
def test_other_model_routes_refuse_bad_bodies_with_4xx(
    hostile_proxy: RunningProxy, url: str, path: str, body: bytes
) -> None:
    response = _post(url, hostile_proxy.key, body, path=path)
    assert 400 <= response.status_code < 500, response.text[:300]
    assert response.json()["error"]["message"]


def test_20_mb_bodies_are_refused_with_400(
    hostile_proxy: RunningProxy, provider: FakeProvider, url: str
) -> None:
    garbage = os.urandom(20 * MB)
    _assert_anthropic_error(_post(url, hostile_proxy.key, garbage), 400)
    wrong_type = _body(max_tokens="x", messages=[{"role": "user", "content": "x" * (20 * MB)}])
    assert "max_tokens" in _assert_anthropic_error(_post(url, hostile_proxy.key, wrong_type), 400)
    assert provider.requests == []


def _raw_exchange(port: int, head: bytes, body_chunks: Iterable[bytes] = ()) -> bytes:
    """Send `head` and then `body_chunks` on one connection, stopping early once the server answers or hangs
    up; half-close and return everything the server answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head)
        try:
            for chunk in body_chunks:
                if select.select([sock], [], [], 0)[0]:
                    break  # an early answer (e.g. 413): read it before the server's close resets the line
                sock.sendall(chunk)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        received = b""
        try:
            while data := sock.recv(65536):
                received += data
        except ConnectionResetError:
            pass
        return received


def _head(key: str, extra: str, path: str = "/v1/messages") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: {key}\r\n"
        f"anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n{extra}\r\n"
    ).encode()


def _status_and_body(raw: bytes) -> tuple[int, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_a_declared_body_over_the_limit_is_refused_before_it_is_sent(
    hostile_proxy: RunningProxy, port: int
) -> None:
    raw = _raw_exchange(port, _head(hostile_proxy.key, f"content-length: {MAX_BODY_BYTES + 1}\r\n"))
    status, body = _status_and_body(raw)
    assert status == 413
    assert json.loads(body)["error"]["type"] == "request_too_large"


def test_a_chunked_body_over_the_limit_is_cut_off_with_413(hostile_proxy: RunningProxy, port: int) -> None:
    chunk = b"x" * MB

    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_BODY_BYTES // MB + 8):
            yield b"%x\r\n%s\r\n" % (len(chunk), chunk)
        yield b"0\r\n\r\n"

    status, body = _status_and_body(
        _raw_exchange(port, _head(hostile_proxy.key, "transfer-encoding: chunked\r\n"), chunks())
    )
    assert status == 413
    assert json.loads(body)["error"]["type"] == "request_too_large"


def test_broken_http_framing_gets_4xx_or_a_closed_connection(
    hostile_proxy: RunningProxy, port: int, url: str
) -> None:
    key = hostile_proxy.key
    body = _body()
    # Content-Length larger than what is sent: the client gives up; nothing to answer, nothing may break.
    truncated = _raw_exchange(port, _head(key, f"content-length: {len(body) + 100}\r\n"), [body])
    assert truncated == b"" or 400 <= _status_and_body(truncated)[0] < 500
    # Content-Length smaller than the body: the request is the truncated JSON, the rest is garbage after it.
    # Either we answer the truncated JSON first (an Anthropic 400), or uvicorn's parser, seeing the garbage in
    # the same read, answers its own plain-text 400 and closes: a 400 either way.
    short = _raw_exchange(port, _head(key, f"content-length: {len(body) // 2}\r\n"), [body])
    status, answer = _status_and_body(short)
    assert status == 400
    first = answer.split(b"HTTP/1.1")[0]
    assert first == b"Invalid HTTP request received." or json.loads(first)["type"] == "error"
    # A chunked body with a chunk size that isn't hex, and a request line that isn't HTTP.
    for head, chunks in [
        (_head(key, "transfer-encoding: chunked\r\n"), [b"zz\r\nabc\r\n0\r\n\r\n"]),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64) + b"\r\n\r\n", []),
        (b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: \xff\xfe\r\n\r\n", []),
    ]:
        raw = _raw_exchange(port, head, chunks)
        assert raw == b"" or 400 <= _status_and_body(raw)[0] < 500
    assert hostile_proxy.control.healthy(url)


def test_a_slow_partial_body_does_not_hold_up_other_requests(
    hostile_proxy: RunningProxy, url: str, port: int
) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as slow:
        slow.sendall(_head(hostile_proxy.key, "content-length: 100000\r\n") + b'{"model": "claude-')
        client = anthropic.Anthropic(base_url=url, api_key=hostile_proxy.key, max_retries=0, timeout=60)
        started = time.monotonic()
        message = client.messages.create(**OK)
        assert message.type == "message"
        assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    ("headers", "path"),
    [
        ({"origin": "http://evil.example"}, "/v1/messages"),
        ({"origin": "null"}, "/v1/messages"),
        ({"origin": "http://evil.example"}, "/health/liveliness"),
        ({"host": "evil.example"}, "/v1/messages"),
        ({"host": "evil.example:4000"}, "/health/liveliness"),
    ],
    ids=["origin", "null-origin", "origin-health", "host", "host-health"],
)
def test_browsers_and_foreign_host_names_are_refused(
    hostile_proxy: RunningProxy, provider: FakeProvider, url: str, headers: dict[str, str], path: str
) -> None:
    """A web page can't reach the proxy, even through DNS rebinding (a foreign Host name)."""
    if path.startswith("/health"):
        response = httpx.get(f"{url}{path}", headers=headers, timeout=30)
    else:
        response = _post(url, hostile_proxy.key, _body(), headers)
    message = _assert_anthropic_error(response, 403)
    assert "allowed_origins" in message or "allowed_hosts" in message
    assert provider.requests == []


def test_the_configured_origin_and_host_are_let_in(hostile_proxy: RunningProxy, url: str, port: int) -> None:
    for headers in (
        {"origin": ALLOWED_ORIGIN},
        {"host": f"{ALLOWED_HOST}:{port}"},
        {"host": f"0.0.0.0:{port}"},
    ):
        client = anthropic.Anthropic(
            base_url=url, api_key=hostile_proxy.key, max_retries=0, timeout=60, default_headers=headers
        )
        assert client.messages.create(**OK).type == "message"


def _non_loopback_address() -> str | None:
    """An address of this machine that isn't loopback (the one a default route would use), if any."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_a_non_loopback_peer_is_refused(
    hostile_proxy: RunningProxy, provider: FakeProvider, port: int
) -> None:
    """A peer with a non-loopback address is refused: the client socket is bound to this machine's network
    address and connects to 127.0.0.1, so the proxy sees a peer that is neither loopback nor its own end."""
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(transport=transport, timeout=60) as foreign:
        response = foreign.post(
            f"http://127.0.0.1:{port}/v1/messages",
            content=_body(),
            headers={"x-api-key": hostile_proxy.key, "content-type": "application/json"},
        )
    message = _assert_anthropic_error(response, 403)
    assert f"client address {address} is not allowed" in message and "allowed_clients" in message
    assert provider.requests == []


def test_this_machine_on_its_network_address_is_served(hostile_proxy: RunningProxy, port: int) -> None:
    """Connecting to the proxy on the machine's own network address (the peer is that same address) is local."""
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    response = _post(f"http://{address}:{port}", hostile_proxy.key, _body(), {"host": ALLOWED_HOST})
    assert response.status_code == 200, response.text[:300]


def test_the_proxy_is_still_up_and_serving_after_all_of_it(hostile_proxy: RunningProxy, url: str) -> None:
    """Runs last in this module: the same process answers the anthropic SDK, JSON and streaming."""
    state = hostile_proxy.control.state()
    assert state is not None and state.pid == hostile_proxy.state.pid
    os.kill(state.pid, 0)
    client = anthropic.Anthropic(base_url=url, api_key=hostile_proxy.key, max_retries=0, timeout=60)
    assert "reply from" in client.messages.create(**OK).content[0].text
    with client.messages.stream(**OK) as events:
        assert "reply from" in "".join(events.text_stream)
    log = hostile_proxy.log_text()
    assert "Exception in ASGI application" not in log  # nothing escaped to uvicorn
    assert not re.search(r"(hook|rule) \S+ failed", log)  # nor into our pipeline's error funnel
