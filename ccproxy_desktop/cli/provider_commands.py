"""`ccproxy provider list | add NAME | remove NAME | models NAME | test NAME` and `ccproxy route RULE MODEL`.

`add` stores the provider's key in the OS keyring (read from a hidden prompt or stdin, never from the command
line; no plaintext fallback) and adds one config.yaml model per chosen model, named `NAME/MODEL`, whose
`api_key: keyring/NAME` names the stored key. Every config change goes through `config.edit`: in place,
comments kept, validated, a `.bak` backup, the diff printed; the running proxy reloads the file.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

import yaml

from ..auth.credential import Credential, CredentialError
from ..auth.store import FileStore, SecretStore, SecretStoreUnavailable, check_provider_name
from ..config.edit import (
    ConfigEditError,
    EditResult,
    add_models,
    edit_config,
    remove_models,
    set_route,
)
from ..config.loader import ConfigInvalid, install_defaults, load_settings
from ..config.paths import ConfigPaths
from ..providers.catalog import PriceMap
from ..providers.discovery import discover_models
from ..providers.presets import PRESETS, Preset, preset
from ..providers.probe import probe
from ..proxy.deployments import AUTH_HEADER_FIELD
from .auth_commands import _notify_proxy, _persistent_store

__all__ = ["add_parser", "configured_providers", "provider", "provider_entries", "route"]

PROVIDER_FIELD = "ccproxy_provider"
"""model_info key marking the config.yaml entries `provider add` wrote (so `remove` finds them)."""


def _err(message: str, code: int = 1) -> int:
    print(f"ccproxy: {message}", file=sys.stderr)
    return code


def _model_list(paths: ConfigPaths) -> list[dict[str, Any]]:
    if not paths.litellm_yaml.exists():
        return []
    data = yaml.safe_load(paths.litellm_yaml.read_text(encoding="utf-8")) or {}
    models = data.get("model_list") if isinstance(data, dict) else None
    return [m for m in models or [] if isinstance(m, dict)]


def provider_entries(paths: ConfigPaths, name: str) -> list[dict[str, Any]]:
    """The config.yaml entries `provider add NAME` wrote."""
    return [m for m in _model_list(paths) if (m.get("model_info") or {}).get(PROVIDER_FIELD) == name]


def configured_providers(paths: ConfigPaths) -> dict[str, list[str]]:
    """Provider name -> its model_names in config.yaml (entries written by `provider add`)."""
    result: dict[str, list[str]] = {}
    for entry in _model_list(paths):
        name = (entry.get("model_info") or {}).get(PROVIDER_FIELD)
        if isinstance(name, str):
            result.setdefault(name, []).append(str(entry.get("model_name")))
    return result


def _show(result: EditResult) -> None:
    if not result.changed:
        print(f"{result.path}: no change")
        return
    sys.stdout.write(result.diff if result.diff.endswith("\n") else result.diff + "\n")
    where = f" (previous version: {result.backup})" if result.backup else ""
    print(f"saved {result.path}{where}; a running proxy reloads it")


def _edit(paths: ConfigPaths, which: Any, change: Any) -> int:
    try:
        _show(edit_config(paths, which, change))
    except ConfigEditError as exc:
        return _err(str(exc))
    except ConfigInvalid as exc:
        return _err(f"the change was not saved: the result would be invalid:\n{exc}", 2)
    return 0


# -- list -------------------------------------------------------------------------------------------------


def provider_list(paths: ConfigPaths, args: argparse.Namespace) -> int:
    configured = configured_providers(paths)
    prices = PriceMap()
    rows: list[dict[str, Any]] = []
    for entry in PRESETS:
        rows.append(
            {
                "name": entry.name,
                "title": entry.title,
                "api_base": entry.api_base,
                "wire_format": entry.wire_format,
                "path": "native" if entry.native else "translated",
                "credential": entry.credential,
                "configured_models": configured.get(entry.name, []),
                "models": [
                    {
                        "name": f.name,
                        "context_window": f.context_window,
                        "input_per_mtok": f.input_per_mtok,
                        "output_per_mtok": f.output_per_mtok,
                    }
                    for f in (prices.facts(m) for m in entry.models)
                ],
            }
        )
    if args.json:
        print(json.dumps({"providers": rows}, indent=2))
        return 0
    for entry in PRESETS:
        added = configured.get(entry.name, [])
        state = f"added: {', '.join(added)}" if added else "not added"
        path = "native" if entry.native else "translated"
        print(f"{entry.name:11} {entry.title:18} {path:10} key: {entry.credential:8} {state}")
        print(f"{'':11} {entry.api_base or '(from the cloud SDK settings)'}")
        for model in entry.models:
            print(f"{'':13}{model.name}: {prices.facts(model).describe()}")
    return 0


# -- add --------------------------------------------------------------------------------------------------


def _read_key(title: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(f"API key for {title} (input hidden): ").strip()
    return sys.stdin.read().strip()


def _choose(offered: list[str], default: list[str]) -> list[str]:
    """Ask on the terminal which of `offered` to add (numbers or names, comma-separated)."""
    for number, name in enumerate(offered, 1):
        print(f"  {number:3}. {name}")
    answer = input(f"models to add (numbers or names, comma-separated) [{', '.join(default)}]: ").strip()
    if not answer:
        return default
    chosen = []
    for part in (p.strip() for p in answer.split(",")):
        if part.isdigit() and 1 <= int(part) <= len(offered):
            chosen.append(offered[int(part) - 1])
        elif part:
            chosen.append(part)
    return chosen


def model_entry(entry: Preset, model: str, api_base: str, context_window: int | None) -> dict[str, Any]:
    """The config.yaml model_list item for `model` of provider `entry`."""
    params: dict[str, Any] = {"model": entry.litellm_model(model)}
    # The translated path's cloud providers: LiteLLM knows their URL; written only when overridden.
    if api_base and (entry.native or entry.credential == "none" or api_base != entry.api_base):
        params["api_base"] = api_base
    if entry.needs_key:
        params["api_key"] = f"keyring/{entry.name}"
    info: dict[str, Any] = {PROVIDER_FIELD: entry.name}
    if entry.native and entry.needs_key and entry.auth_header != "x-api-key":
        info[AUTH_HEADER_FIELD] = entry.auth_header  # the native path sends the key as Authorization: Bearer
    if context_window:
        info["max_input_tokens"] = context_window
    return {"model_name": f"{entry.name}/{model}", "litellm_params": params, "model_info": info}


def _offered(name: str, offered: list[str]) -> bool:
    """True when the provider lists `name` (Ollama lists `llama3.1` as `llama3.1:latest`)."""
    return name in offered or f"{name}:latest" in offered


def _login_under(store: SecretStore, name: str) -> str | None:
    """The source of a login `ccproxy auth` keeps under `name` (a Claude subscription imported with
    `auth import-claude`, an OAuth token that refreshes...), which is not a provider key: None when the entry
    is empty or a plain key."""
    try:
        existing = store.get(name)
    except (CredentialError, SecretStoreUnavailable):
        return None
    if existing is None:
        return None
    plain = existing.source == "stored" and existing.refresh_token is None
    if plain and not existing.access_token.startswith("sk-ant-oat"):
        return None
    return existing.source


def _token_source_warning(paths: ConfigPaths, name: str) -> None:
    try:
        sources = load_settings(paths).ccproxy.oat_sources
    except ConfigInvalid:
        return
    if name in sources:
        print(
            f"ccproxy: warning: ccproxy.yaml's oat_sources.{name} provides the {name} token; the proxy uses it "
            f"for keyring/{name}, not the key stored now",
            file=sys.stderr,
        )


def _added_api_base(paths: ConfigPaths, entry: Preset) -> str | None:
    """The api_base of the models already added for `entry` (a provider added with `--api-base` keeps it
    when more of its models are added)."""
    for model in provider_entries(paths, entry.name):
        base = (model.get("litellm_params") or {}).get("api_base")
        if isinstance(base, str) and base:
            return base
    return None


def _stored_key(paths: ConfigPaths, entry: Preset) -> tuple[str | None, str]:
    """`entry`'s key from the keyring, or None and why not."""
    store, problem = _persistent_store(paths)
    if store is None:
        return None, problem or "no secret store"
    try:
        credential = store.get(entry.name)
    except (CredentialError, SecretStoreUnavailable) as exc:
        return None, str(exc)
    if credential is None:
        return None, f"no {entry.title} key in {store.describe()}: run `ccproxy provider add {entry.name}`"
    return credential.access_token, ""


def provider_add(paths: ConfigPaths, args: argparse.Namespace) -> int:
    try:
        entry = preset(args.name)
    except KeyError as exc:
        return _err(str(exc.args[0]))
    api_base = (args.api_base or _added_api_base(paths, entry) or entry.api_base).rstrip("/")
    if not paths.litellm_yaml.exists():
        install_defaults(paths)
    key: str | None = None
    store: SecretStore | None = None
    if entry.needs_key and args.keep_key:
        key, why = _stored_key(paths, entry)
        if key is None:
            return _err(why)
    elif entry.needs_key:
        store, problem = _persistent_store(paths)
        if store is None:
            return _err(problem or "no secret store")
        if isinstance(store, FileStore):
            return _err(
                "provider keys are kept only in the OS keyring; `credential_store: file` is set in ccproxy.yaml"
            )
        login = _login_under(store, entry.name)
        if login is not None:
            return _err(
                f"the keyring already holds a login for {entry.name} ({login}, from `ccproxy auth`) that a "
                f"key would replace: nothing was changed. Remove it first (`ccproxy auth remove {entry.name}`) to use "
                "a key instead"
            )
        _token_source_warning(paths, entry.name)
        key = _read_key(entry.title)
        if not key:
            return _err("no key given: nothing was stored or changed")
    elif entry.credential in ("aws", "gcp"):
        print(f"{entry.title}: {entry.notes}")
    offered = discover_models(entry, api_base, key) if entry.discovery else None
    if args.model:
        models = list(args.model)
    elif sys.stdin.isatty() and not entry.needs_key:
        models = _choose(offered or entry.model_names(), entry.model_names()[:1])
    else:
        names = entry.model_names()
        models = names if offered is None else [m for m in names if _offered(m, offered)]
        models = models or (offered or entry.model_names())[:1]
    if offered and not args.model:
        print(f"{entry.title} serves {len(offered)} models; add others with --model NAME")
    prices = PriceMap()
    entries = [model_entry(entry, m, api_base, prices.facts(entry.model(m)).context_window) for m in models]
    if key is not None and store is not None:
        try:
            store.set(Credential(provider=check_provider_name(entry.name), access_token=key))
        except (CredentialError, SecretStoreUnavailable) as exc:
            return _err(str(exc))
        _notify_proxy(paths)
        print(
            f"stored the {entry.title} key in {store.describe()} (config.yaml names it keyring/{entry.name})"
        )
    return _edit(paths, "config.yaml", add_models(entries, replace=True))


# -- remove -----------------------------------------------------------------------------------------------


def provider_remove(paths: ConfigPaths, args: argparse.Namespace) -> int:
    try:
        entry = preset(args.name)
    except KeyError as exc:
        return _err(str(exc.args[0]))
    names = {str(m["model_name"]) for m in provider_entries(paths, entry.name)}
    if names:
        users = [
            str(m.get("model_name"))
            for m in _model_list(paths)
            if str(m.get("model_name")) not in names and (m.get("litellm_params") or {}).get("model") in names
        ]
        if users:
            return _err(
                f"{', '.join(users)} still route to {entry.name}: `ccproxy route RULE MODEL` them elsewhere first"
            )
        code = _edit(
            paths,
            "config.yaml",
            remove_models(lambda m: (m.get("model_info") or {}).get(PROVIDER_FIELD) == entry.name),
        )
        if code:
            return code
    else:
        print(f"config.yaml has no {entry.name} models")
    if entry.needs_key and not args.keep_key:
        store, problem = _persistent_store(paths)
        if store is None:
            return _err(problem or "no secret store")
        login = _login_under(store, entry.name)
        if login is not None:
            print(
                f"kept the login for {entry.name} ({login}) stored with `ccproxy auth`: it is not a provider key"
            )
            return 0
        try:
            removed = store.delete(entry.name)
        except SecretStoreUnavailable as exc:
            return _err(str(exc))
        _notify_proxy(paths)
        print(f"removed the {entry.title} key from {store.describe()}" if removed else "no key was stored")
    return 0


# -- test -------------------------------------------------------------------------------------------------


def provider_test(paths: ConfigPaths, args: argparse.Namespace) -> int:
    try:
        entry = preset(args.name)
    except KeyError as exc:
        return _err(str(exc.args[0]))
    configured = provider_entries(paths, entry.name)
    if args.model:
        model = args.model
        api_base = args.api_base or (
            str(configured[0]["litellm_params"].get("api_base", "")) if configured else entry.api_base
        )
    elif configured:
        params = configured[0]["litellm_params"]
        model = str(params["model"]).removeprefix(f"{entry.litellm_prefix}/")
        api_base = args.api_base or str(params.get("api_base") or entry.api_base)
    else:
        return _err(f"{entry.name} is not added: run `ccproxy provider add {entry.name}` first")
    key: str | None = None
    if entry.needs_key:
        key, problem = _stored_key(paths, entry)
        if key is None:
            return _err(problem)
    result = probe(entry, api_base, model, key)
    print(f"{entry.name}: {result.verdict}")
    return 0 if result.ok else 1


# -- models -----------------------------------------------------------------------------------------------


def provider_models(paths: ConfigPaths, args: argparse.Namespace) -> int:
    """What NAME serves: the provider's own list where it has one (model discovery), else the preset's;
    each marked when config.yaml has it. The tray's pickers read `--json`."""
    try:
        entry = preset(args.name)
    except KeyError as exc:
        return _err(str(exc.args[0]))
    api_base = (args.api_base or _added_api_base(paths, entry) or entry.api_base).rstrip("/")
    key: str | None = None
    if entry.needs_key and entry.discovery:
        key, _ = _stored_key(paths, entry)  # no key: the lists that need one aren't asked
    discovered = discover_models(entry, api_base, key) if entry.discovery and api_base else None
    names = discovered if discovered is not None else entry.model_names()
    added = set(configured_providers(paths).get(entry.name, []))
    rows = [{"name": name, "added": f"{entry.name}/{name}" in added} for name in names]
    if args.json:
        source = "provider" if discovered is not None else "preset"
        print(json.dumps({"provider": entry.name, "source": source, "models": rows}, indent=2))
        return 0
    where = f"{entry.title} serves" if discovered is not None else f"{entry.title} (the preset's list):"
    print(f"{where} {len(rows)} models" if discovered is not None else where)
    for row in rows:
        print(f"  {row['name']}{'  (in config.yaml)' if row['added'] else ''}")
    return 0


# -- route ------------------------------------------------------------------------------------------------


def _rule_names(paths: ConfigPaths) -> list[str]:
    try:
        return [rule.name for rule in load_settings(paths).ccproxy.rules]
    except ConfigInvalid:
        return []


def route(paths: ConfigPaths, args: argparse.Namespace) -> int:
    rules = _rule_names(paths)
    if args.rule != "default" and args.rule not in rules:
        known = ", ".join(["default", *rules])
        return _err(f"no rule named {args.rule!r} in {paths.ccproxy_yaml} (rules: {known})")
    return _edit(paths, "config.yaml", set_route(args.rule, args.model))


def provider(paths: ConfigPaths, args: argparse.Namespace) -> int:
    handlers = {
        "list": provider_list,
        "add": provider_add,
        "remove": provider_remove,
        "test": provider_test,
        "models": provider_models,
    }
    return handlers[args.provider_command](paths, args)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "provider", help="provider presets: list | add NAME | remove NAME | models NAME | test NAME"
    )
    actions = p.add_subparsers(dest="provider_command", metavar="ACTION", required=True)
    q = actions.add_parser("list", help="the presets, their models and prices, and which are added")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q = actions.add_parser("add", help="store NAME's key in the keyring and add its models to config.yaml")
    q.add_argument("name")
    q.add_argument("--api-base", help="the provider's URL, instead of the preset's")
    q.add_argument(
        "--model", action="append", help="a model to add (repeatable); default: ask or the preset's"
    )
    q.add_argument(
        "--keep-key", action="store_true", help="use the key already in the keyring (add more models)"
    )
    q = actions.add_parser(
        "remove", help="remove NAME's models from config.yaml and its key from the keyring"
    )
    q.add_argument("name")
    q.add_argument("--keep-key", action="store_true", help="leave the key in the keyring")
    q = actions.add_parser("models", help="the models NAME serves (its own list where it has one)")
    q.add_argument("name")
    q.add_argument("--api-base", help="the URL to ask (default: config.yaml's, else the preset's)")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q = actions.add_parser("test", help="send NAME one tiny request and say what happened")
    q.add_argument("name")
    q.add_argument("--model", help="the model to ask (default: NAME's first model in config.yaml)")
    q.add_argument("--api-base", help="the URL to ask (default: config.yaml's)")
    p.set_defaults(func=provider)
    p = sub.add_parser("route", help="where a rule sends requests: RULE MODEL (edits config.yaml in place)")
    p.add_argument("rule", help="a rule name of ccproxy.yaml, or default")
    p.add_argument("model", help="a model_name of config.yaml (e.g. deepseek/deepseek-chat)")
    p.set_defaults(func=route)
