"""The supervisor's decisions, one step at a time, on a fake proxy and a fake clock."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import pytest

from ccproxy_desktop.desktop.state import ProxyStatus
from ccproxy_desktop.desktop.supervisor import Supervisor, Transition
from ccproxy_desktop.proxy.control import EXIT_CONFIG, EXIT_PORT, StartFailed

if TYPE_CHECKING:
    from conftest import FakeClock, FakeProxy

LOG_TAIL = "the proxy exited with code 3:\nconfig.yaml:4: model_list: no models"


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[ProxyStatus, Transition]] = []

    def __call__(self, status: ProxyStatus, transition: Transition) -> None:
        self.seen.append((status, transition))

    @property
    def transitions(self) -> list[Transition]:
        return [t for _, t in self.seen if t != "changed"]


def supervisor(proxy: FakeProxy, clock: FakeClock, recorder: Recorder, **options: object) -> Supervisor:
    return Supervisor(proxy, clock, recorder, **options)  # type: ignore[arg-type]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def test_starts_a_proxy_when_none_runs(fake_proxy: FakeProxy, clock: FakeClock, recorder: Recorder) -> None:
    sup = supervisor(fake_proxy, clock, recorder)
    assert sup.status.phase == "starting"  # what the menu shows before the first step
    assert sup.step() == sup.check_interval
    assert fake_proxy.calls == ["start"]
    assert sup.status.phase == "running"
    assert sup.status.started_by_tray
    assert recorder.transitions == ["up"]


def test_attaches_to_a_running_proxy_and_quit_leaves_it_running(
    fake_proxy: FakeProxy, clock: FakeClock, recorder: Recorder
) -> None:
    outside = fake_proxy.launch()  # `ccproxy start`
    sup = supervisor(fake_proxy, clock, recorder)
    sup.step()
    assert fake_proxy.calls == []
    assert sup.status == ProxyStatus("running", outside.url, outside.pid, started_by_tray=False)
    assert sup.shutdown()
    assert fake_proxy.calls == []
    assert fake_proxy.running == outside


def test_quit_stops_the_proxy_the_tray_started(
    fake_proxy: FakeProxy, clock: FakeClock, recorder: Recorder
) -> None:
    sup = supervisor(fake_proxy, clock, recorder)
    sup.step()
    sup.shutdown()
    assert fake_proxy.calls == ["start", "stop"]
    assert fake_proxy.running is None


def test_an_attached_proxy_still_starting_gets_time_then_counts_as_hung(
    fake_proxy: FakeProxy, clock: FakeClock, recorder: Recorder
) -> None:
    fake_proxy.launch()
    fake_proxy.answering = False
    sup = supervisor(fake_proxy, clock, recorder, attach_grace=30.0)
    sup.step()
    assert sup.status.phase == "starting"
    clock.advance(20)
    sup.step()
    assert sup.status.phase == "starting"  # within the grace: no restart
    fake_proxy.answering = True
    sup.step()
    assert sup.status.phase == "running"
    assert recorder.transitions == ["up"]

    fake_proxy.crash()
    fake_proxy.launch()  # someone starts another one that never answers
    fake_proxy.answering = False
    sup.step()  # a new pid: attached again
    clock.advance(31)
    sup.step()
    assert "stop" in fake_proxy.calls
    assert sup.status.phase == "restarting"
    assert "did not answer within 30 s" in (sup.status.reason or "")


def test_a_crash_is_reported_and_restarted_with_backoff_then_back(
    fake_proxy: FakeProxy, clock: FakeClock, recorder: Recorder
) -> None:
    sup = supervisor(fake_proxy, clock, recorder, backoff_initial=1.0)
    sup.step()
    first_pid = sup.status.pid
    fake_proxy.crash()
    assert sup.step() == pytest.approx(1.0)  # the first restart is due in 1 s
    assert sup.status.phase == "restarting"
    assert recorder.transitions == ["up", "down"]
    assert f"pid {first_pid}" in (sup.status.reason or "")

    clock.advance(0.5)
    assert sup.step() == pytest.approx(0.5)  # not yet
    assert fake_proxy.calls == ["start"]
    clock.advance(0.5)
    sup.step()
    assert fake_proxy.calls == ["start", "start"]
    assert sup.status.phase == "running"
    assert sup.status.pid != first_pid
    assert sup.status.started_by_tray
    assert recorder.transitions == ["up", "down", "back"]


def test_backoff_doubles_and_it_gives_up_after_five_failures_in_ten_minutes(
    fake_proxy: FakeProxy, clock: FakeClock, recorder: Recorder
) -> None:
    sup = supervisor(fake_proxy, clock, recorder, backoff_initial=1.0, failure_limit=5)
    sup.step()
    fake_proxy.crash()
    delays = [sup.step()]  # the crash: failure 1
    fake_proxy.start_failures = [LOG_TAIL] * 10
    for _ in range(4):
        clock.advance(delays[-1])
        delays.append(sup.step())  # each restart fails
    assert delays[:4] == [1.0, 2.0, 4.0, 8.0]
    assert sup.status.phase == "error"
    assert sup.status.reason is not None
    assert "gave up after 5 failures in 10 minutes" in sup.status.reason
    assert "config.yaml:4: model_list: no models" in sup.status.reason  # the log lines say why
    assert recorder.transitions[-1] == "gave_up"

    starts = fake_proxy.calls.count("start")
    clock.advance(3600)
    sup.step()
    assert fake_proxy.calls.count("start") == starts  # no more retries


def test_failures_older_than_the_window_are_forgotten(
    fake_proxy: FakeProxy, clock: FakeClock, recorder: Recorder
) -> None:
    sup = supervisor(fake_proxy, clock, recorder, backoff_initial=1.0, failure_limit=3, failure_window=600.0)
    sup.step()
    for _ in range(2):  # two crashes, each restarted successfully
        fake_proxy.crash()
        clock.advance(sup.step())
        sup.step()
    clock.advance(601)
    fake_proxy.crash()
    assert sup.step() == 1.0  # counted as the first failure again
    assert sup.status.phase == "restarting"


def test_the_first_start_failing_is_retried_and_reported(
    fake_proxy: FakeProxy, clock: FakeClock, recorder: Recorder
) -> None:
    fake_proxy.start_failures = [LOG_TAIL]
    sup = supervisor(fake_proxy, clock, recorder)
    assert sup.step() == 1.0
    assert recorder.transitions == ["start_failed"]
    assert sup.status.reason == LOG_TAIL
    clock.advance(1.0)
    sup.step()
    assert sup.status.phase == "running"
    assert recorder.transitions == ["start_failed", "up"]


PORT_TAKEN = (
    "port 4000 on 127.0.0.1 is already in use by another program\n"
    "  stop that program, or set another `port:` under `litellm:` in /cfg/ccproxy.yaml"
)


@pytest.mark.parametrize(
    ("code", "detail"),
    [
        (EXIT_PORT, PORT_TAKEN),
        (EXIT_CONFIG, "the configuration is invalid:\n  config.yaml:4: model_list: no models"),
    ],
)
def test_a_start_a_retry_cannot_fix_is_an_error_at_once_not_a_restart_loop(
    fake_proxy: FakeProxy, clock: FakeClock, recorder: Recorder, code: int, detail: str
) -> None:
    fake_proxy.start_failures = [StartFailed(f"the proxy exited with code {code}:\n{detail}", code, detail)]
    sup = supervisor(fake_proxy, clock, recorder)
    sup.step()
    assert sup.status.phase == "error"
    assert sup.status.reason == detail  # the menu's first line is the cause, not "exited with code"
    assert recorder.transitions == ["gave_up"]
    clock.advance(3600)
    sup.step()
    assert fake_proxy.calls == ["start"]  # no retries
    sup.request_start()  # the person fixed it and pressed Start
    sup.step()
    assert sup.status.phase == "running"


def test_a_proxy_whose_state_file_vanished_but_answers_is_not_restarted(
    fake_proxy: FakeProxy, clock: FakeClock, recorder: Recorder
) -> None:
    sup = supervisor(fake_proxy, clock, recorder)
    sup.step()
    fake_proxy.state_file_lost = True  # the config folder was deleted under the running proxy
    clock.advance(sup.step())
    assert sup.status.phase == "running"
    assert fake_proxy.calls == ["start"]
    fake_proxy.answering = False  # now it really is gone
    sup.step()
    assert sup.status.phase == "restarting"


def test_missed_health_checks_degrade_then_restart(
    fake_proxy: FakeProxy, clock: FakeClock, recorder: Recorder
) -> None:
    sup = supervisor(fake_proxy, clock, recorder, unhealthy_limit=3)
    sup.step()
    fake_proxy.answering = False
    sup.step()
    assert sup.status.phase == "degraded"
    assert sup.status.reason == "1 failed health check"
    fake_proxy.answering = True
    sup.step()
    assert sup.status.phase == "running"
    assert recorder.transitions == ["up"]  # a blip is not a crash

    fake_proxy.answering = False
    for _ in range(3):
        sup.step()
    assert fake_proxy.calls == ["start", "stop"]  # the hung proxy is stopped
    assert sup.status.phase == "restarting"
    assert recorder.transitions == ["up", "down"]


def test_stop_from_the_menu_is_not_a_crash(
    fake_proxy: FakeProxy, clock: FakeClock, recorder: Recorder
) -> None:
    sup = supervisor(fake_proxy, clock, recorder)
    sup.step()
    sup.request_stop()
    sup.step()
    assert sup.status.phase == "stopped"
    assert recorder.transitions == ["up", "stopped"]
    clock.advance(3600)
    sup.step()
    assert fake_proxy.calls == ["start", "stop"]  # nothing restarted

    outside = fake_proxy.launch()  # `ccproxy start` meanwhile: attached, not ours
    sup.step()
    assert sup.status == ProxyStatus("running", outside.url, outside.pid, started_by_tray=False)


def test_start_from_the_menu_after_giving_up_tries_again_at_once(
    fake_proxy: FakeProxy, clock: FakeClock, recorder: Recorder
) -> None:
    fake_proxy.start_failures = [LOG_TAIL] * 5
    sup = supervisor(fake_proxy, clock, recorder, failure_limit=5)
    for _ in range(5):
        clock.advance(sup.step())
    assert sup.status.phase == "error"
    sup.request_start()
    sup.step()
    assert sup.status.phase == "running"
    assert sup.status.attempt == 0


def test_restart_from_the_menu_replaces_an_attached_proxy_with_one_of_ours(
    fake_proxy: FakeProxy, clock: FakeClock, recorder: Recorder
) -> None:
    outside = fake_proxy.launch()
    sup = supervisor(fake_proxy, clock, recorder)
    sup.step()
    sup.request_restart()
    sup.step()
    assert fake_proxy.calls == ["stop", "start"]
    assert sup.status.pid != outside.pid
    assert sup.status.started_by_tray


def test_a_proxy_replaced_from_outside_is_followed_and_no_longer_ours(
    fake_proxy: FakeProxy, clock: FakeClock, recorder: Recorder
) -> None:
    sup = supervisor(fake_proxy, clock, recorder)
    sup.step()
    replacement = fake_proxy.launch()  # `ccproxy restart`
    sup.step()
    assert sup.status.pid == replacement.pid
    assert not sup.status.started_by_tray
    sup.shutdown()
    assert fake_proxy.running == replacement


def test_without_autostart_nothing_starts(
    fake_proxy: FakeProxy, clock: FakeClock, recorder: Recorder
) -> None:
    sup = supervisor(fake_proxy, clock, recorder, autostart=False)
    sup.step()
    assert sup.status.phase == "stopped"
    assert fake_proxy.calls == []


def test_the_thread_handles_menu_requests_promptly(
    fake_proxy: FakeProxy, clock: FakeClock, recorder: Recorder
) -> None:
    changed = threading.Event()

    def on_change(status: ProxyStatus, transition: Transition) -> None:
        recorder(status, transition)
        if transition == "stopped":
            changed.set()

    sup = Supervisor(fake_proxy, time.monotonic, on_change, check_interval=60.0)  # type: ignore[arg-type]
    sup.start()
    try:
        deadline = time.monotonic() + 5
        while sup.status.phase != "running":
            assert time.monotonic() < deadline, "the supervisor thread did not start the proxy"
            time.sleep(0.01)
        sup.request_stop()  # the thread sleeps for 60 s between checks: the request must wake it
        assert changed.wait(5), "the stop request was not handled"
    finally:
        assert sup.shutdown(timeout=5)
    assert not any(t.name == "tray-supervisor" for t in threading.enumerate())
