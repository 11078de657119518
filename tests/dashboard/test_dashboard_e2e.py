"""The dashboard in real headless chromium against a real proxy and the fake provider."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from ccproxy_desktop.dashboard import PREFIX
from ccproxy_desktop.testing.fake_provider import FakeProvider
from ccproxy_desktop.testing.helpers import run_ccproxy, wait_for, wait_for_rows
from ccproxy_desktop.testing.proxy_runner import RunningProxy

pytestmark = pytest.mark.proxy


def _client(proxy: RunningProxy) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=proxy.url, api_key=proxy.key, max_retries=0, timeout=60)


def _ask(proxy: RunningProxy, model: str = "claude-sonnet-5", **extra: Any) -> None:
    _client(proxy).messages.create(
        model=model, max_tokens=50, messages=[{"role": "user", "content": "hello"}], **extra
    )


def _url(proxy: RunningProxy) -> str:
    result = run_ccproxy(proxy.paths, "dashboard", "--print-url")
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert url.startswith(f"{proxy.url}{PREFIX}/login#token=")
    return url


def _sign_in(browser: Any, proxy: RunningProxy) -> None:
    browser.get(_url(proxy))
    wait_for(lambda: browser.current_url == f"{proxy.url}{PREFIX}/", timeout=15)
    wait_for(lambda: _attr(browser, "now-today-requests") != "", timeout=15)


def _attr(browser: Any, element_id: str, name: str = "data-value") -> str:
    from selenium.webdriver.common.by import By

    return str(browser.find_element(By.ID, element_id).get_attribute(name) or "")


def _json(proxy: RunningProxy, *args: str) -> Any:
    result = run_ccproxy(proxy.paths, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_numbers_equal_usage_and_budget_json(browser: Any, proxy: RunningProxy) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    before = wait_for_rows(proxy.paths, 0)
    _ask(proxy)
    _ask(proxy, "claude-opus-4-8")
    _ask(proxy, "claude-haiku-4-5-20251001")
    wait_for_rows(proxy.paths, before + 3)
    _sign_in(browser, proxy)
    today = _json(proxy, "usage", "--period", "today")
    month = _json(proxy, "usage", "--period", "month")
    budgets = _json(proxy, "budget")
    assert today["total"]["requests"] >= 3
    wait_for(lambda: _attr(browser, "now-today-requests") == str(today["total"]["requests"]))
    assert float(_attr(browser, "now-today-cost")) == today["total"]["cost_usd"]
    assert float(_attr(browser, "now-month-cost")) == month["total"]["cost_usd"]
    assert _attr(browser, "now-month-requests") == str(month["total"]["requests"])
    for budget in budgets:
        cell = browser.find_element(By.CSS_SELECTOR, f'#now-budgets tr[data-name="{budget["name"]}"] .spent')
        assert float(cell.get_attribute("data-value")) == budget["spent_usd"]
    # Spend, by rule, this month: the totals and every group as `usage --by rule`
    browser.find_element(By.ID, "tab-spend").click()
    Select(browser.find_element(By.ID, "spend-by")).select_by_value("rule")
    by_rule = _json(proxy, "usage", "--period", "month", "--by", "rule")
    wait_for(lambda: _attr(browser, "spend-by-label", "textContent") == "rule")
    wait_for(lambda: _attr(browser, "spend-total-requests") == str(by_rule["total"]["requests"]))
    assert float(_attr(browser, "spend-total-cost")) == by_rule["total"]["cost_usd"]
    for group in by_rule["groups"]:
        row = browser.find_element(By.CSS_SELECTOR, f'#spend-groups tr[data-key="{group["key"]}"] .cost')
        assert float(row.get_attribute("data-value")) == group["cost_usd"]
    assert browser.find_elements(By.CSS_SELECTOR, "#spend-chart svg rect")
    # the other pages render without an error
    for page in ("routing", "ab", "health", "config"):
        browser.find_element(By.ID, f"tab-{page}").click()
        wait_for(browser.find_element(By.ID, f"page-{page}").is_displayed)
    wait_for(lambda: "both files are valid" in browser.find_element(By.ID, "config-issues").text)
    assert proxy.key not in browser.page_source
    assert "error" not in browser.find_element(By.ID, "live").text


def test_a_request_appears_without_reload(browser: Any, proxy: RunningProxy) -> None:
    from selenium.webdriver.common.by import By

    _sign_in(browser, proxy)
    wait_for(lambda: browser.find_element(By.ID, "live").text == "live", timeout=15)
    browser.execute_script("window.__marker = 1")
    _ask(proxy, "claude-opus-4-8", thinking={"type": "enabled", "budget_tokens": 1024})
    newest = next(iter(_json_rows(proxy)))

    def shown() -> bool:
        return bool(browser.find_elements(By.CSS_SELECTOR, f'#latest-body tr[data-id="{newest}"]'))

    wait_for(shown, timeout=15)
    assert browser.execute_script("return window.__marker") == 1  # the same page: no reload
    row = browser.find_element(By.CSS_SELECTOR, f'#latest-body tr[data-id="{newest}"]')
    assert "think" in row.text and "claude-opus-4-8" in row.text


def _json_rows(proxy: RunningProxy) -> list[int]:
    import sqlite3

    wait_for(lambda: _pending(proxy) == 0)
    with sqlite3.connect(proxy.paths.ledger_db) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM requests ORDER BY id DESC LIMIT 5")]


def _pending(proxy: RunningProxy) -> int:
    status = httpx.get(f"{proxy.url}/ccproxy/status", headers={"x-api-key": proxy.key}).json()
    return int(status["ledger"]["pending"])


def test_model_switch_on_the_page_routes_the_next_request(
    browser: Any, proxy: RunningProxy, provider: FakeProvider
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _sign_in(browser, proxy)
    try:
        Select(browser.find_element(By.ID, "model-select")).select_by_value("think")
        browser.find_element(By.ID, "model-apply").click()
        wait_for(lambda: _attr(browser, "model-current", "data-model") == "think")
        listed = run_ccproxy(proxy.paths, "model", "list").stdout
        assert "* think" in listed
        provider.clear()
        _ask(proxy, "claude-sonnet-5")
        assert [r.model for r in provider.requests] == ["claude-opus-4-8"]  # think's model
        Select(browser.find_element(By.ID, "model-select")).select_by_value("")
        browser.find_element(By.ID, "model-apply").click()
        wait_for(lambda: _attr(browser, "model-current", "data-model") == "")
        provider.clear()
        _ask(proxy, "claude-sonnet-5")
        assert [r.model for r in provider.requests] == ["claude-sonnet-5"]
    finally:
        run_ccproxy(proxy.paths, "model", "auto")


def test_a_browser_without_the_token_gets_nothing(browser: Any, proxy: RunningProxy) -> None:
    browser.get(f"{proxy.url}{PREFIX}/")
    assert "ccproxy dashboard" in browser.page_source and "now-today-cost" not in browser.page_source
    browser.get(f"{proxy.url}{PREFIX}/api/now")
    assert "not signed in" in browser.page_source
    # a reused token: the first browser redeemed it, a second attempt is refused
    url = _url(proxy)
    browser.get(url)
    wait_for(lambda: browser.current_url == f"{proxy.url}{PREFIX}/", timeout=15)
    browser.delete_all_cookies()
    browser.get(url)
    wait_for(lambda: "already used or has expired" in browser.page_source, timeout=15)
    browser.get(f"{proxy.url}{PREFIX}/api/now")
    assert "not signed in" in browser.page_source


def test_foreign_origin_and_rebinding_host_get_nothing(browser: Any, proxy: RunningProxy) -> None:
    _sign_in(browser, proxy)
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    assert len(cookies) == 1
    (cookie,) = browser.get_cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == PREFIX
    jar = "; ".join(f"{k}={v}" for k, v in cookies.items())
    ok = httpx.get(f"{proxy.url}{PREFIX}/api/now", headers={"cookie": jar})
    assert ok.status_code == 200 and "today" in ok.json()
    port = proxy.url.rsplit(":", 1)[1]
    refused = [
        {"cookie": jar, "origin": "http://evil.example"},
        {"cookie": jar, "origin": "null"},
        {"cookie": jar, "host": f"evil.example:{port}"},  # DNS rebinding: evil.example resolved to 127.0.0.1
        {"cookie": jar, "sec-fetch-site": "cross-site"},
        {"cookie": jar + "x"},
        {},
    ]
    for headers in refused:
        response = httpx.get(f"{proxy.url}{PREFIX}/api/now", headers=headers)
        assert response.status_code in (401, 403), headers
        assert "today" not in response.text
    post = httpx.post(
        f"{proxy.url}{PREFIX}/api/model",
        headers={"cookie": jar, "origin": "http://evil.example", "content-type": "application/json"},
        content=b'{"model": "think"}',
    )
    assert post.status_code == 403 and not proxy.paths.model_override_file.exists()
    # a page of a foreign origin in the real browser cannot read the API (its fetch is refused)
    with _other_site() as other:
        browser.get(other)
        browser.set_script_timeout(15)
        result = browser.execute_async_script(
            "var done = arguments[arguments.length - 1]; fetch(arguments[0], {credentials: 'include'})"
            ".then(function (r) { return r.text().then(function (t) { done(r.status + ' ' + t); }); })"
            ".catch(function (e) { done('blocked ' + e); });",
            f"{proxy.url}{PREFIX}/api/now",
        )
    assert result.startswith("blocked") and "today" not in result
    # tokens are minted only for the master key, never for a browser
    assert httpx.post(f"{proxy.url}{PREFIX}/api/token").status_code == 403
    assert httpx.post(f"{proxy.url}{PREFIX}/api/token", headers={"x-api-key": "nope"}).status_code == 403
    with_origin = httpx.post(
        f"{proxy.url}{PREFIX}/api/token", headers={"x-api-key": proxy.key, "origin": proxy.url}
    )
    assert with_origin.status_code == 403


@contextlib.contextmanager
def _other_site() -> Iterator[str]:
    """Another web site on this machine (another port of 127.0.0.1): a different origin."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><p>another site</p>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
