"""Users of the proxy: their keys (stored hashed) and their limits. Pure: no LiteLLM, SQLite or OS access."""

from .keys import KEY_PREFIX, UserDirectory, hash_key, new_user_key
from .limits import (
    LimitHit,
    UserUsage,
    counted_tokens,
    model_refusal,
)

__all__ = [
    "KEY_PREFIX",
    "LimitHit",
    "UserDirectory",
    "UserUsage",
    "counted_tokens",
    "hash_key",
    "model_refusal",
    "new_user_key",
]
