"""Upstream ccproxy compatibility: its import paths and config shapes, mapped onto ours.

Pure functions over plain YAML data. Every rewrite that changes meaning is reported back as a warning
so `ccproxy validate` can tell the user what we understood.
"""

from __future__ import annotations

from typing import Any

KeyPath = tuple[str | int, ...]

__all__ = [
    "OUR_CALLBACK",
    "UPSTREAM_CALLBACKS",
    "map_import_path",
    "normalize_ccproxy_section",
]

OUR_CALLBACK = "ccproxy_desktop.proxy.handler.proxy_handler_instance"

# Forms upstream users have in config.yaml `litellm_settings.callbacks`.
UPSTREAM_CALLBACKS = frozenset(
    {
        "ccproxy.handler",
        "ccproxy.handler:CCProxyHandler",
        "ccproxy.handler.CCProxyHandler",
        "custom_callbacks.proxy_handler_instance",
        "ccproxy.handler.proxy_handler_instance",
    }
)

_PREFIXES = {
    "ccproxy.hooks.": "ccproxy_desktop.pipeline.hooks.",
    "ccproxy.rules.": "ccproxy_desktop.pipeline.rules.",
    "ccproxy.handler": "ccproxy_desktop.proxy.handler",
}

# Upstream hook names that changed name here.
_HOOK_RENAMES = {
    "classify_hook": "rule_evaluator",
    "rewrite_model_hook": "model_router",
    "forward_oauth_hook": "forward_oauth",
}

# Upstream hooks for features we don't have (its mitmproxy era). Loading one is a warning, not an error.
UNSUPPORTED_UPSTREAM_HOOKS = frozenset(
    {
        "inject_mcp_notifications",
        "verbose_mode",
        "apply_compliance",
        "stamp_compliance",
        "configure_retry",
        "thinking_budget",
    }
)


def map_import_path(path: str) -> str:
    """Translate an upstream `ccproxy.*` import path to ours; other paths are returned unchanged."""
    for old, new in _PREFIXES.items():
        if path == old or path.startswith(old):
            mapped = new + path[len(old) :]
            if old == "ccproxy.hooks.":
                name = path[len(old) :]
                mapped = new + _HOOK_RENAMES.get(name, name)
            return mapped
    return path


def upstream_hook_name(path: str) -> str | None:
    """The hook's name if `path` is an upstream built-in hook path, else None."""
    return path[len("ccproxy.hooks.") :] if path.startswith("ccproxy.hooks.") else None


def _params(raw: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Upstream `params`: a list of one-key dicts (merged into kwargs), a dict, a list of positional values."""
    if raw is None:
        return (), {}
    if isinstance(raw, dict):
        return (), dict(raw)
    if isinstance(raw, list):
        if all(isinstance(item, dict) for item in raw):
            merged: dict[str, Any] = {}
            for item in raw:
                merged.update(item)
            return (), merged
        return tuple(raw), {}
    return (raw,), {}


def _rule(raw: Any, index: int, moved: dict[KeyPath, KeyPath]) -> Any:
    if not isinstance(raw, dict):
        return raw
    where: KeyPath = ("ccproxy", "rules", index)
    out = {k: v for k, v in raw.items() if k not in {"label", "params"}}
    if "name" not in out and "label" in raw:
        out["name"] = raw["label"]
        moved[(*where, "name")] = (*where, "label")
    if "params" in raw:
        moved[(*where, "args")] = moved[(*where, "kwargs")] = (*where, "params")
    if isinstance(out.get("rule"), str):
        out["rule"] = map_import_path(out["rule"])
    args, kwargs = _params(raw.get("params"))
    out["args"], out["kwargs"] = list(args), kwargs
    return out


def _hook(raw: Any) -> Any:
    if isinstance(raw, str):
        return {"hook": map_import_path(raw), "params": {}}
    if isinstance(raw, dict):
        out = dict(raw)
        if isinstance(out.get("hook"), str):
            out["hook"] = map_import_path(out["hook"])
        args, kwargs = _params(raw.get("params"))
        out["params"] = kwargs if not args else list(args)
        return out
    return raw


def _hooks(raw: Any, warnings: list[tuple[KeyPath, str]], moved: dict[KeyPath, KeyPath]) -> Any:
    """Hook list; upstream v2's `{inbound: [...], outbound: [...]}` is flattened (inbound first).

    Skipping or flattening renumbers the hooks: `moved` gets each kept hook's new path -> its path as written.
    """
    where: KeyPath = ("ccproxy", "hooks")
    if isinstance(raw, dict) and set(raw) <= {"inbound", "outbound"}:
        warnings.append((where, "inbound/outbound hook lists are run as one list, in order"))
        items = [
            ((*where, part, i), item)
            for part in ("inbound", "outbound")
            for i, item in enumerate(raw.get(part) or [])
        ]
    elif isinstance(raw, list):
        items = [((*where, i), item) for i, item in enumerate(raw)]
    else:
        return raw
    kept: list[Any] = []
    for origin, item in items:
        path = item if isinstance(item, str) else (item.get("hook") if isinstance(item, dict) else None)
        name = upstream_hook_name(path) if isinstance(path, str) else None
        if name in UNSUPPORTED_UPSTREAM_HOOKS:
            warnings.append((origin, f"upstream hook {path} has no equivalent here and is skipped"))
            continue
        if origin != (*where, len(kept)):
            moved[(*where, len(kept))] = origin
        kept.append(_hook(item))
    return kept


def _oat_sources(raw: Any) -> Any:
    if not isinstance(raw, dict):
        return raw
    return {name: ({"command": spec} if isinstance(spec, str) else spec) for name, spec in raw.items()}


def normalize_ccproxy_section(
    raw: dict[str, Any], ignored: frozenset[str]
) -> tuple[dict[str, Any], list[tuple[KeyPath, str]], dict[KeyPath, KeyPath]]:
    """Rewrite upstream shapes in the `ccproxy:` section into ours. Returns (section, warnings, moved).

    Warnings are (key path as written, message) pairs. `moved` maps each rewritten key path of the
    returned section to the path the user wrote, so later issues can point at the right line.
    The input is not modified.
    """
    warnings: list[tuple[KeyPath, str]] = []
    moved: dict[KeyPath, KeyPath] = {}
    out = dict(raw)
    if "rules" in out and isinstance(out["rules"], list):
        out["rules"] = [_rule(r, i, moved) for i, r in enumerate(out["rules"])]
    if "hooks" in out:
        out["hooks"] = _hooks(out["hooks"], warnings, moved)
    if "oat_sources" in out:
        out["oat_sources"] = _oat_sources(out["oat_sources"])
    if "credentials" in out:
        command = out.pop("credentials")
        sources = dict(out.get("oat_sources") or {})
        if "anthropic" in sources:
            warnings.append(
                (("ccproxy", "credentials"), "deprecated; ignored because oat_sources.anthropic is set")
            )
        else:
            sources["anthropic"] = {"command": command}
            out["oat_sources"] = sources
            moved[("ccproxy", "oat_sources", "anthropic")] = ("ccproxy", "credentials")
            warnings.append(
                (("ccproxy", "credentials"), "deprecated; use oat_sources.anthropic (same meaning)")
            )
    if isinstance(out.get("handler"), str):
        out["handler"] = map_import_path(out["handler"])
    present = sorted(k for k in out if k in ignored)
    for key in present:
        warnings.append((("ccproxy", key), "upstream key with no meaning in ccproxy-desktop; ignored"))
        out.pop(key)
    out["ignored_upstream_keys"] = present
    return out, warnings, moved
