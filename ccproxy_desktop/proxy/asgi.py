"""The ASGI application uvicorn serves: LiteLLM's proxy app behind our `Guard`.

Importable by path (`ccproxy_desktop.proxy.asgi:app`) so that each uvicorn worker builds its own.
"""

from __future__ import annotations

import os

from litellm.proxy.proxy_server import app as litellm_app

from ..config.paths import ConfigPaths
from .access import Access
from .guard import Guard
from .handler import proxy_handler_instance
from .logs import setup_logging
from .retrying import RetryingApp

__all__ = ["app"]


def _keys() -> frozenset[str]:
    key = os.environ.get("LITELLM_MASTER_KEY", "")
    return frozenset({key}) if key else frozenset()


setup_logging(ConfigPaths.from_env().proxy_log, debug=False)
_KEYS = _keys()
_ACCESS = Access.from_environment(os.environ)


app = Guard(
    RetryingApp(litellm_app, proxy_handler_instance.retry_policy),
    on_startup=proxy_handler_instance.start,
    on_unauthorized=proxy_handler_instance.unauthorized,
    on_shutdown=proxy_handler_instance.stop,
    status=proxy_handler_instance.status,
    keys=lambda: _KEYS,
    accept=proxy_handler_instance.is_user_key,
    error_headers=proxy_handler_instance.error_headers,
    allowed_origins=_ACCESS.origins,
    allowed_hosts=_ACCESS.hosts,
    allowed_clients=_ACCESS.clients,
)
