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


def _without_cache_control(value: object) -> object:
    if isinstance(value, Mapping):
        return {k: _without_cache_control(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, (list, tuple)):
        return [_without_cache_control(v) for v in value]
    return value


def canonical_request(model: str, request: Mapping[str, object], fields: Collection[str]) -> str:
    """The text that is hashed: the routed model and the listed fields present (not None) in `request`."""
    kept: dict[str, object] = {"model": model}
    for name in fields:
        if name in IGNORED_FIELDS or name == "model":
            continue
        value = request.get(name)
        if value is not None:
            kept[name] = _without_cache_control(value)
    if kept.get("stream") is False:
        del kept["stream"]  # absent and false mean the same
    return json.dumps(kept, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def request_key(model: str, request: Mapping[str, object], fields: Collection[str]) -> str:
    """`<model>:<sha256 hex of canonical_request>`."""
    digest = hashlib.sha256(canonical_request(model, request, fields).encode()).hexdigest()
    return f"{model}:{digest}"


def model_of_key(key: str) -> str:
    """The routed model a key was made for (everything before the last `:`)."""
    return key.rpartition(":")[0]
