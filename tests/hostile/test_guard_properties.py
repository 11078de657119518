"""The Guard (the ASGI layer in front of the proxy's service) on hostile bytes, headers and peers, driven
in-process with a small ASGI app behind it: every request either reaches the app with a JSON object (parsed
once, in the request's exchange) or gets one well-formed Anthropic error; whatever the app answers (a
provider's own error included) reaches the client untouched."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ccproxy_desktop.config.loader import load_settings
from ccproxy_desktop.proxy.access import Access, access_environment, client_allowed
from ccproxy_desktop.proxy.exchange import exchange_of
from ccproxy_desktop.proxy.guard import Guard
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.strategies import json_values

KEY = "sk-proxy-test"
MAX_BODY = 64 * 1024
Message = dict[str, Any]


class EchoApp:
    """Answers 200 `{"seen": <the JSON body>}`, or `status` with `error_chunks` as the body, chunked."""

    def __init__(self, status: int = 200, error_chunks: list[bytes] | None = None) -> None:
        self.status = status
        self.error_chunks = error_chunks or []
        self.bodies: list[Any] = []

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.accept"})
            return
        parsed = exchange_of(scope).body
        if self.status >= 400:
            await send({"type": "http.response.start", "status": self.status, "headers": []})
            for index, chunk in enumerate(self.error_chunks):
                more = index < len(self.error_chunks) - 1
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
            if not self.error_chunks:
                await send({"type": "http.response.body", "body": b""})
            return
        self.bodies.append(parsed.data if parsed is not None else None)
        payload = json.dumps({"seen": True}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": payload})


def _scope(
    headers: list[tuple[bytes, bytes]] | None = None,
    client: tuple[str, int] | None = ("127.0.0.1", 50000),
    path: str = "/v1/messages",
    kind: str = "http",
) -> Message:
    base = [(b"host", b"127.0.0.1:4000"), (b"x-api-key", KEY.encode())]
    return {
        "type": kind,
        "method": "POST",
        "path": path,
        "headers": headers if headers is not None else base,
        "client": client,
    }


def _call(guard: Guard, scope: Message, chunks: list[bytes]) -> list[Message]:
    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)
    ]
    pending = pending or [{"type": "http.request", "body": b""}]
    sent: list[Message] = []

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(guard(scope, receive, send))
    return sent


def _response(sent: list[Message]) -> tuple[int, bytes, dict[bytes, bytes]]:
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, sent
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return starts[0]["status"], body, dict(starts[0]["headers"])


def _assert_anthropic_error(status: int, body: bytes, headers: dict[bytes, bytes]) -> dict[str, Any]:
    payload = json.loads(body)
    assert payload["type"] == "error"
    assert isinstance(payload["error"]["type"], str) and payload["error"]["type"]
    assert isinstance(payload["error"]["message"], str) and payload["error"]["message"]
    assert headers[b"content-type"] == b"application/json"
    assert int(headers[b"content-length"]) == len(body)
    return payload


def _guard(app: EchoApp, access: Access | None = None) -> Guard:
    access = access or Access()
    return Guard(
        app,
        keys=lambda: {KEY},
        allowed_origins=access.origins,
        allowed_hosts=access.hosts,
        allowed_clients=access.clients,
        max_body=MAX_BODY,
    )


@st.composite
def _chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=4)))
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


_bodies = (
    st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.text(max_size=200).map(str.encode)
    | st.sampled_from([10, 500, 990, 5000, 100_000]).map(lambda n: b"[" * n + b"]" * n)
)


@given(data=st.data(), body=_bodies)
@example(data=None, body=b"[" * 100_000)
@example(data=None, body=b'{"a":' * 50_000 + b"1" + b"}" * 50_000)
@example(data=None, body=b"\xff\xfe{}")
@example(data=None, body=b" " * (MAX_BODY + 1))
def test_any_body_reaches_the_app_as_an_object_or_gets_an_anthropic_4xx(
    data: st.DataObject | None, body: bytes
) -> None:
    chunks = data.draw(_chunked(body)) if data is not None else [body]
    app = EchoApp()
    status, raw, headers = _response(_call(_guard(app), _scope(), chunks))
    if status == 200:
        assert len(app.bodies) == 1 and isinstance(app.bodies[0], dict)
        assert app.bodies[0] == json.loads(body)
        return
    assert status in (400, 413) and not app.bodies
    payload = _assert_anthropic_error(status, raw, headers)
    assert payload["error"]["type"] == ("request_too_large" if status == 413 else "invalid_request_error")


@given(status=st.integers(400, 599), data=st.data(), body=_bodies)
def test_any_error_the_app_sends_reaches_the_client_untouched(
    status: int, data: st.DataObject | None, body: bytes
) -> None:
    chunks = data.draw(_chunked(body)) if data is not None else [body]
    app = EchoApp(status, chunks)
    got, raw, _ = _response(_call(_guard(app), _scope(), [b'{"model": "m"}']))
    assert got == status and raw == b"".join(chunks)


_header_names = st.sampled_from([b"origin", b"host", b"x-api-key", b"authorization", b"content-type", b"x-x"])
_header_values = st.binary(max_size=60) | st.sampled_from(
    [
        b"127.0.0.1:4000",
        b"localhost",
        b"[::1]:4000",
        b"evil.example",
        b"http://evil.example",
        b"null",
        KEY.encode(),
    ]
)


@given(
    headers=st.lists(st.tuples(_header_names, _header_values), max_size=6),
    client=st.none()
    | st.tuples(
        st.sampled_from(
            [
                "127.0.0.1",
                "127.8.9.1",
                "::1",
                "::ffff:127.0.0.1",
                "192.0.2.7",
                "10.0.0.1",
                "fe80::1%eth0",
                "x",
            ]
        ),
        st.integers(1, 65535),
    ),
    kind=st.sampled_from(["http", "websocket"]),
)
@example(  # a second Origin header used to go unchecked
    headers=[(b"host", b"localhost"), (b"origin", b""), (b"origin", b"http://evil.example")],
    client=("127.0.0.1", 1),
    kind="http",
)
def test_any_headers_and_peer_get_through_or_get_a_403(
    headers: list[tuple[bytes, bytes]], client: tuple[str, int] | None, kind: str
) -> None:
    app = EchoApp()
    sent = _call(_guard(app), _scope(headers, client, kind=kind), [b"{}"])
    browser = any(name == b"origin" and value for name, value in headers)
    peer_ok = client is None or client_allowed(client[0], Access().clients)
    if kind == "websocket":
        closed = [m for m in sent if m["type"] == "websocket.close"]
        assert closed and closed[0]["code"] == 1008  # the proxy serves no websockets
        return
    status, raw, response_headers = _response(sent)
    if status != 200:
        assert status in (400, 401, 403)
        _assert_anthropic_error(status, raw, response_headers)
    if not peer_ok or browser:
        assert status == 403


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("192.0.2.7", False),
        ("::ffff:192.0.2.7", False),
        ("fe80::1%eth0", False),
        ("testclient", False),
    ],
)
def test_only_loopback_peers_by_default(address: str, allowed: bool) -> None:
    status, raw, headers = _response(_call(_guard(EchoApp()), _scope(client=(address, 1234)), [b"{}"]))
    assert (status == 200) == allowed
    if not allowed:
        assert status == 403
        assert "litellm.allowed_clients" in _assert_anthropic_error(status, raw, headers)["error"]["message"]


@pytest.fixture
def configured_access(tmp_path: Any) -> Access:
    """The Access the proxy process builds from a ccproxy.yaml listing origins, hosts and client networks."""
    import yaml

    paths = write_fake_config(tmp_path, "http://127.0.0.1:9", free_port())
    settings = yaml.safe_load(paths.ccproxy_yaml.read_text())
    settings["litellm"].update(
        host="0.0.0.0",
        allowed_origins=["http://localhost:5173"],
        allowed_hosts=["ccproxy.lan"],
        allowed_clients=["192.0.2.0/24", "2001:db8::/32"],
    )
    paths.ccproxy_yaml.write_text(yaml.safe_dump(settings))
    return Access.from_environment(access_environment(load_settings(paths).server))


@pytest.mark.parametrize(
    ("client", "origin", "host", "status"),
    [
        ("192.0.2.7", None, "ccproxy.lan:4000", 200),
        ("2001:db8::5", None, "127.0.0.1:4000", 200),
        ("198.51.100.1", None, "ccproxy.lan", 403),
        ("127.0.0.1", "http://localhost:5173", "localhost:4000", 200),
        ("127.0.0.1", "http://evil.example", "localhost:4000", 403),
        ("127.0.0.1", None, "evil.example", 403),
    ],
)
def test_configured_origins_hosts_and_clients_are_let_in(
    configured_access: Access, client: str, origin: str | None, host: str, status: int
) -> None:
    headers = [(b"host", host.encode()), (b"x-api-key", KEY.encode())]
    if origin:
        headers.append((b"origin", origin.encode()))
    got, _, _ = _response(_call(_guard(EchoApp(), configured_access), _scope(headers, (client, 1)), [b"{}"]))
    assert got == status


@pytest.mark.parametrize(("client", "status"), [("192.0.2.2", 200), ("192.0.2.3", 403)])
def test_a_peer_with_the_servers_own_address_is_this_machine(client: str, status: int) -> None:
    scope = {**_scope(client=(client, 5555)), "server": ("192.0.2.2", 4000)}
    got, _, _ = _response(_call(_guard(EchoApp()), scope, [b"{}"]))
    assert got == status
