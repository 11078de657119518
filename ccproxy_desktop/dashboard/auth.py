"""Who may see the dashboard: one-time tokens, session cookies and the browser checks.

- A one-time token is minted by the proxy for a caller holding the master key (`POST .../api/token`, what
  `ccproxy dashboard` does). Only its SHA-256 is kept, as an empty 0600 file in `run/dashboard-tokens/` (a
  0700 folder), so every uvicorn worker sees it; redeeming it deletes that file, which succeeds exactly once
  across processes. A token older than `TOKEN_TTL` seconds is refused.
- Redeeming gives a session cookie `ccproxy_dashboard_<port>=v1.<id>.<expiry>.<mac>`: HttpOnly,
  SameSite=Strict, Path=/ccproxy/dashboard. The MAC key is derived in memory from the master key and the
  proxy's start (pid and start time in `run/proxy.json`), never written anywhere: a restarted proxy or a new
  master key ends every session.
- Every dashboard request must come from a loopback address, name a loopback Host (no DNS rebinding, whatever
  `allowed_hosts` says), and, when the browser says where it comes from (`Origin`, `Sec-Fetch-Site`), come
  from the dashboard's own origin.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from ..proxy.access import LOOPBACK_HOSTS, LOOPBACK_NETWORKS, client_allowed

__all__ = [
    "COOKIE_PREFIX",
    "SESSION_TTL",
    "TOKEN_TTL",
    "Sessions",
    "TokenBox",
    "browser_refusal",
    "cookie_header",
    "cookie_name",
    "cookie_value",
    "session_key",
]

TOKEN_TTL = 120.0  # seconds a minted token may wait to be redeemed
SESSION_TTL = 12 * 3600.0
COOKIE_PREFIX = "ccproxy_dashboard_"
COOKIE_PATH = "/ccproxy/dashboard"
_TOKEN_DIR = "dashboard-tokens"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class TokenBox:
    """Single-use tokens kept as hashes in `run_dir/dashboard-tokens/`. `clock` is wall time (file mtimes)."""

    def __init__(self, run_dir: Path, ttl: float = TOKEN_TTL, clock: Callable[[], float] = time.time) -> None:
        self.folder = run_dir / _TOKEN_DIR
        self.ttl = ttl
        self.clock = clock

    def mint(self) -> str:
        """A new token (256 random bits, URL-safe). Expired tokens left behind are removed."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        self._sweep()
        token = secrets.token_urlsafe(32)
        fd = os.open(self.folder / _digest(token), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        now = self.clock()
        os.utime(self.folder / _digest(token), (now, now))
        return token

    def redeem(self, token: str) -> bool:
        """True once for a token minted less than `ttl` seconds ago; False for anything else (reused, expired,
        unknown, malformed). Safe across processes: only the caller whose unlink succeeds wins."""
        if not token or len(token) > 200 or not all(c.isalnum() or c in "-_" for c in token):
            return False
        path = self.folder / _digest(token)
        try:
            minted = path.stat().st_mtime
            path.unlink()
        except FileNotFoundError:
            return False
        age = self.clock() - minted
        return 0 <= age <= self.ttl

    def _sweep(self) -> None:
        now = self.clock()
        for entry in self.folder.iterdir():
            try:
                if now - entry.stat().st_mtime > self.ttl:
                    entry.unlink()
            except FileNotFoundError:
                continue


def session_key(master_keys: Iterable[str], state_file: Path) -> bytes:
    """The MAC key of session cookies: from the master keys and this proxy's start (`run/proxy.json`), so
    every worker of one proxy agrees and nothing secret is stored. Without a state file (a test that builds
    the app in-process), a random key for this process."""
    try:
        state = json.loads(state_file.read_text())
        start = f"{state['pid']}:{state['started_at']}".encode()
    except (OSError, ValueError, KeyError, TypeError):
        start = secrets.token_bytes(32)
    material = "\n".join(sorted(master_keys)).encode()
    return hmac.new(material, b"ccproxy dashboard session\n" + start, hashlib.sha256).digest()


class Sessions:
    """Issues and checks session cookie values `v1.<id>.<expiry>.<mac>` under `key`."""

    def __init__(self, key: bytes, ttl: float = SESSION_TTL, clock: Callable[[], float] = time.time) -> None:
        self.key = key
        self.ttl = ttl
        self.clock = clock

    def _mac(self, body: str) -> str:
        return hmac.new(self.key, body.encode(), hashlib.sha256).hexdigest()

    def issue(self) -> str:
        body = f"v1.{secrets.token_hex(16)}.{int(self.clock() + self.ttl)}"
        return f"{body}.{self._mac(body)}"

    def valid(self, value: str | None) -> bool:
        if not value or len(value) > 200:
            return False
        parts = value.split(".")
        if len(parts) != 4 or parts[0] != "v1" or not parts[2].isdigit():
            return False
        body = ".".join(parts[:3])
        if not hmac.compare_digest(self._mac(body), parts[3]):
            return False
        return self.clock() < int(parts[2])


def cookie_name(port: int | str) -> str:
    return f"{COOKIE_PREFIX}{port}"


def cookie_header(name: str, value: str, ttl: float = SESSION_TTL) -> bytes:
    return f"{name}={value}; HttpOnly; SameSite=Strict; Path={COOKIE_PATH}; Max-Age={int(ttl)}".encode(
        "latin-1"
    )


def cookie_value(headers: Iterable[tuple[bytes, bytes]], name: str) -> str | None:
    """The value of cookie `name` in the request's Cookie headers (the last one if repeated)."""
    found = None
    for key, raw in headers:
        if key.lower() != b"cookie":
            continue
        for part in raw.decode("latin-1").split(";"):
            label, _, value = part.strip().partition("=")
            if label == name:
                found = value
    return found


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[str]:
    return [v.decode("latin-1") for k, v in headers if k.lower() == name]


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def browser_refusal(
    client: tuple[str, int] | list[object] | None, headers: list[tuple[bytes, bytes]]
) -> str | None:
    """Why a dashboard request is refused before any cookie is looked at, or None.

    Loopback clients only; exactly one Host, a loopback name; an `Origin`, if sent, must be this very
    origin (`http://<Host>`); `Sec-Fetch-Site`, if sent, must be `same-origin` or `none` (typed, or opened by
    `ccproxy dashboard`)."""
    if client is not None and not client_allowed(str(client[0]), LOOPBACK_NETWORKS):
        return f"the dashboard answers loopback clients only, not {client[0]}"
    hosts = _header(headers, b"host")
    if len(hosts) != 1 or _host_name(hosts[0].strip().lower()) not in LOOPBACK_HOSTS:
        shown = hosts[0][:100] if hosts else "(none)"
        return f"Host {shown} is not allowed: the dashboard answers only on 127.0.0.1, localhost or [::1]"
    own = f"http://{hosts[0].strip().lower()}"
    for origin in _header(headers, b"origin"):
        if origin.strip().lower() != own:
            return f"requests from browser origin {origin[:100]} are not allowed on the dashboard"
    for site in _header(headers, b"sec-fetch-site"):
        if site.strip().lower() not in ("same-origin", "none"):
            return f"cross-site requests ({site[:40]}) are not allowed on the dashboard"
    return None
