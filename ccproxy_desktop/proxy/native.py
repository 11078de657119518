"""The native path: a byte pipe to a deployment that speaks Anthropic Messages.

The provider gets the client's body with only `model` replaced (`rawjson.replace_model`; re-serialised
only when a hook changed `system`), the client's query string, and the client's headers in their order,
except hop-by-hop ones, `host`/`content-length` (recomputed), our own `x-ccproxy-key`, and the credential
headers we replace; `accept-encoding` keeps only what the proxy can decode to read the answer's usage (gzip,
deflate). The answer comes back as an `Upstream`: its status, headers and raw bytes (never decompressed),
which the server relays unchanged.

The HTTP client is aiohttp's (one pooled session per process, created on the event loop): under 20 streaming
clients httpx's connection pool spent most of the proxy's time scanning its idle connections
(docs/architecture.md, "The native path's HTTP client").
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterable, Mapping

import aiohttp

from ..pipeline.context import RequestContext
from .deployments import Deployment
from .exchange import Exchange
from .rawjson import replace_model
from .stream_watch import DECODABLE_ENCODINGS

__all__ = [
    "HOP_BY_HOP",
    "NativeForwarder",
    "Upstream",
    "UpstreamError",
    "UpstreamTimeout",
    "relayed_response_headers",
    "upstream_headers",
]


class UpstreamError(Exception):
    """The provider could not be reached, or the connection broke (the message says how)."""


class UpstreamTimeout(UpstreamError):
    """The provider stayed silent longer than the deployment's timeout."""


def _upstream_error(exc: BaseException) -> UpstreamError:
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return UpstreamTimeout(f"{type(exc).__name__}: {exc}")
    return UpstreamError(f"{type(exc).__name__}: {exc}")


class Upstream:
    """The provider's answer, its body still to read: `status`, `raw_headers` (as sent), `header(name)`."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.raw_headers: list[tuple[bytes, bytes]] = list(response.raw_headers)

    def header(self, name: str) -> str | None:
        value = self._response.headers.get(name)
        return None if value is None else str(value)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's raw bytes as they arrive; raises UpstreamError/UpstreamTimeout."""
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _upstream_error(exc) from exc

    async def read(self, limit: int | None = None) -> bytes:
        """The whole body (at most about `limit` bytes); raises UpstreamError/UpstreamTimeout."""
        parts: list[bytes] = []
        size = 0
        async for chunk in self.chunks():
            parts.append(chunk)
            size += len(chunk)
            if limit is not None and size > limit:
                break
        return b"".join(parts)

    def close(self) -> None:
        """Give the connection back to the pool when the body was read to its end, else drop it."""
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
_RECOMPUTED = frozenset({b"host", b"content-length"})
_OURS = frozenset({b"x-ccproxy-key", b"x-ccproxy-project"})
_CREDENTIALS = (b"x-api-key", b"authorization")


def _secret(name: bytes, value: bytes) -> str:
    text = value.decode("latin-1")
    return text[7:].strip() if name == b"authorization" and text.lower().startswith("bearer ") else text


def _beta_items(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def upstream_headers(
    client: Iterable[tuple[bytes, bytes]],
    ctx: RequestContext,
    deployment: Deployment,
    is_proxy_key: Callable[[str], bool],
) -> tuple[list[tuple[bytes, bytes]], str | None]:
    """The headers to send the provider, and the credential the proxy put in them (None: the client's own
    went through, or none).

    Credentials, in order: one a hook decided (`forward_oauth`, `forward_apikey`); else, for a deployment on
    Anthropic's own API (`takes_client_credentials`), the client's own credential (a Claude Code login's
    `Authorization: Bearer`, or its own API key) passed through untouched; else the deployment's key. A key
    the proxy puts in goes as `x-api-key`, or as `Authorization: Bearer` for a deployment whose
    `auth_header` is `bearer` (config.yaml's `model_info.ccproxy_auth_header`). A client credential that is
    one of the proxy's keys never leaves, and a client's own credential never goes to any other provider:
    the client's `x-api-key` and `Authorization` are dropped whenever they are not passed through."""
    decided: Mapping[str, str] = ctx.upstream_headers
    overrides = {k.lower().encode("latin-1"): v for k, v in {**deployment.extra_headers, **decided}.items()}
    client = list(client)
    own = {  # the client's own credentials (each checked once: a user key costs a SHA-256)
        index
        for index, (key, value) in enumerate(client)
        if key.lower() in _CREDENTIALS and not is_proxy_key(_secret(key.lower(), value))
    }
    passing = bool(own) and deployment.takes_client_credentials and not ctx.upstream_api_key
    injected = ctx.upstream_api_key or (None if "authorization" in decided or passing else deployment.api_key)
    out: list[tuple[bytes, bytes]] = []
    for index, (key, value) in enumerate(client):
        name = key.lower()
        if name in HOP_BY_HOP or name in _RECOMPUTED or name in _OURS:
            continue
        if name in _CREDENTIALS and (not passing or index not in own or name in overrides):
            continue
        if name == b"accept-encoding":
            value = _decodable(value)  # the proxy reads a copy of the answer (usage): encodings it can decode
        if name == b"anthropic-beta" and name in overrides:
            if _beta_items(value.decode("latin-1")) == _beta_items(overrides[name]):
                del overrides[name]  # the same values: keep the client's bytes
            else:
                continue
        elif name in overrides:
            continue
        out.append((key, value))
    for name, text in overrides.items():
        out.append((name, text.encode("latin-1")))
    credential = None
    if "authorization" in decided:
        credential = (
            decided["authorization"][7:].strip()
            if decided["authorization"].lower().startswith("bearer ")
            else None
        )
    elif injected is not None:
        if deployment.auth_header != "bearer":
            out.append((b"x-api-key", injected.encode("latin-1")))
        elif b"authorization" not in overrides:  # else `extra_headers` set it, and it went in above
            out.append((b"authorization", f"Bearer {injected}".encode("latin-1")))
        credential = injected
    return out, credential


def _decodable(accept_encoding: bytes) -> bytes:
    """The client's `accept-encoding` less the encodings the proxy can't decode on the side (br, zstd...)."""
    kept = [
        token.strip()
        for token in accept_encoding.decode("latin-1").split(",")
        if token.split(";")[0].strip().lower() in DECODABLE_ENCODINGS
    ]
    return ", ".join(kept).encode("latin-1") or b"identity"


def relayed_response_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The provider's response headers the client gets: all but hop-by-hop ones."""
    return [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]


class NativeForwarder:
    """Sends requests to Anthropic-format deployments over one pooled HTTP session."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30, enable_cleanup_closed=True),
                auto_decompress=False,  # the client gets the provider's bytes as sent
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    def body_for(self, exchange: Exchange, ctx: RequestContext, deployment: Deployment) -> bytes:
        body = exchange.body
        assert body is not None
        if ctx.system is not body.data.get("system") and ctx.system is not None:
            data = {**body.data, "model": deployment.provider_model, "system": ctx.system}
            return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return replace_model(body, deployment.provider_model)

    async def open(
        self,
        exchange: Exchange,
        ctx: RequestContext,
        deployment: Deployment,
        is_proxy_key: Callable[[str], bool],
    ) -> tuple[Upstream, str | None]:
        """Send the request; returns the answer with its headers read (the body still to stream) and the
        credential the proxy injected. Raises UpstreamError/UpstreamTimeout when the provider can't be
        reached or stays silent."""
        headers, credential = upstream_headers(exchange.headers, ctx, deployment, is_proxy_key)
        url = deployment.url(exchange.path)
        if exchange.query:
            url = f"{url}?{exchange.query.decode('latin-1')}"
        timeout = aiohttp.ClientTimeout(
            total=None, connect=min(deployment.timeout, 30.0), sock_read=deployment.timeout
        )
        try:
            response = await self._client().post(
                url,
                data=self.body_for(exchange, ctx, deployment),
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers],
                timeout=timeout,
                allow_redirects=False,
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _upstream_error(exc) from exc
        return Upstream(response), credential

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
