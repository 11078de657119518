"""The response cache: identical requests within a TTL answered without contacting the provider.

`key.py` (pure) says which requests are identical, `store.py` keeps the answers (SQLite file or memory, TTL
and LRU bounds, per-model invalidation), `litellm_cache.py` plugs both into LiteLLM's own cache machinery
(lookup after our routing, stream capture and replay), `control.py` is what the CLI and the tray call.
"""
