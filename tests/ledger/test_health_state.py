"""The provider health verdict: degraded on a majority of provider failures among the latest requests."""

from __future__ import annotations

import pytest

from ccproxy_desktop.ledger.health_state import is_provider_failure, provider_health

OK = "ok"
FAIL = "error:InternalServerError"


@pytest.mark.parametrize(
    ("outcome", "provider_failure"),
    [
        ("ok", False),
        ("refused", False),  # a blocking budget
        ("error:invalid_request_error", False),  # our own refusal (a rule, a limit)
        ("error:rate_limit_error", False),  # our own per-user limit
        ("error:BadRequestError", False),  # the client's mistake, the provider answered
        ("error:ContextWindowExceededError", False),
        ("error:InternalServerError", True),
        ("error:RateLimitError", True),
        ("error:Timeout", True),
        ("error:APIConnectionError", True),
        ("error:MalformedStream", True),
        ("error:AuthenticationError", True),  # a credential the provider refuses: requests fail
        ("error:unknown", True),
    ],
)
def test_provider_failures(outcome: str, provider_failure: bool) -> None:
    assert is_provider_failure(outcome) is provider_failure


@pytest.mark.parametrize(
    ("newest_first", "state"),
    [
        ([], "ok"),
        ([FAIL, FAIL], "ok"),  # fewer than 3 failures: noise
        ([FAIL, FAIL, FAIL], "degraded"),
        ([FAIL, FAIL, FAIL, OK, OK], "degraded"),  # 3 of 5
        ([OK, OK, OK, FAIL, FAIL, FAIL], "ok"),  # 3 of 6 is not a majority
        ([FAIL] * 5 + [OK] * 5, "ok"),  # half
        ([FAIL] * 6 + [OK] * 4, "degraded"),
        ([OK] * 6 + [FAIL] * 10, "ok"),  # only the latest 10 count: 4 of 10
        (["refused", "error:BadRequestError"] * 3, "ok"),  # not the provider's fault
    ],
)
def test_state(newest_first: list[str], state: str) -> None:
    assert provider_health(newest_first).state == state


def test_the_reason_names_the_failures() -> None:
    verdict = provider_health([FAIL, "error:Timeout", FAIL, OK])
    assert verdict.reason == (
        "3 of the last 4 requests failed at the provider (InternalServerError x2, Timeout x1)"
    )
    assert (verdict.recent_requests, verdict.recent_failures) == (4, 3)
    assert provider_health([OK]).reason is None
