"""`ccproxy auth set | import-claude | status | refresh | remove`: provider tokens in the OS keyring.

Tokens are read from stdin or a hidden prompt, never from the command line, and never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
import time
from typing import Any

import httpx

from ..auth.claude_import import ClaudeImportError, import_claude_credentials
from ..auth.credential import Credential, CredentialError
from ..auth.manager import CredentialManager
from ..auth.store import SecretStore, SecretStoreUnavailable, check_provider_name
from ..auth.stores import is_persistent, store_for
from ..config.loader import ConfigInvalid, load_settings
from ..config.paths import ConfigPaths
from ..ledger.store import Ledger

__all__ = ["auth"]


def _err(message: str) -> int:
    print(f"ccproxy: {message}", file=sys.stderr)
    return 1


def _persistent_store(paths: ConfigPaths) -> tuple[SecretStore | None, str | None]:
    store, warning = store_for(paths)
    if not is_persistent(store):
        return None, (
            f"{warning or 'no secure keyring'}\n"
            "Nothing was stored. Alternatively set `credential_store: file` under `ccproxy:` in ccproxy.yaml "
            "to keep tokens in a plaintext file (0600)."
        )
    return store, None


def _notify_proxy(paths: ConfigPaths) -> None:
    """Tell a running proxy to re-read stored credentials (it watches this file)."""
    paths.credentials_changed.write_text(f"{time.time()}\n")


def _credential_from_input(provider: str, text: str, now: float) -> Credential:
    """A bare token, or a JSON object with access_token, refresh_token, expires_in/expires_at, token_url,
    client_id (for tokens that refresh with the OAuth2 refresh-token grant)."""
    text = text.strip()
    if not text:
        raise CredentialError("no token given")
    if not text.startswith("{"):
        return Credential(provider=provider, access_token=text, source="stored", obtained_at=now)
    try:
        data = json.loads(text)
    except ValueError:
        raise CredentialError("the input starts with { but is not valid JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
        raise CredentialError("the JSON needs an access_token string")
    expires_at = data.get("expires_at")
    if expires_at is None and isinstance(data.get("expires_in"), (int, float)):
        expires_at = now + float(data["expires_in"])
    return Credential(
        provider=provider,
        access_token=data["access_token"],
        refresh_token=data.get("refresh_token"),
        expires_at=float(expires_at) if isinstance(expires_at, (int, float)) else None,
        token_url=data.get("token_url"),
        client_id=data.get("client_id"),
        source="oauth2" if data.get("refresh_token") and data.get("token_url") else "stored",
        obtained_at=now,
        body_format="json" if data.get("body_format") == "json" else "form",
    )


def auth_set(paths: ConfigPaths, args: argparse.Namespace) -> int:
    provider = check_provider_name(args.provider)
    store, problem = _persistent_store(paths)
    if store is None:
        return _err(problem or "no secret store")
    text = getpass.getpass(f"token for {provider}: ") if sys.stdin.isatty() else sys.stdin.read()
    try:
        credential = _credential_from_input(provider, text, time.time())
        store.set(credential)
    except (CredentialError, SecretStoreUnavailable) as exc:
        return _err(str(exc))
    _notify_proxy(paths)
    print(f"stored the {provider} token in {store.describe()}")
    return 0


def auth_import_claude(paths: ConfigPaths, args: argparse.Namespace) -> int:
    store, problem = _persistent_store(paths)
    if store is None:
        return _err(problem or "no secret store")
    try:
        credential = import_claude_credentials()
        store.set(credential)
    except (ClaudeImportError, SecretStoreUnavailable) as exc:
        return _err(str(exc))
    _notify_proxy(paths)
    expiry = (
        time.strftime("%Y-%m-%d %H:%M", time.localtime(credential.expires_at))
        if credential.expires_at
        else "none"
    )
    print(f"imported Claude Code's login as the anthropic token (expires {expiry}) into {store.describe()}")
    return 0


def _last_failures(paths: ConfigPaths) -> dict[str, dict[str, Any]]:
    if not paths.ledger_db.exists():
        return {}
    with Ledger(paths.ledger_db) as ledger:
        events = ledger.events(kinds=["credential_failure"])
    return {
        str(e.payload.get("provider", "")): {"message": e.payload.get("message"), "at": e.ts} for e in events
    }


def auth_status(paths: ConfigPaths, args: argparse.Namespace) -> int:
    store, warning = store_for(paths)
    failures = _last_failures(paths)
    rows: list[dict[str, Any]] = []
    try:
        providers = store.providers()
    except SecretStoreUnavailable as exc:
        return _err(str(exc))
    try:
        sources = load_settings(paths).ccproxy.oat_sources
    except ConfigInvalid:
        sources = {}
    for provider in sorted(set(providers) | set(sources)):
        credential = store.get(provider) if provider in providers else None
        failure = failures.get(provider)
        spec = sources.get(provider)
        rows.append(
            {
                "provider": provider,
                "source": credential.source
                if credential
                else ("command" if spec and spec.command else "file" if spec and spec.file else "oauth2"),
                "stored": credential is not None,
                "expires_at": credential.expires_at if credential else None,
                "last_refresh": credential.last_refresh if credential else None,
                "refreshable": credential.refreshable if credential else False,
                "last_error": failure["message"] if failure else None,
                "last_error_at": failure["at"] if failure else None,
            }
        )
    if args.json:
        print(json.dumps({"store": store.describe(), "warning": warning, "providers": rows}, indent=2))
        return 0
    print(f"secret store: {store.describe()}")
    if warning:
        print(f"warning: {warning}")
    for row in rows:
        expires = (
            time.strftime("%Y-%m-%d %H:%M", time.localtime(row["expires_at"]))
            if row["expires_at"]
            else "no expiry"
        )
        line = f"{row['provider']}: {row['source']}, {expires}"
        if row["last_error"]:
            line += f"; last error: {row['last_error']}"
        print(line)
    if not rows:
        print("no provider tokens (ccproxy auth set PROVIDER, or ccproxy auth import-claude)")
    return 0


async def _refresh(store: SecretStore, providers: list[str]) -> dict[str, bool]:
    async with httpx.AsyncClient(timeout=30) as http:
        manager = CredentialManager(store, http, claude_reader=import_claude_credentials)
        await manager.load()
        return {p: await manager.refresh(p, "manual") for p in providers}


def auth_refresh(paths: ConfigPaths, args: argparse.Namespace) -> int:
    store, problem = _persistent_store(paths)
    if store is None:
        return _err(problem or "no secret store")
    providers = (
        [args.provider]
        if args.provider
        else [p for p in store.providers() if (c := store.get(p)) and c.refreshable]
    )
    if not providers:
        print("no refreshable tokens stored")
        return 0
    results = asyncio.run(_refresh(store, providers))
    _notify_proxy(paths)
    for provider, ok in results.items():
        print(f"{provider}: {'refreshed' if ok else 'refresh failed (see ccproxy auth status)'}")
    return 0 if all(results.values()) else 1


def auth_remove(paths: ConfigPaths, args: argparse.Namespace) -> int:
    store, problem = _persistent_store(paths)
    if store is None:
        return _err(problem or "no secret store")
    try:
        removed = store.delete(check_provider_name(args.provider))
    except SecretStoreUnavailable as exc:
        return _err(str(exc))
    _notify_proxy(paths)
    print(f"removed the {args.provider} token" if removed else f"no {args.provider} token was stored")
    return 0


def auth(paths: ConfigPaths, args: argparse.Namespace) -> int:
    handlers = {
        "set": auth_set,
        "import-claude": auth_import_claude,
        "status": auth_status,
        "refresh": auth_refresh,
        "remove": auth_remove,
    }
    return handlers[args.auth_command](paths, args)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "auth", help="provider tokens in the OS keyring: set | import-claude | status | refresh | remove"
    )
    auth_sub = p.add_subparsers(dest="auth_command", metavar="ACTION", required=True)
    q = auth_sub.add_parser("set", help="store PROVIDER's token (read from stdin or a hidden prompt)")
    q.add_argument("provider")
    auth_sub.add_parser("import-claude", help="import Claude Code's own login as the anthropic token")
    q = auth_sub.add_parser("status", help="sources, expiry, last refresh and errors (never the secret)")
    q.add_argument("--json", action="store_true")
    q = auth_sub.add_parser("refresh", help="refresh OAuth tokens now")
    q.add_argument("provider", nargs="?")
    q = auth_sub.add_parser("remove", help="delete PROVIDER's stored token")
    q.add_argument("provider")
    p.set_defaults(func=auth)
