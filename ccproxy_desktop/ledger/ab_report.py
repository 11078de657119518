"""`ccproxy ab report`: each A/B test's variants as the ledger saw them, and the verdict of `abstats.decide`.

A request belongs to a variant when its ledger row's `variant` is `<test>:<model>` (set by the router). Rows
the proxy refused itself carry no variant, so every counted request reached the variant's model. Variants
are the configured ones; rows of a model no longer in the test are not compared.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from ccproxy_desktop.config.schema import ABTestSpec
from ccproxy_desktop.ledger.abstats import VariantSample, Verdict, decide, percentile

__all__ = ["ABReport", "VariantReport", "ab_report"]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


@dataclass(frozen=True)
class VariantReport:
    sample: VariantSample
    weight: float
    cost_usd: float  # known costs summed (failed requests are recorded at $0)
    priced_requests: int  # requests with a known cost

    @property
    def cost_per_request_usd(self) -> float | None:
        return self.cost_usd / self.priced_requests if self.priced_requests else None

    def to_json(self) -> dict[str, Any]:
        latencies = sorted(self.sample.latencies_ms)
        cost = self.cost_per_request_usd
        rate = self.sample.success_rate
        return {
            "model": self.sample.model,
            "weight": self.weight,
            "requests": self.sample.requests,
            "successes": self.sample.successes,
            "success_rate": None if rate is None else round(rate, 6),
            "latency_ms": {"p50": _ms(percentile(latencies, 50)), "p95": _ms(percentile(latencies, 95))},
            "cost_per_request_usd": None if cost is None else round(cost, 8),
        }


@dataclass(frozen=True)
class ABReport:
    test: ABTestSpec
    variants: list[VariantReport]
    verdict: Verdict

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.test.name,
            "label": self.test.label,
            "enabled": self.test.enabled,
            "significance": self.test.significance,
            "min_samples": self.test.min_samples,
            "variants": [v.to_json() for v in self.variants],
            "winner": self.verdict.winner,
            "reason": self.verdict.reason,
            "samples_needed": self.verdict.samples_needed,
        }


def _rows(conn: sqlite3.Connection, name: str) -> list[tuple[str, int, float, float | None]]:
    # '<name>:' <= variant < '<name>;' selects the prefix without LIKE's wildcards (';' follows ':').
    sql = "SELECT variant, outcome = 'ok', latency_ms, cost_usd FROM requests WHERE variant >= ? AND variant < ?"
    return list(conn.execute(sql, (f"{name}:", f"{name};")))


def ab_report(conn: sqlite3.Connection, test: ABTestSpec) -> ABReport:
    """One test's figures from the ledger and its verdict (one query over the test's rows)."""
    prefix = len(test.name) + 1
    requests: dict[str, int] = {v.model: 0 for v in test.variants}
    successes = dict.fromkeys(requests, 0)
    latencies: dict[str, list[float]] = {model: [] for model in requests}
    cost = dict.fromkeys(requests, 0.0)
    priced = dict.fromkeys(requests, 0)
    for variant, ok, latency, cost_usd in _rows(conn, test.name):
        model = variant[prefix:]
        if model not in requests:
            continue
        requests[model] += 1
        if ok:
            successes[model] += 1
            latencies[model].append(float(latency))
        if cost_usd is not None:
            cost[model] += float(cost_usd)
            priced[model] += 1
    variants = [
        VariantReport(
            VariantSample(v.model, requests[v.model], successes[v.model], latencies[v.model]),
            v.weight,
            cost[v.model],
            priced[v.model],
        )
        for v in test.variants
    ]
    verdict = decide([v.sample for v in variants], test.significance, test.min_samples)
    return ABReport(test, variants, verdict)
