"""The dashboard's page data without a browser: the Config page hides secrets and names file:line, the
Health page's percentiles are those of `status --health`."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.dashboard import data
from ccproxy_desktop.dashboard.redact import HIDDEN, redact
from ccproxy_desktop.ledger.records import RequestRecord
from ccproxy_desktop.ledger.store import Ledger
from ccproxy_desktop.testing.configs import write_fake_config


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("      api_key: sk-ant-api03-secret", f"      api_key: {HIDDEN}"),
        ("  master_key: 'sk-1234'  # mine", f"  master_key: {HIDDEN}"),
        ("  api_key: os.environ/ANTHROPIC_API_KEY", "  api_key: os.environ/ANTHROPIC_API_KEY"),
        ('  token: "${GITHUB_TOKEN}"', '  token: "${GITHUB_TOKEN}"'),
        ("  max_tokens: 4096", "  max_tokens: 4096"),
        ("  keyring: true", "  keyring: true"),
        ("# aws_secret_access_key: abc", f"# aws_secret_access_key: {HIDDEN}"),
        ("- password: hunter2", f"- password: {HIDDEN}"),
        ("    Authorization: Bearer sk-xyz", f"    Authorization: {HIDDEN}"),
        (
            "  litellm_params: {model: openai/gpt-4o, api_key: sk-live, api_base: 'http://h:1'}",
            f"  litellm_params: {{model: openai/gpt-4o, api_key: {HIDDEN}, api_base: 'http://h:1'}}",
        ),
        (
            '  extra_headers: {"x-api-key":"sk-j", "n": 1}',
            f'  extra_headers: {{"x-api-key":{HIDDEN}, "n": 1}}',
        ),
        ("  api_base: https://me:pa55@host/v1", f"  api_base: https://{HIDDEN}@host/v1"),
        (
            "  api_base: https://host/v1?key=AIza123&alt=sse",
            f"  api_base: https://host/v1?key={HIDDEN}&alt=sse",
        ),
        ("  model: anthropic/claude-sonnet-5", "  model: anthropic/claude-sonnet-5"),
    ],
)
def test_secret_values_are_hidden_and_the_rest_shown(line: str, shown: str) -> None:
    assert redact(line) == shown


def test_a_secret_spread_over_lines_is_hidden_line_for_line() -> None:
    text = (
        "model_list:\n"
        "  - model_name: vertex\n"
        "    vertex_credentials: |\n"
        '      {"private_key": "-----BEGIN PRIVATE KEY-----"}\n'
        "\n"
        "    api_keys:\n"
        "    - sk-one\n"
        "    - sk-two\n"
        "    rpm: 10\n"
    )
    shown = redact(text)
    assert shown.splitlines()[0:3] == text.splitlines()[0:3]
    assert len(shown.splitlines()) == len(text.splitlines())  # file:line still points at the right line
    assert "PRIVATE" not in shown and "sk-one" not in shown and "sk-two" not in shown
    assert shown.splitlines()[-1] == "    rpm: 10"


def _config(tmp_path: Path) -> ConfigPaths:
    return write_fake_config(tmp_path, "http://127.0.0.1:9", 4999)


def test_the_config_page_shows_both_files_without_keys_and_names_errors_by_line(tmp_path: Path) -> None:
    paths = _config(tmp_path)
    reader = data.Reader(paths.ledger_db)
    page = data.config_page(paths, reader)
    assert [f["path"] for f in page["files"]] == [str(paths.ccproxy_yaml), str(paths.litellm_yaml)]
    assert "fake-provider-key" not in str(page) and HIDDEN in page["files"][1]["text"]
    assert [i for i in page["issues"] if i["severity"] == "error"] == []
    text = paths.ccproxy_yaml.read_text()
    paths.ccproxy_yaml.write_text(text.replace("num_workers: 1", "num_workers: many"))
    line = 1 + paths.ccproxy_yaml.read_text().splitlines().index("  num_workers: many")
    (issue,) = data.config_page(paths, reader)["issues"]
    assert issue["severity"] == "error" and issue["line"] == line
    assert issue["text"].startswith(f"{paths.ccproxy_yaml}:{line}: ")


def test_health_percentiles_are_those_of_status_health(tmp_path: Path) -> None:
    paths = _config(tmp_path)
    rng = random.Random(5)
    ok_latencies: dict[str, list[float]] = {"a": [], "b": []}
    with Ledger(paths.ledger_db) as ledger:
        for i in range(501):
            ok = rng.random() > 0.1
            model, latency = rng.choice(["a", "b"]), rng.uniform(1, 5000)
            if ok:
                ok_latencies[model].append(latency)
            ledger.record(
                RequestRecord(
                    request_id=f"r{i}",
                    ts=1_000_000.0 + i,
                    label="default",
                    requested_model="m",
                    routed_model=model,
                    provider_model=rng.choice(["anthropic/x", "openai/y"]),
                    latency_ms=latency,
                    outcome="ok" if ok else "error:RateLimitError",
                )
            )
        assert ledger.flush()
        snapshot = ledger.health(None)
        page = data.health_page(data.Reader(paths.ledger_db), "all")
    assert (page["requests"], page["succeeded"]) == (snapshot.requests_total, snapshot.requests_succeeded)
    assert page["latency_ms"]["p50"] == snapshot.latency_p50_ms
    assert page["latency_ms"]["p95"] == snapshot.latency_p95_ms
    for row in page["by_model"]:  # nearest rank: the value at rank ceil(p/100 * n)
        values = sorted(ok_latencies[row["model"]])
        assert row["requests"] == len(values)
        assert row["p50"] == values[math.ceil(len(values) / 2) - 1]
        assert row["p95"] == values[math.ceil(95 * len(values) / 100) - 1]
    assert sum(e["requests"] for e in page["errors"]) == page["failed"] == snapshot.requests_failed
    assert {e["provider"] for e in page["errors"]} == {"anthropic", "openai"}


def test_a_custom_period_is_from_one_local_day_to_another_inclusive(tmp_path: Path) -> None:
    from datetime import datetime, timedelta

    from ccproxy_desktop.config.loader import load_settings
    from ccproxy_desktop.ledger.clock import local_zone

    paths = _config(tmp_path)
    zone = local_zone()
    first = datetime(2026, 11, 10, tzinfo=zone)
    with Ledger(paths.ledger_db) as ledger:
        for day in range(5):  # one $1 request at noon on each of Nov 10..14
            ts = (first + timedelta(days=day, hours=12)).timestamp()
            ledger.record(
                RequestRecord(f"r{day}", ts, "default", "m", "default", "anthropic/m", cost_usd=1.0)
            )
        assert ledger.flush()
        reader = data.Reader(paths.ledger_db)
        page = data.spend_page(
            load_settings(paths), ledger, reader, "custom", "model", "2026-11-11", "2026-11-13"
        )
    assert page["total"]["requests"] == 3 and page["total"]["cost_usd"] == 3.0
    assert [d[0] for d in page["days"]] == ["2026-11-11", "2026-11-12", "2026-11-13"]
    with pytest.raises(ValueError):
        data.period_bounds("fortnight")
