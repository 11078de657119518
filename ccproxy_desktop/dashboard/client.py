"""Getting a dashboard URL from the running proxy: for `ccproxy dashboard` and the tray's Dashboard item."""

from __future__ import annotations

import httpx

from ..config.loader import ConfigInvalid, load_settings
from ..config.paths import ConfigPaths
from ..proxy.control import ProxyControl
from ..proxy.keys import master_key
from . import PREFIX

__all__ = ["DashboardUnavailable", "dashboard_url"]


class DashboardUnavailable(Exception):
    """No dashboard URL: the message says why (proxy not running, key refused...)."""


def _key(paths: ConfigPaths) -> str:
    try:
        key = master_key(load_settings(paths))
    except ConfigInvalid:
        key = None
    if not key:
        try:
            key = paths.master_key_file.read_text(encoding="utf-8").strip()
        except OSError:
            key = ""
    if not key:
        raise DashboardUnavailable(f"no proxy master key found in {paths.config_dir}")
    return key


def dashboard_url(paths: ConfigPaths, timeout: float = 5.0) -> str:
    """A fresh single-use URL of the running proxy's dashboard (valid for 2 minutes, once). Raises
    DashboardUnavailable when the proxy isn't running or refuses."""
    state = ProxyControl(paths).state()
    if state is None:
        raise DashboardUnavailable("the proxy is not running: start it with `ccproxy start -d`")
    try:
        response = httpx.post(
            f"{state.url}{PREFIX}/api/token", headers={"x-api-key": _key(paths)}, timeout=timeout
        )
    except httpx.HTTPError as exc:
        raise DashboardUnavailable(f"the proxy at {state.url} did not answer: {exc}") from exc
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    if response.status_code != 200 or not isinstance(payload.get("url"), str):
        reason = payload.get("error") if isinstance(payload, dict) else None
        raise DashboardUnavailable(
            f"the proxy refused a dashboard link ({response.status_code}): {reason or response.text[:200]}"
        )
    return str(payload["url"])
