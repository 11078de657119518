"""The ASGI application uvicorn serves: our proxy service behind the guard.

Importable by path (`ccproxy_desktop.proxy.asgi:app`) so that each uvicorn worker builds its own `ProxyApp`
(settings, pipeline, ledger writer, credentials) from `CCPROXY_CONFIG_DIR`. Nothing here imports LiteLLM:
the translated path loads it on its first request.
"""

from __future__ import annotations

import os

from ..config.paths import ConfigPaths
from .access import Access
from .app import ProxyApp
from .guard import Guard
from .logs import set_debug, setup_logging
from .service import ProxyService

__all__ = ["app", "build_app"]

MASTER_KEY_ENV = "CCPROXY_MASTER_KEY"


def build_app(paths: ConfigPaths | None = None) -> Guard:
    """The guarded service for the config folder `paths` (default: `CCPROXY_CONFIG_DIR`)."""
    paths = paths or ConfigPaths.from_env()
    setup_logging(paths.proxy_log, debug=False)
    proxy = ProxyApp(paths)
    set_debug(proxy.settings.ccproxy.debug)
    env_key = os.environ.get(MASTER_KEY_ENV, "")
    keys = frozenset({env_key}) if env_key else proxy.proxy_keys
    access = Access.from_environment(os.environ)

    def identify(key: str) -> str | None:
        return proxy.current.users.identify(key)

    guard: Guard

    def is_proxy_key(key: str) -> bool:
        return guard.is_proxy_key(key)

    guard = Guard(
        ProxyService(proxy, is_proxy_key),
        keys=lambda: keys,
        identify=identify,
        allowed_origins=access.origins,
        allowed_hosts=access.hosts,
        allowed_clients=access.clients,
    )
    return guard


app = build_app()
