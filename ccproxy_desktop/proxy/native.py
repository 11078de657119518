"""The native path: a byte pipe to a deployment that speaks Anthropic Messages.

The provider gets the client's body with only `model` replaced (`rawjson.replace_model`; re-serialised
only when a hook changed `system`), the client's query string, and the client's headers in their order,
except hop-by-hop ones, `host`/`content-length` (recomputed), our own `x-ccproxy-key`, and the credential
headers we replace; `accept-encoding` keeps only what the proxy can decode to read the answer's usage (gzip,
deflate). The answer comes back as an `httpx.Response` opened in streaming mode: the server relays
its status, headers and raw bytes unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping

import httpx

from ..pipeline.context import RequestContext
from .deployments import Deployment
from .exchange import Exchange
from .rawjson import replace_model
from .stream_watch import DECODABLE_ENCODINGS

__all__ = ["HOP_BY_HOP", "NativeForwarder", "relayed_response_headers", "upstream_headers"]

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


def _beta_items(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def upstream_headers(
    client: Iterable[tuple[bytes, bytes]],
    ctx: RequestContext,
    deployment: Deployment,
    is_proxy_key: Callable[[str], bool],
) -> tuple[list[tuple[bytes, bytes]], str | None]:
    """The headers to send the provider, and the credential the proxy put in them (None: the client's own
    went through, or none). A client credential that is one of the proxy's keys never leaves."""
    decided: Mapping[str, str] = ctx.upstream_headers
    overrides = {k.lower().encode("latin-1"): v for k, v in {**deployment.extra_headers, **decided}.items()}
    injected = ctx.upstream_api_key or (None if "authorization" in decided else deployment.api_key)
    out: list[tuple[bytes, bytes]] = []
    for key, value in client:
        name = key.lower()
        if name in HOP_BY_HOP or name in _RECOMPUTED or name in _OURS:
            continue
        if name in _CREDENTIALS:
            text = value.decode("latin-1")
            secret = (
                text[7:].strip() if name == b"authorization" and text.lower().startswith("bearer ") else text
            )
            if is_proxy_key(secret) or injected is not None or name in overrides:
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
        out.append((b"x-api-key", injected.encode("latin-1")))
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
    """Sends requests to Anthropic-format deployments over one pooled HTTP client."""

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self.client = client or httpx.AsyncClient(
            timeout=None, limits=httpx.Limits(max_connections=None, max_keepalive_connections=100)
        )

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
    ) -> tuple[httpx.Response, str | None]:
        """Send the request; returns the response with its headers read (the body still to stream) and the
        credential the proxy injected. Raises httpx errors when the provider can't be reached."""
        headers, credential = upstream_headers(exchange.headers, ctx, deployment, is_proxy_key)
        url = deployment.url(exchange.path)
        if exchange.query:
            url = f"{url}?{exchange.query.decode('latin-1')}"
        timeout = httpx.Timeout(deployment.timeout, connect=min(deployment.timeout, 30.0))
        request = httpx.Request(
            "POST",
            url,
            headers=headers,
            content=self.body_for(exchange, ctx, deployment),
            extensions={"timeout": timeout.as_dict()},
        )
        response = await self.client.send(request, stream=True)
        return response, credential

    async def aclose(self) -> None:
        await self.client.aclose()
