"""Every page of the dashboard on a ledger with two weeks of requests, in real headless chromium: what each
page shows is what the CLI says for the same ledger, the pages work from the keyboard and in dark mode, and
each page's screenshot is saved for the docs (docs/images/dashboard-<page>.png, docs/dashboard.md)."""

from __future__ import annotations

import io
import json
import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.dashboard import PREFIX
from ccproxy_desktop.ledger.records import RequestRecord, TokenUsage
from ccproxy_desktop.ledger.store import Ledger
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import FakeProvider
from ccproxy_desktop.testing.helpers import run_ccproxy, wait_for
from ccproxy_desktop.testing.proxy_runner import RunningProxy, running_proxy

pytestmark = pytest.mark.proxy

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "docs" / "images"
AB_TEST = {
    "name": "opus-vs-sonnet",
    "label": "think",
    "variants": [{"model": "think"}, {"model": "default"}],
    "min_samples": 30,
}
CCPROXY: dict[str, Any] = {
    "hooks": ["extract_session_id", "rule_evaluator", "model_router", "capture_headers"],
    "default_model_passthrough": False,  # what no rule takes goes to `default` (sonnet), even if opus was asked
    "rules": [
        {"name": "background", "rule": "MatchModelRule", "params": [{"model_name": "haiku"}]},
        {"name": "think", "rule": "ThinkingRule"},
    ],
    "pricing": {
        "claude-sonnet-5": {"input": 3.0, "output": 15.0},
        "claude-opus-4-8": {"input": 15.0, "output": 75.0},
        "claude-haiku-4-5-20251001": {"input": 1.0, "output": 5.0},
    },
    "budgets": [
        {"name": "daily", "limit_usd": 8.0, "period": "day"},
        {"name": "monthly", "limit_usd": 150.0, "period": "month"},
        {"name": "api-weekly", "limit_usd": 40.0, "period": "week", "project": "api"},
    ],
    "ab_tests": [AB_TEST],
}
# (rule, requested model, routed model_name, provider model, $ per million input / output tokens)
ROUTES = [
    ("default", "claude-opus-4-8", "default", "anthropic/claude-sonnet-5", 3.0, 15.0),
    (
        "background",
        "claude-haiku-4-5-20251001",
        "background",
        "anthropic/claude-haiku-4-5-20251001",
        1.0,
        5.0,
    ),
    ("think", "claude-opus-4-8", "think", "anthropic/claude-opus-4-8", 15.0, 75.0),
]
DAYS = 14
ROWS = 700
SUBSCRIPTION_USED = 0.42


def _records(now: float) -> list[RequestRecord]:
    """ROWS requests over the DAYS days before `now` (the last minute included), as Claude Code sessions
    through the proxy would leave them: mostly the main model, background requests on haiku, thinking on
    opus or, for the A/B test, sonnet (which answers faster), a few failures."""
    rng = random.Random(20261203)
    sessions = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(12)]
    records = []
    for i in range(ROWS):
        ts = now - DAYS * 86400 + (i + 1) * DAYS * 86400 / ROWS - 30
        rule, requested, routed, provider, price_in, price_out = rng.choices(ROUTES, weights=(6, 3, 2))[0]
        variant = None
        latency = rng.lognormvariate(8.2 if rule != "background" else 6.8, 0.35)
        if rule == "think":
            routed = rng.choice(["think", "default"])
            provider = "anthropic/claude-opus-4-8" if routed == "think" else "anthropic/claude-sonnet-5"
            price_in, price_out = (15.0, 75.0) if routed == "think" else (3.0, 15.0)
            variant = f"{AB_TEST['name']}:{routed}"
            latency = rng.lognormvariate(8.6 if routed == "think" else 7.6, 0.2)
        outcome = "ok"
        if rng.random() < 0.05:
            outcome = rng.choice(
                ["error:RateLimitError", "error:OverloadedError", "error:APIConnectionError"]
            )
        usage = TokenUsage(
            input=rng.randint(50, 4000),
            output=rng.randint(20, 1500),
            cache_read=rng.randint(0, 60_000),
            cache_write_5m=rng.randint(0, 3000),
        )
        if outcome != "ok":
            usage = TokenUsage()
        usd = (usage.input * price_in + usage.output * price_out + usage.cache_read * price_in / 10) / 1e6
        records.append(
            RequestRecord(
                request_id=f"seed-{i:05d}",
                ts=ts,
                label=rule,
                requested_model=requested,
                routed_model=routed,
                provider_model=provider,
                usage=usage,
                cost_usd=round(usd, 6),
                latency_ms=latency if outcome == "ok" else rng.uniform(50, 400),
                ttfb_ms=latency / 4,
                outcome=outcome,
                stream=True,
                session_id=sessions[(i // 6) % len(sessions)],
                user=rng.choice([None, None, "alice", "bob"]),
                cached=rng.random() < 0.03,
                retried=1 if outcome == "ok" and rng.random() < 0.03 else 0,
                variant=variant if outcome == "ok" else None,
                project=rng.choice(["api", "web", "docs"]),
                agent="main",
            )
        )
    return records


def _seed(paths: ConfigPaths) -> None:
    now = time.time()
    with Ledger(paths.ledger_db) as ledger:
        for record in _records(now):
            ledger.record(record)
        assert ledger.flush(timeout=30), ledger.last_error
        ledger.add_event("config_reloaded", {"models_changed": False})
    paths.subscription_file.parent.mkdir(parents=True, exist_ok=True)
    windows = {
        "5h": {"used": SUBSCRIPTION_USED, "resets_at": int(now) + 3 * 3600, "status": "allowed"},
        "7d": {"used": 0.18, "resets_at": int(now) + 4 * 86400, "status": "allowed"},
    }
    account = {"updated_at": now, "windows": windows, "status": "allowed"}
    paths.subscription_file.write_text(json.dumps({"accounts": {"default": account}}))


@pytest.fixture(scope="module")
def seeded(provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    """A real proxy whose ledger already holds two weeks of requests."""
    paths = write_fake_config(
        tmp_path_factory.mktemp("ccproxy"), provider.base_url, free_port(), ccproxy=CCPROXY
    )
    _seed(paths)
    with running_proxy(paths) as running:
        yield running


def _json(proxy: RunningProxy, *args: str) -> Any:
    result = run_ccproxy(proxy.paths, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _sign_in(browser: Any, proxy: RunningProxy) -> None:
    result = run_ccproxy(proxy.paths, "dashboard", "--print-url")
    assert result.returncode == 0, result.stderr
    browser.get(result.stdout.strip())
    wait_for(lambda: browser.current_url == f"{proxy.url}{PREFIX}/", timeout=15)
    wait_for(lambda: _attr(browser, "now-today-requests") != "", timeout=15)


def _attr(browser: Any, element_id: str, name: str = "data-value") -> str:
    from selenium.webdriver.common.by import By

    return str(browser.find_element(By.ID, element_id).get_attribute(name) or "")


def _text(browser: Any, selector: str) -> str:
    from selenium.webdriver.common.by import By

    return "\n".join(e.text for e in browser.find_elements(By.CSS_SELECTOR, selector))


def _open(browser: Any, page: str) -> None:
    from selenium.webdriver.common.by import By

    browser.find_element(By.ID, f"tab-{page}").click()
    wait_for(lambda: browser.find_element(By.ID, f"page-{page}").is_displayed())


def _period(browser: Any, select_id: str, value: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element(By.ID, select_id)).select_by_value(value)


def _screenshot(browser: Any, name: str, max_height: int = 1500) -> Path:
    """The page down to the end of its content (at most `max_height` px) at the window's width, saved in
    docs/images/ as a 128-colour PNG (a quarter of the size, no visible loss on flat UI colours)."""
    from PIL import Image

    browser.execute_script("document.activeElement && document.activeElement.blur()")  # no focus ring
    width = browser.execute_script("return window.innerWidth")
    height = browser.execute_script(  # down to the end of the page's content, not of the window
        "return Math.ceil(document.querySelector('main').getBoundingClientRect().bottom + window.scrollY) + 16"
    )
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": min(height, max_height), "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        time.sleep(0.3)  # let the page lay out at the new height
        png = browser.get_screenshot_as_png()
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    IMAGES.mkdir(parents=True, exist_ok=True)
    target = IMAGES / name
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.quantize(colors=128, dither=Image.Dither.NONE).save(target, optimize=True)
    return target


def _luminance(css_color: str) -> float:
    """The WCAG relative luminance (0 black .. 1 white) of a computed `rgb(...)`/`rgba(...)` colour."""
    channels = [
        float(c) / 255 for c in css_color[css_color.index("(") + 1 : css_color.index(")")].split(",")[:3]
    ]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return sum(w * c for w, c in zip((0.2126, 0.7152, 0.0722), linear, strict=True))


def test_every_page_shows_the_ledger_and_is_saved_for_the_docs(browser: Any, seeded: RunningProxy) -> None:
    from selenium.webdriver.common.by import By

    browser.set_window_size(1280, 900)
    _sign_in(browser, seeded)

    # Now: today's figures as `usage --json`, the subscription windows as `status` says them, the latest rows
    today = _json(seeded, "usage", "--period", "today")
    wait_for(lambda: _attr(browser, "now-today-requests") == str(today["total"]["requests"]))
    assert float(_attr(browser, "now-today-cost")) == today["total"]["cost_usd"]
    wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#latest-body tr")) >= 25)
    newest = browser.find_element(By.CSS_SELECTOR, "#latest-body tr").get_attribute("data-id")
    assert newest == str(ROWS)  # newest first
    assert "5-hour window: 42% used, resets " in _text(browser, "#now-subscription")
    assert "7-day window: 18% used" in _text(browser, "#now-subscription")
    budgets = {b["name"]: b for b in _json(seeded, "budget")}
    for name, budget in budgets.items():
        cell = browser.find_element(By.CSS_SELECTOR, f'#now-budgets tr[data-name="{name}"] .spent')
        assert float(cell.get_attribute("data-value")) == budget["spent_usd"]
    assert "provider health: ok" in _text(browser, "#now-health")
    _screenshot(browser, "dashboard-now.png", max_height=1200)

    # Spend, all time, by model: every group as `usage --by model`, a bar per day, a forecast per budget
    _open(browser, "spend")
    _period(browser, "spend-period", "all")
    by_model = _json(seeded, "usage", "--period", "all", "--by", "model")
    wait_for(lambda: _attr(browser, "spend-total-requests") == str(ROWS))
    assert float(_attr(browser, "spend-total-cost")) == by_model["total"]["cost_usd"]
    for group in by_model["groups"]:
        row = browser.find_element(By.CSS_SELECTOR, f'#spend-groups tr[data-key="{group["key"]}"] .cost')
        assert float(row.get_attribute("data-value")) == group["cost_usd"]
    bars = {r.get_attribute("x") for r in browser.find_elements(By.CSS_SELECTOR, "#spend-chart svg rect")}
    assert len(bars) >= DAYS  # one stacked bar per day with requests
    cards = browser.find_elements(By.CSS_SELECTOR, "#spend-forecast .card")
    assert {c.get_attribute("data-name") for c in cards} == set(budgets)
    assert all(c.find_elements(By.CSS_SELECTOR, "svg path.spent") for c in cards)
    sessions = _json(seeded, "usage", "--period", "all", "--by", "session")["groups"]
    top = browser.find_elements(By.CSS_SELECTOR, "#spend-sessions tr")
    assert len(top) == min(20, len(sessions)) and sessions[0]["key"] in top[0].text
    _screenshot(browser, "dashboard-spend.png")

    # Routing: requests and cost per rule as `usage --by rule`; what routing saved is priced
    _open(browser, "routing")
    _period(browser, "routing-period", "all")
    by_rule = {g["key"]: g for g in _json(seeded, "usage", "--period", "all", "--by", "rule")["groups"]}
    wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#routing-body tr")) == len(by_rule))
    for rule, group in by_rule.items():
        row = browser.find_element(By.CSS_SELECTOR, f'#routing-body tr[data-rule="{rule}"]')
        cells = row.find_elements(By.TAG_NAME, "td")
        assert cells[1].get_attribute("data-value") == str(group["requests"])
        assert float(cells[2].get_attribute("data-value")) == pytest.approx(group["cost_usd"], abs=1e-6)
    assert float(_attr(browser, "routing-saved")) > 0  # `default` sends what asked for opus to sonnet
    assert len(browser.find_elements(By.CSS_SELECTOR, "#routing-chart svg rect")) == len(by_rule)
    _screenshot(browser, "dashboard-routing.png")

    # A/B tests: the report of `ab report --json`, with its verdict
    _open(browser, "ab")
    (report,) = _json(seeded, "ab", "report")
    wait_for(
        lambda: bool(browser.find_elements(By.CSS_SELECTOR, f'#ab-body [data-test="{AB_TEST["name"]}"]'))
    )
    verdict = browser.find_element(By.CSS_SELECTOR, "#ab-body .verdict")
    assert verdict.get_attribute("data-winner") == (report["winner"] or "")
    assert report["reason"] in verdict.text
    for variant in report["variants"]:
        row = browser.find_element(By.CSS_SELECTOR, f'#ab-body tr[data-model="{variant["model"]}"]')
        assert row.find_elements(By.TAG_NAME, "td")[2].get_attribute("data-value") == str(variant["requests"])
    _screenshot(browser, "dashboard-ab.png")

    # Health, all time: requests, failures by kind and provider, latency percentiles
    _open(browser, "health")
    _period(browser, "health-period", "all")
    health = _health_from_ledger(seeded.paths)
    wait_for(lambda: _text(browser, "#health-summary").startswith(f"{ROWS} requests"))
    assert f"{health['failed']} failed" in _text(browser, "#health-summary")
    errors = _text(browser, "#health-errors")
    for outcome in health["outcomes"]:
        assert f"{outcome} anthropic" in errors
    assert _text(browser, "#health-latency").count(" ms") == 4  # p50, p90, p95, p99
    _screenshot(browser, "dashboard-health.png")

    # Config: both files, secret values hidden, valid, the last reload
    _open(browser, "config")
    wait_for(lambda: "both files are valid" in _text(browser, "#config-issues"))
    files = _text(browser, "#config-files")
    assert "ccproxy.yaml" in files and "config.yaml" in files and "model_list:" in files
    assert "api_key: \u2022\u2022\u2022 (hidden)" in files and "fake-provider-key" not in browser.page_source
    assert seeded.key not in browser.page_source
    assert "reloaded" in _text(browser, "#config-reloads")
    _screenshot(browser, "dashboard-config.png", max_height=1100)
    assert "error" not in browser.find_element(By.ID, "live").text


def _health_from_ledger(paths: ConfigPaths) -> dict[str, Any]:
    import sqlite3

    with sqlite3.connect(paths.ledger_db) as conn:
        failed = conn.execute("SELECT count(*) FROM requests WHERE outcome != 'ok'").fetchone()[0]
        outcomes = [r[0] for r in conn.execute("SELECT DISTINCT outcome FROM requests WHERE outcome != 'ok'")]
    return {"failed": failed, "outcomes": outcomes}


def test_the_pages_are_keyboard_navigable(browser: Any, seeded: RunningProxy) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _sign_in(browser, seeded)
    tab = browser.find_element(By.ID, "tab-now")
    tab.send_keys(Keys.ARROW_RIGHT)
    wait_for(lambda: browser.find_element(By.ID, "page-spend").is_displayed())
    assert browser.switch_to.active_element.get_attribute("id") == "tab-spend"
    assert browser.find_element(By.ID, "tab-spend").get_attribute("aria-selected") == "true"
    browser.switch_to.active_element.send_keys(Keys.END)
    wait_for(lambda: browser.find_element(By.ID, "page-config").is_displayed())
    browser.switch_to.active_element.send_keys(Keys.HOME)
    wait_for(lambda: browser.find_element(By.ID, "page-now").is_displayed())
    # Tab from the page list reaches the model switch, and a selection there is made without a mouse
    seen = []
    for _ in range(8):
        browser.switch_to.active_element.send_keys(Keys.TAB)
        seen.append(browser.switch_to.active_element.get_attribute("id"))
        if seen[-1] == "model-select":
            break
    assert seen[-1] == "model-select", seen
    assert "tab-spend" not in seen  # one stop for the whole page list (roving tabindex)
    outline = browser.switch_to.active_element.value_of_css_property("outline-style")
    assert outline != "none"  # the focus is visible


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_light_and_dark_mode_follow_the_system(browser: Any, seeded: RunningProxy, scheme: str) -> None:
    from selenium.webdriver.common.by import By

    browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]}
    )
    browser.set_window_size(1280, 900)
    _sign_in(browser, seeded)
    body = browser.find_element(By.TAG_NAME, "body")
    background = _luminance(body.value_of_css_property("background-color"))
    text = _luminance(body.value_of_css_property("color"))
    card = _luminance(
        browser.find_element(By.CSS_SELECTOR, ".card").value_of_css_property("background-color")
    )
    if scheme == "dark":
        assert background < 0.05 and card < 0.05 and text > 0.6
    else:
        assert background > 0.85 and card > 0.85 and text < 0.05
    ratio = (max(background, text) + 0.05) / (min(background, text) + 0.05)
    assert ratio > 7  # readable: WCAG AAA contrast for body text
    if scheme == "dark":
        wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#latest-body tr")) >= 25)
        _screenshot(browser, "dashboard-now-dark.png", max_height=900)


def test_a_restarted_proxy_signs_the_open_page_out(browser: Any, seeded: RunningProxy) -> None:
    """A restart ends every session (a new cookie key): the open page says so rather than spinning."""
    from selenium.webdriver.common.by import By

    _sign_in(browser, seeded)
    wait_for(lambda: browser.find_element(By.ID, "live").text == "live", timeout=15)
    result = run_ccproxy(seeded.paths, "restart")
    assert result.returncode == 0, result.stderr
    wait_for(lambda: "Signed out" in browser.find_element(By.TAG_NAME, "body").text, timeout=30)
    assert "ccproxy dashboard" in browser.find_element(By.TAG_NAME, "body").text
