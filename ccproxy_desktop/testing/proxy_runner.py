"""Run the real proxy as a subprocess for tests and benchmarks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..config.paths import ConfigPaths
from ..proxy.control import ProxyControl, ProxyState
from ..proxy.keys import ensure_master_key

__all__ = ["RunningProxy", "running_proxy"]


@dataclass(frozen=True)
class RunningProxy:
    paths: ConfigPaths
    state: ProxyState
    key: str

    @property
    def url(self) -> str:
        return self.state.url

    @property
    def control(self) -> ProxyControl:
        return ProxyControl(self.paths)

    def log_text(self) -> str:
        return self.paths.proxy_log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def running_proxy(paths: ConfigPaths, timeout: float | None = None) -> Iterator[RunningProxy]:
    """Start the proxy of `paths` in the background (waiting up to `timeout` s, default the control's own);
    stop it on exit (even if the body fails)."""
    key = ensure_master_key(paths)
    control = ProxyControl(paths)
    state = control.start_detached(timeout)
    try:
        yield RunningProxy(paths, state, key)
    finally:
        control.stop()
