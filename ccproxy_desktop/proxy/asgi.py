"""The ASGI application uvicorn serves: LiteLLM's proxy app behind our `Guard`.

Importable by path (`ccproxy_desktop.proxy.asgi:app`) so that each uvicorn worker builds its own.
"""

from __future__ import annotations

import os

from litellm.proxy.proxy_server import app as litellm_app

from ..config.paths import ConfigPaths
from .guard import Guard
from .handler import proxy_handler_instance
from .logs import setup_logging
from .retrying import RetryingApp

__all__ = ["app"]


def _keys() -> frozenset[str]:
    key = os.environ.get("LITELLM_MASTER_KEY", "")
    return frozenset({key}) if key else frozenset()


def _split(name: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in os.environ.get(name, "").split(",") if v.strip())


setup_logging(ConfigPaths.from_env().proxy_log, debug=False)
_KEYS = _keys()


app = Guard(
    RetryingApp(litellm_app, proxy_handler_instance.retry_policy),
    on_startup=proxy_handler_instance.start,
    on_unauthorized=proxy_handler_instance.unauthorized,
    on_shutdown=proxy_handler_instance.stop,
    keys=lambda: _KEYS,
    allowed_origins=_split("CCPROXY_ALLOWED_ORIGINS"),
    allowed_hosts=_split("CCPROXY_ALLOWED_HOSTS") or ("127.0.0.1", "localhost", "::1", "[::1]"),
)
