"""User keys: generated with 256 bits of randomness, stored only as `sha256:<hex>` in ccproxy.yaml.

A fast unsalted hash is enough here because the keys are not passwords: nobody chooses them, so there is no
dictionary to try and no two users share one, and a precomputed table over 2^256 keys cannot exist. A slow
salted hash (scrypt, argon2) would cost tens of milliseconds on every request, or a cache of verified keys in
memory, which is the plaintext the hash was meant to avoid keeping.

Lookup is a dict lookup by digest: its timing can only tell an attacker about the digest of their own guess.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping

from ..config.schema import UserSpec

__all__ = ["KEY_PREFIX", "UserDirectory", "hash_key", "new_user_key"]

KEY_PREFIX = "sk-ccproxy-user-"


def new_user_key() -> str:
    """A new user key: the prefix and 32 random bytes, URL-safe base64 (43 characters)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The `key_hash` value stored for `key`."""
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


class UserDirectory:
    """The configured users, found by key. Immutable: a config reload builds a new one."""

    def __init__(self, users: Mapping[str, UserSpec]) -> None:
        self.users = dict(users)
        self._by_hash = {spec.key_hash: name for name, spec in users.items()}

    def identify(self, key: str) -> str | None:
        """The name of the user whose key is `key`, else None."""
        if not self._by_hash:
            return None
        return self._by_hash.get(hash_key(key))

    def spec(self, name: str) -> UserSpec | None:
        return self.users.get(name)

    def __bool__(self) -> bool:
        return bool(self.users)
