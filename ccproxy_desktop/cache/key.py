"""Which requests are "identical": a hash of a canonical form of the request after our routing. Pure.

The key is `<routed model>:<sha256>`. The hash covers the routed model and the request fields that can
change the answer (`KEYED_FIELDS` below, given by the caller), serialised with sorted keys, so the order of
keys in the client's JSON never matters. Left out:

- `metadata` (Claude Code puts a per-session `user_id` there) and every field not listed;
- `cache_control` markers at any depth: they steer the provider's prompt caching, not the answer.

`stream` is kept: a streamed answer is stored and replayed as the provider's SSE events, a non-streamed one
as its JSON body, so each form has its own entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping

__all__ = ["IGNORED_FIELDS", "canonical_request", "model_of_key", "request_key"]

IGNORED_FIELDS = frozenset({"metadata", "cache_control"})
"""Request fields that never take part in the key, even when the caller lists them."""


_CACHE_CONTROL_KEY = '"cache_control":{'


def _strip_cache_control(text: str) -> str:
    """`text` (compact JSON) without any `"cache_control":{...}` member and the comma joining it to its
    neighbours. Inside JSON strings every quote is escaped, so the marker can only be a real key, and its value
    (`{"type":"ephemeral","ttl":"1h"}`) has no nested object. Much cheaper than copying the request."""
    pieces = text.split(_CACHE_CONTROL_KEY)
    kept = [pieces[0]]
    for piece in pieces[1:]:
        rest = piece[piece.index("}") + 1 :]
        if kept[-1].endswith(","):
            kept[-1] = kept[-1][:-1]
        elif rest.startswith(","):
            rest = rest[1:]
        kept.append(rest)
    return "".join(kept)


def canonical_request(model: str, request: Mapping[str, object], fields: Collection[str]) -> str:
    """The text that is hashed: the routed model and the listed fields present (not None) in `request`."""
    kept: dict[str, object] = {"model": model}
    for name in fields:
        if name in IGNORED_FIELDS or name == "model":
            continue
        value = request.get(name)
        if value is not None:
            kept[name] = value
    if kept.get("stream") is False:
        del kept["stream"]  # absent and false mean the same
    return _strip_cache_control(json.dumps(kept, sort_keys=True, separators=(",", ":"), default=str))


def request_key(model: str, request: Mapping[str, object], fields: Collection[str]) -> str:
    """`<model>:<sha256 hex of canonical_request>`."""
    digest = hashlib.sha256(canonical_request(model, request, fields).encode()).hexdigest()
    return f"{model}:{digest}"


def model_of_key(key: str) -> str:
    """The routed model a key was made for (everything before the last `:`)."""
    return key.rpartition(":")[0]
