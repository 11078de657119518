"""`ccproxy cache clear [--model M] | stats [--json]`: the response cache from outside the proxy."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..cache.control import cache_stats, clear_cache
from ..config.loader import ConfigInvalid, load_settings
from ..config.paths import ConfigPaths

__all__ = ["add_parser", "cache"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("cache", help="the response cache: clear [--model M] | stats")
    p.add_argument("action", choices=["clear", "stats"])
    p.add_argument("--model", help="with clear: only this model_name's cached responses")
    p.add_argument("--json", action="store_true", help="with stats: machine-readable output")
    p.set_defaults(func=cache)


def cache(paths: ConfigPaths, args: argparse.Namespace) -> int:
    try:
        settings = load_settings(paths)
    except ConfigInvalid as exc:
        sys.exit(str(exc))  # the issues on stderr, exit status 1
    spec = settings.ccproxy.cache
    if args.action == "clear":
        if args.model and args.model not in settings.litellm.model_names():
            print(f"warning: {args.model!r} is not a model_name of config.yaml", file=sys.stderr)
        dropped = clear_cache(paths, spec, args.model)
        scope = f"model {args.model}" if args.model else "every model"
        if spec.storage == "memory":
            print(f"response cache: running proxies drop their in-memory entries of {scope}")
        else:
            print(f"response cache: cleared {dropped} cached responses of {scope}")
        if not spec.enabled:
            print("note: the response cache is off (ccproxy.cache.enabled: false)")
        return 0
    stats = cache_stats(paths, spec)
    report = {
        "enabled": spec.enabled,
        "storage": spec.storage,
        "entries": stats.entries if stats else None,
        "size_bytes": stats.size_bytes if stats else None,
        "by_model": stats.by_model if stats else {},
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"response cache: {'on' if spec.enabled else 'off'}, storage {spec.storage}")
    if stats is None:
        print("entries: not readable from outside the proxy" if spec.storage == "memory" else "entries: 0")
    else:
        print(f"entries: {stats.entries} ({stats.size_bytes / 1024:.1f} KiB)")
        for model, count in sorted(stats.by_model.items()):
            print(f"  {model}: {count}")
    print("hits and hit rate: `ccproxy status --health`")
    return 0
