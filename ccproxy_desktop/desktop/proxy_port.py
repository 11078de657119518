"""`LocalProxy`: the supervisor's `ProxyPort` on the real `ProxyControl` of a config folder.

Health checks ask the same endpoint as `ProxyControl.healthy`, with the standard library's `http.client`:
`ProxyControl.healthy` builds an httpx client (and its TLS context) per call, about 60 ms of CPU, too much for
a check every few seconds in an idle tray; the proxy listens on plain HTTP on a local address.
"""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

from ..proxy.control import ProxyControl, ProxyState

__all__ = ["HEALTH_PATH", "LocalProxy"]

HEALTH_PATH = "/health/liveliness"


class LocalProxy:
    def __init__(self, control: ProxyControl, *, health_timeout: float = 2.0) -> None:
        self.control = control
        self._timeout = health_timeout

    def state(self) -> ProxyState | None:
        return self.control.state()

    def healthy(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None:
            return self.control.healthy(url, timeout=self._timeout)  # anything unusual: the full client
        connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=self._timeout)
        try:
            connection.request("GET", HEALTH_PATH)
            return connection.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    def start(self) -> ProxyState:
        return self.control.start_detached()

    def stop(self) -> ProxyState | None:
        return self.control.stop()
