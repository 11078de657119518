"""A real proxy (subprocess) routing to the fake provider, and real headless Debian chromium driven by
selenium through chromium-driver."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import FakeProvider
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy

RULES = [
    {"name": "background", "rule": "MatchModelRule", "params": [{"model_name": "haiku"}]},
    {"name": "think", "rule": "ThinkingRule"},
]
DASHBOARD_CCPROXY: dict[str, Any] = {
    "hooks": ["extract_session_id", "rule_evaluator", "model_router", "capture_headers"],
    "default_model_passthrough": True,
    "rules": RULES,
    "pricing": {
        "claude-sonnet-5": {"input": 3.0, "output": 15.0},
        "claude-opus-4-8": {"input": 15.0, "output": 75.0},
        "claude-haiku-4-5-20251001": {"input": 1.0, "output": 5.0},
    },
    "budgets": [
        {"name": "daily", "limit_usd": 5.0, "period": "day"},
        {"name": "monthly", "limit_usd": 100.0, "period": "month"},
    ],
}


@pytest.fixture(scope="module")
def proxy(provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    paths = write_fake_config(
        tmp_path_factory.mktemp("ccproxy"), provider.base_url, free_port(), ccproxy=DASHBOARD_CCPROXY
    )
    with running_proxy(paths) as running:
        yield running


def _chromium() -> tuple[str, str]:
    binary = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    assert binary and driver, "Debian's chromium and chromium-driver are needed (tests/run.sh installs them)"
    return binary, driver


@pytest.fixture
def browser() -> Iterator[Any]:
    """A fresh headless chromium (its own profile: no cookies) per test."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = _chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(flag)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    chrome.set_page_load_timeout(30)
    try:
        yield chrome
    finally:
        chrome.quit()
