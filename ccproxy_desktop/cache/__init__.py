"""The response cache: identical requests within a TTL answered without contacting the provider.

`key.py` (pure) says which requests are identical, `store.py` keeps the answers (SQLite file or memory, TTL
and LRU bounds, per-model invalidation), `control.py` is what the CLI and the tray call. The proxy's service
(`proxy/service.py`) looks an answer up after routing and stores complete successful answers as the client
got them: a stream as its SSE bytes, a JSON answer as its body.
"""
