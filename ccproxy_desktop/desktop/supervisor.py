"""Keeps the proxy running while the tray runs: start or attach, health checks, restarts with backoff.

`Supervisor.step()` is the whole decision logic, one observation at a time, with the clock injected: tests
drive it with a fake `ProxyPort` and a fake clock. `Supervisor.start()` runs it on the `tray-supervisor` thread,
which is the only thread that calls the port; other threads ask through `request_start/stop/restart` and
`shutdown`, which queue a command and wake it.

Policy:
- At start, a running proxy of the config folder (`ccproxy start`, an earlier tray) is attached to, else one is
  started (`autostart`). An attached proxy is not "ours": quitting leaves it running.
- A crash (the pid is gone, or `unhealthy_limit` failed health checks in a row) is reported as `down` and the
  proxy restarted after `backoff_initial * 2**(n-1)` seconds (at most `backoff_max`), n = failures in the last
  `failure_window` seconds; the `failure_limit`-th failure in the window gives up (`gave_up`, with the reason:
  the start's error with the last lines of proxy.log). Back up after a crash: `back`.
- A start that fails for a reason a retry cannot fix (the port is taken, the config is invalid) is not retried:
  `gave_up` at once, with what the proxy said (which port, which file and line) as the reason.
- A proxy whose state file vanished (the config folder was deleted) but which still answers at its url is still
  running: it is not restarted (a restart would find the port taken).
- "Stop" from the menu is not a crash: nothing restarts until "Start". A proxy that appears meanwhile (started
  from the command line) is attached to.
- `shutdown` stops the proxy only if the tray started it (or restarted it after a crash).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Literal, Protocol

from ..proxy.control import ProxyState, StartFailed
from .state import ProxyStatus

__all__ = ["ProxyPort", "Supervisor", "Transition"]

log = logging.getLogger(__name__)

Transition = Literal["up", "down", "back", "start_failed", "gave_up", "stopped", "changed"]
"""up: running after a start or attach; down: a running proxy crashed or hung; back: running again after
`down`; start_failed: a start failed, a retry is scheduled; gave_up: too many failures, no more retries;
stopped: stopped on request; changed: anything else the menu shows (starting, degraded, recovered)."""

OnChange = Callable[[ProxyStatus, Transition], None]


class ProxyPort(Protocol):
    """What the supervisor needs from `ProxyControl` (see `proxy_port.LocalProxy`)."""

    def state(self) -> ProxyState | None:
        """The running proxy per its state file, or None."""
        ...

    def healthy(self, url: str) -> bool: ...

    def start(self) -> ProxyState:
        """Start the proxy detached and return once it answers. Raises StartFailed with the reason."""
        ...

    def stop(self) -> ProxyState | None: ...


class _Command(Enum):
    START = "start"
    STOP = "stop"
    RESTART = "restart"
    SHUTDOWN = "shutdown"


@dataclass(frozen=True)
class _Watch:
    """The proxy being watched: which pid, since when unhealthy."""

    pid: int
    url: str
    ours: bool
    unhealthy: int = 0


class Supervisor:
    def __init__(
        self,
        control: ProxyPort,
        clock: Callable[[], float],
        on_change: OnChange,
        *,
        autostart: bool = True,
        check_interval: float = 3.0,
        unhealthy_limit: int = 3,
        attach_grace: float = 90.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        failure_limit: int = 5,
        failure_window: float = 600.0,
    ) -> None:
        self._control = control
        self._clock = clock
        self._on_change = on_change
        self._autostart = autostart
        self.check_interval = check_interval
        self._unhealthy_limit = unhealthy_limit
        self._attach_grace = attach_grace
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._failure_limit = failure_limit
        self._failure_window = failure_window

        self._status = ProxyStatus(phase="starting" if autostart else "stopped")
        self._watch: _Watch | None = None
        self._attached_at = 0.0
        self._first_step = True
        self._crashed = False  # since the last `down`, until back up
        self._failures: deque[float] = deque()
        self._restart_at: float | None = None
        self._shut_down = False
        self._commands: deque[_Command] = deque()
        self._commands_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -- other threads ---------------------------------------------------------------------------------------

    @property
    def status(self) -> ProxyStatus:
        return self._status

    def start(self) -> None:
        """Run the supervision loop on the `tray-supervisor` thread."""
        self._thread = threading.Thread(target=self._run, name="tray-supervisor", daemon=True)
        self._thread.start()

    def request_start(self) -> None:
        self._command(_Command.START)

    def request_stop(self) -> None:
        self._command(_Command.STOP)

    def request_restart(self) -> None:
        self._command(_Command.RESTART)

    def _command(self, command: _Command) -> None:
        with self._commands_lock:
            self._commands.append(command)
        self._wake.set()

    def shutdown(self, timeout: float | None = None) -> bool:
        """Stop supervising; stop the proxy if the tray started it. Waits for a start in progress to end first
        (then stops what it started). Returns False if the thread did not finish within `timeout`."""
        self._command(_Command.SHUTDOWN)
        if self._thread is None:
            self.step()
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        delay = 0.0
        while not self._shut_down:
            self._wake.wait(max(delay, 0.0))
            self._wake.clear()  # before step(): a command queued during the step wakes the next wait
            try:
                delay = self.step()
            except Exception:  # the loop must survive a bug in one step; it is logged with its traceback
                log.exception("supervisor step failed")
                delay = self.check_interval

    # -- the decision logic (the supervisor thread, or a test) -----------------------------------------------

    def step(self) -> float:
        """Handle queued commands, then observe the proxy and act. Returns the seconds until the next step."""
        while True:
            with self._commands_lock:
                if not self._commands:
                    break
                command = self._commands.popleft()
            self._handle(command)
            if self._shut_down:
                return 0.0
        if self._first_step:
            self._first_step = False
            return self._begin()
        return self._observe()

    def _handle(self, command: _Command) -> None:
        if command is _Command.SHUTDOWN:
            self._shut_down = True
            watch = self._watch
            if watch is not None and watch.ours:
                log.info("stopping the proxy the tray started (pid %d)", watch.pid)
                self._control.stop()
            return
        if command in (_Command.STOP, _Command.RESTART):
            self._first_step = False
            self._restart_at = None
            if self._watch is not None or self._control.state() is not None:
                self._control.stop()
            self._watch = None
            self._crashed = False
            if command is _Command.STOP:
                self._set(ProxyStatus(phase="stopped"), "stopped")
                return
        # START, or the second half of RESTART: a person asked, so past failures are forgiven.
        self._first_step = False
        self._failures.clear()
        self._crashed = False
        running = self._control.state()
        if running is not None:
            self._attach(running)
        else:
            self._start()

    def _begin(self) -> float:
        running = self._control.state()
        if running is not None:
            self._attach(running)
            return self._observe()
        if self._autostart:
            return self._start()
        self._set(ProxyStatus(phase="stopped"), "changed")
        return self.check_interval

    def _observe(self) -> float:
        now = self._clock()
        watch = self._watch
        if watch is None:
            if self._restart_at is not None:
                if now < self._restart_at:
                    return self._restart_at - now
                self._restart_at = None
                running = self._control.state()
                if running is not None:
                    self._attach(running)
                    return self.check_interval
                return self._start()
            running = self._control.state()  # stopped or gave up: attach to one started from outside
            if running is not None:
                self._attach(running)
            return self.check_interval

        running = self._control.state()
        if running is None:
            if self._control.healthy(watch.url):
                return self.check_interval  # its state file is gone, the proxy is not
            return self._crash(f"the proxy (pid {watch.pid}) exited")
        if running.pid != watch.pid:
            log.info("the proxy was replaced from outside (pid %d -> %d)", watch.pid, running.pid)
            self._attach(running)
            return self.check_interval
        if self._control.healthy(watch.url):
            self._watch = replace(watch, unhealthy=0)
            if self._status.phase != "running":
                transition: Transition = "changed" if self._status.phase == "degraded" else "up"
                if self._crashed:
                    transition = "back"
                self._crashed = False
                self._set(self._running_status(watch), transition)
            return self.check_interval

        unhealthy = watch.unhealthy + 1
        self._watch = replace(watch, unhealthy=unhealthy)
        if self._status.phase == "starting":  # attached while it starts up: give it time
            if now - self._attached_at < self._attach_grace:
                return self.check_interval
            self._control.stop()
            return self._crash(
                f"the proxy (pid {watch.pid}) did not answer within {self._attach_grace:.0f} s"
            )
        if unhealthy >= self._unhealthy_limit:
            log.warning("the proxy (pid %d) failed %d health checks; restarting it", watch.pid, unhealthy)
            self._control.stop()
            return self._crash(f"the proxy (pid {watch.pid}) stopped answering health checks")
        reason = f"{unhealthy} failed health check{'s' if unhealthy > 1 else ''}"
        self._set(replace(self._running_status(watch), phase="degraded", reason=reason), "changed")
        return self.check_interval

    def _attach(self, running: ProxyState) -> None:
        ours = self._watch is not None and self._watch.ours and self._watch.pid == running.pid
        self._watch = _Watch(running.pid, running.url, ours=ours)
        self._attached_at = self._clock()
        self._restart_at = None
        if self._control.healthy(running.url):
            transition: Transition = "back" if self._crashed else "up"
            self._crashed = False
            self._set(self._running_status(self._watch), transition)
        else:
            self._set(ProxyStatus("starting", running.url, running.pid, ours), "changed")

    def _start(self) -> float:
        self._set(ProxyStatus("starting", attempt=len(self._recent_failures())), "changed")
        try:
            running = self._control.start()
        except StartFailed as exc:
            self._watch = None
            if exc.needs_user:
                self._restart_at = None
                self._set(ProxyStatus("error", reason=exc.detail or str(exc)), "gave_up")
                return self.check_interval
            return self._failed(str(exc), "start_failed")
        self._watch = _Watch(running.pid, running.url, ours=True)
        transition: Transition = "back" if self._crashed else "up"
        self._crashed = False
        self._set(self._running_status(self._watch), transition)
        return self.check_interval

    def _crash(self, reason: str) -> float:
        self._watch = None
        self._crashed = True
        return self._failed(reason, "down")

    def _failed(self, reason: str, transition: Transition) -> float:
        """Count a failure; schedule a restart, or give up after too many."""
        now = self._clock()
        self._failures.append(now)
        failures = len(self._recent_failures())
        if failures >= self._failure_limit:
            self._restart_at = None
            minutes = self._failure_window / 60
            why = f"gave up after {failures} failures in {minutes:.0f} minutes: {reason}"
            self._set(ProxyStatus("error", reason=why, attempt=failures), "gave_up")
            return self.check_interval
        delay = min(self._backoff_initial * 2.0 ** (failures - 1), self._backoff_max)
        self._restart_at = now + delay
        self._set(ProxyStatus("restarting", reason=reason, attempt=failures), transition)
        return delay

    def _recent_failures(self) -> deque[float]:
        horizon = self._clock() - self._failure_window
        while self._failures and self._failures[0] <= horizon:
            self._failures.popleft()
        return self._failures

    def _running_status(self, watch: _Watch) -> ProxyStatus:
        return ProxyStatus("running", watch.url, watch.pid, watch.ours)

    def _set(self, status: ProxyStatus, transition: Transition) -> None:
        if status == self._status and transition == "changed":
            return
        self._status = status
        try:
            self._on_change(status, transition)
        except Exception:  # a failing listener must not stop supervision; logged with its traceback
            log.exception("supervisor listener failed on %s", transition)
