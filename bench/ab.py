"""What A/B tests cost: the per-request variant choice, and `ccproxy ab report` over a large ledger.

Run: ``python bench/ab.py``. Measures, in one process:

* the `model_router` hook on a request whose label is under test (route + SHA-256 assignment + alias
  resolution) against the same hook with no A/B test configured (the baseline);
* building one test's report (one SQL read of the test's rows, Mann-Whitney U and z-tests in Python) over a
  ledger of ``ROWS`` rows, half of them in the test, against ``usage(all, by model)`` on the same file.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from pathlib import Path

from ccproxy_desktop.config.loader import Settings
from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.config.schema import ABTestSpec, CCProxySection, LiteLLMConfig, ServerSection
from ccproxy_desktop.ledger.ab_report import ab_report
from ccproxy_desktop.ledger.records import RequestRecord
from ccproxy_desktop.ledger.schema import connect
from ccproxy_desktop.ledger.store import Ledger
from ccproxy_desktop.pipeline.ab import ABTests
from ccproxy_desktop.pipeline.context import RequestContext
from ccproxy_desktop.pipeline.hooks import ModelRouterHook
from ccproxy_desktop.pipeline.pipeline import PipelineEnv
from ccproxy_desktop.pipeline.router import ModelRouter, StaticCatalog

ROWS = 100_000
CALLS = 20_000
TEST = ABTestSpec.model_validate(
    {"name": "opus-vs-sonnet", "label": "default", "variants": [{"model": "opus"}, {"model": "sonnet"}]}
)


class _NoCount:
    def exceeds(self, system: object, tools: object, messages: object, threshold: int) -> bool:
        return False

    async def exceeds_async(self, system: object, tools: object, messages: object, threshold: int) -> bool:
        return False


def _env(tests: ABTests) -> PipelineEnv:
    names = ("default", "opus", "sonnet")
    settings = Settings(
        paths=ConfigPaths(Path("/nowhere")),
        server=ServerSection(),
        ccproxy=CCProxySection(default_model_passthrough=False),
        litellm=LiteLLMConfig.model_validate(
            {"model_list": [{"model_name": n, "litellm_params": {"model": f"anthropic/{n}"}} for n in names]}
        ),
    )
    return PipelineEnv(settings, _NoCount(), ModelRouter(StaticCatalog(names)), ab_tests=tests)


def _route_us(tests: ABTests) -> float:
    hook = ModelRouterHook(_env(tests))
    contexts = [
        RequestContext(
            f"r{i}", "anthropic_messages", "claude-opus-4-8", session_id=f"s{i % 500}", label="default"
        )
        for i in range(CALLS)
    ]

    async def run() -> float:
        start = time.perf_counter()
        for ctx in contexts:
            await hook(ctx)
        return (time.perf_counter() - start) / CALLS * 1e6

    return statistics.median(asyncio.run(run()) for _ in range(5))


_BASE = RequestRecord(
    "", 1_700_000_000.0, "default", "claude-opus-4-8", "default", "anthropic/x", cost_usd=0.01
)


def _fill(path: Path) -> None:
    """ROWS rows: a quarter each on the two variants (3% failures, lognormal latencies), half untagged."""
    rng = random.Random(3)
    with Ledger(path) as ledger:
        for i in range(ROWS):
            model = ("opus", "sonnet", "default", "default")[i % 4]
            ok = rng.random() < 0.97
            ledger.record(
                replace(
                    _BASE,
                    request_id=f"r{i}",
                    routed_model=model,
                    latency_ms=rng.lognormvariate(7.5, 0.5),
                    outcome="ok" if ok else "error:APIError",
                    variant=None if model == "default" else f"{TEST.name}:{model}",
                )
            )
        ledger.flush(60)


def _timed_ms(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(5):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    without, with_test = _route_us(ABTests()), _route_us(ABTests([TEST]))
    print(f"model_router, no A/B test: {without:.2f} us/request")
    print(f"model_router, label under test: {with_test:.2f} us/request (+{with_test - without:.2f} us)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.db"
        _fill(path)
        with closing(connect(path, busy_timeout=5.0)) as conn:
            report_ms = _timed_ms(lambda: ab_report(conn, TEST))
        with Ledger(path) as ledger:
            usage_ms = _timed_ms(lambda: ledger.usage(None, None, "model"))
    print(f"ab report, {ROWS // 2:,} of {ROWS:,} rows in the test: {report_ms:.0f} ms")
    print(
        f"usage(all, by model) on the same ledger (baseline): {usage_ms:.0f} ms ({report_ms / usage_ms:.1f}x)"
    )


if __name__ == "__main__":
    main()
