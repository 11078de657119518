"""The retry policy: backoff delays, which statuses are retried, when the fallback model takes over."""

from __future__ import annotations

import pytest

from ccproxy_desktop.config.schema import CCProxySection
from ccproxy_desktop.proxy.retry import Attempt, RetryPolicy, Step, parse_retry_after

POLICY = RetryPolicy(
    max_attempts=3, initial_delay=1.0, max_delay=60.0, multiplier=2.0, fallback_model="backup"
)


@pytest.mark.parametrize(
    ("policy", "retry", "retry_after", "expected"),
    [
        (POLICY, 1, None, 1.0),
        (POLICY, 2, None, 2.0),
        (POLICY, 3, None, 4.0),
        (RetryPolicy(initial_delay=0.5, multiplier=3.0, max_delay=60), 3, None, 4.5),
        (RetryPolicy(initial_delay=10, multiplier=2.0, max_delay=15), 3, None, 15.0),
        (POLICY, 1, 7.0, 7.0),  # the provider's retry-after wins over the backoff
        (POLICY, 3, 0.0, 0.0),
        (POLICY, 1, 600.0, 60.0),  # but never more than max_delay
        (RetryPolicy(initial_delay=0.0), 5, None, 0.0),
    ],
)
def test_delay(policy: RetryPolicy, retry: int, retry_after: float | None, expected: float) -> None:
    assert policy.delay(retry, retry_after) == pytest.approx(expected)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 529])
def test_retryable_statuses_are_retried_then_fall_back(status: int) -> None:
    first = Attempt(POLICY, routed_model="main")
    assert first.next_step(status) is Step.RETRY
    second = first.following(Step.RETRY)
    assert (second.number, second.fallback_model) == (1, None)
    third = second.following(Step.RETRY)
    third.routed_model = "main"
    assert third.next_step(status) is Step.FALLBACK
    fallback = third.following(Step.FALLBACK)
    assert (fallback.number, fallback.fallback_model, fallback.retries) == (3, "backup", 3)
    assert fallback.next_step(status) is Step.GIVE_UP  # the fallback gets one try


@pytest.mark.parametrize("status", [400, 401, 403, 404, 408, 413, 422, 501, 504])
def test_other_statuses_are_not_retried(status: int) -> None:
    assert Attempt(POLICY).next_step(status) is Step.GIVE_UP
    assert not Attempt(POLICY).will_retry(status)


def test_nothing_is_retried_once_the_response_started() -> None:
    attempt = Attempt(POLICY)
    attempt.committed = True
    assert attempt.next_step(529) is Step.GIVE_UP


def test_a_refusal_of_the_proxy_itself_is_never_retried() -> None:
    attempt = Attempt(POLICY)
    attempt.refused = True  # e.g. a user's rate limit: a 429 that must reach the client as it is
    assert attempt.next_step(429) is Step.GIVE_UP


def test_disabled_means_one_try() -> None:
    assert Attempt(RetryPolicy(enabled=False, fallback_model="backup")).next_step(529) is Step.GIVE_UP


def test_no_fallback_to_the_model_that_just_failed() -> None:
    last = Attempt(POLICY, number=2, routed_model="backup")
    assert last.next_step(503) is Step.GIVE_UP
    assert Attempt(RetryPolicy(max_attempts=1)).next_step(503) is Step.GIVE_UP
    assert (
        Attempt(RetryPolicy(max_attempts=1, fallback_model="b"), routed_model="a").next_step(503)
        is Step.FALLBACK
    )


def test_wait_before_uses_the_retry_number_and_retry_after() -> None:
    attempt = Attempt(RetryPolicy(initial_delay=0.5, multiplier=2.0), number=1)
    assert attempt.wait_before(Step.RETRY) == 1.0
    attempt.retry_after = 3.0
    assert attempt.wait_before(Step.RETRY) == 3.0
    assert attempt.wait_before(Step.FALLBACK) == 0.0


@pytest.mark.parametrize("status", [429, 500, 529])
def test_claude_codes_requests_go_straight_to_the_fallback_or_through(status: int) -> None:
    attempt = Attempt(POLICY, client_retries=True)
    assert attempt.next_step(status) is Step.FALLBACK  # never the same model again: Claude Code retries
    fallback = attempt.following(Step.FALLBACK)
    assert fallback.client_retries and fallback.next_step(status) is Step.GIVE_UP
    no_fallback = RetryPolicy(fallback_model=None)
    assert Attempt(no_fallback, client_retries=True).next_step(status) is Step.GIVE_UP
    retried_anyway = RetryPolicy(fallback_model=None, defer_to_claude_code=False)
    assert Attempt(retried_anyway, client_retries=True).next_step(status) is Step.RETRY


def test_from_settings_reads_the_retry_keys() -> None:
    section = CCProxySection.model_validate(
        {"retry_max_attempts": 5, "retry_initial_delay": 0.05, "retry_fallback_model": "x"}
    )
    assert RetryPolicy.from_settings(section) == RetryPolicy(True, 5, 0.05, 60.0, 2.0, "x")
    assert RetryPolicy.from_settings(CCProxySection()) == RetryPolicy()


@pytest.mark.parametrize(
    ("value", "expected"), [("3", 3.0), (" 1.5 ", 1.5), ("-1", None), ("soon", None), (None, None)]
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected
