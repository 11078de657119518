"""Load: N concurrent streaming clients through the proxy, against the fake provider with realistic timing.

The fake provider runs in its own process and answers every request after 300-800 ms (uniform) with a
streamed reply of a few hundred words, one word per SSE delta, `--chunk-delay-ms` apart. Each client sends a
streamed /v1/messages request, reads the whole event stream and sends the next one, until `--duration` has
passed (requests in flight then finish). A response counts as completed when it is a 200 whose stream ends
with `message_stop` and holds no `error` event; anything else is an error.

Reported: requests/s, time to first byte and total time (p50/p95/p99), errors, the RSS of the proxy's process
tree every `--rss-interval` seconds, and the ledger's rows for the run against the responses completed. The
same load sent straight to the fake provider first (`--baseline-duration` seconds, 0 to skip) gives the
proxy/direct ratios. Exit status 1 if any check fails: errors, ledger rows != responses, or (runs of at least
`RSS_JUDGED_AFTER_S` seconds) RSS growing more than 10% after the warm-up.

    python bench/load.py [--clients 50] [--duration 600] [--workers 1] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ccproxy_desktop.ledger.store import Ledger
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import Behaviour, FakeProviderClient
from ccproxy_desktop.testing.fake_provider.process import fake_provider_process
from ccproxy_desktop.testing.helpers import wait_for
from ccproxy_desktop.testing.proxy_runner import running_proxy

MODEL = "claude-sonnet-5"
RSS_GROWTH_LIMIT = 0.10
RSS_JUDGED_AFTER_S = 120.0
"""Shorter runs report RSS but are not judged on it: their warm-up is most of the run."""
LEDGER_SETTLE_S = 30.0
WARMUP_REQUESTS = 4


@dataclass(frozen=True)
class Sample:
    """One request as a client saw it: seconds since the phase started, times in ms, and why it failed."""

    start: float
    ttfb_ms: float | None
    total_ms: float
    error: str | None = None


@dataclass
class Phase:
    """The samples of one phase (direct or proxy) and its wall time."""

    samples: list[Sample] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def completed(self) -> list[Sample]:
        return [s for s in self.samples if s.error is None]

    @property
    def errors(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for sample in self.samples:
            if sample.error is not None:
                counts[sample.error] = counts.get(sample.error, 0) + 1
        return counts

    def summary(self) -> dict[str, Any]:
        done = self.completed
        ttfb = [s.ttfb_ms for s in done if s.ttfb_ms is not None]
        total = [s.total_ms for s in done]
        return {
            "requests": len(self.samples),
            "completed": len(done),
            "errors": sum(self.errors.values()),
            "error_kinds": self.errors,
            "wall_s": round(self.wall_s, 1),
            "requests_per_s": round(len(done) / self.wall_s, 2) if self.wall_s else 0.0,
            "ttfb_ms": percentiles(ttfb),
            "total_ms": percentiles(total),
        }


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """Nearest-rank p50/p95/p99 (None for no values)."""
    ordered = sorted(values)

    def rank(q: float) -> float | None:
        if not ordered:
            return None
        return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 1)

    return {"p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99)}


def request_body(max_tokens: int) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": max_tokens,
        "stream": True,
        "messages": [{"role": "user", "content": "Explain the plan for the refactoring, step by step."}],
    }


def stream_problem(status: int, body: bytes) -> str | None:
    """Why a streamed answer is not a complete, error-free message (None when it is)."""
    if status != 200:
        return f"http {status}"
    if b"event: error" in body:
        return "error event"
    if b"event: message_stop" not in body:
        return "stream without message_stop"
    return None


async def one_request(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], body: dict[str, Any]
) -> Sample:
    started = time.perf_counter()
    first: float | None = None
    chunks: list[bytes] = []
    try:
        async with client.stream("POST", f"{url}/v1/messages", json=body, headers=headers) as response:
            async for chunk in response.aiter_bytes():
                if first is None:
                    first = time.perf_counter()
                chunks.append(chunk)
            problem = stream_problem(response.status_code, b"".join(chunks))
    except httpx.HTTPError as exc:
        problem = type(exc).__name__
    end = time.perf_counter()
    return Sample(
        start=started,
        ttfb_ms=None if first is None else (first - started) * 1000,
        total_ms=(end - started) * 1000,
        error=problem,
    )


async def drive(url: str, key: str, clients: int, duration: float, max_tokens: int) -> Phase:
    """`clients` concurrent loops of streamed requests for `duration` seconds (each client sends at least
    one); in-flight requests finish."""
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    body = request_body(max_tokens)
    phase = Phase()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    began = time.perf_counter()
    deadline = began + duration
    async with httpx.AsyncClient(timeout=httpx.Timeout(120.0), limits=limits) as client:

        async def loop() -> None:
            while True:
                sample = await one_request(client, url, headers, body)
                phase.samples.append(
                    Sample(sample.start - began, sample.ttfb_ms, sample.total_ms, sample.error)
                )
                if time.perf_counter() >= deadline:
                    return

        await asyncio.gather(*(loop() for _ in range(clients)))
    phase.wall_s = time.perf_counter() - began
    return phase


# -- RSS of the proxy's process tree -------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # the command name (field 2) may hold spaces and parentheses: the parent pid follows the last ')'
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


def tree_rss_mb(root: int) -> float:
    """The summed VmRSS of `root` and all its descendants, in MiB (0 for processes gone meanwhile)."""
    total_kb, pending = 0, [root]
    while pending:
        pid = pending.pop()
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
        pending.extend(_children(pid))
    return total_kb / 1024


async def sample_rss(
    pid: int, interval: float, series: list[tuple[float, float]], stop: asyncio.Event
) -> None:
    began = time.perf_counter()
    while not stop.is_set():
        series.append((round(time.perf_counter() - began, 1), round(tree_rss_mb(pid), 1)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


def rss_verdict(series: list[tuple[float, float]], warmup: float, duration: float) -> dict[str, Any]:
    """RSS at the end of the warm-up against the highest RSS after it."""
    after = [mb for t, mb in series if t >= warmup]
    at_warmup = after[0] if after else None
    peak = max(after) if after else None
    growth = (peak - at_warmup) / at_warmup if at_warmup and peak is not None else None
    judged = duration >= RSS_JUDGED_AFTER_S and growth is not None
    return {
        "first_mb": series[0][1] if series else None,
        "at_warmup_mb": at_warmup,
        "peak_after_warmup_mb": peak,
        "last_mb": series[-1][1] if series else None,
        "growth_after_warmup": None if growth is None else round(growth, 4),
        "judged": judged,
        "ok": (growth is not None and growth <= RSS_GROWTH_LIMIT) if judged else None,
    }


# -- the run -------------------------------------------------------------------------------------------------


def ledger_rows(db: Path) -> tuple[int, int]:
    """(rows, ok rows) of the ledger."""
    with Ledger(db) as ledger:
        health = ledger.health(None)
    return health.requests_total, health.requests_succeeded


def settled_ledger(db: Path, expected: int) -> tuple[int, int]:
    """The ledger's (rows, ok rows) once it holds `expected` rows, or after `LEDGER_SETTLE_S` seconds."""
    with contextlib.suppress(AssertionError):  # a mismatch is reported, not raised
        wait_for(lambda: ledger_rows(db)[0] >= expected, timeout=LEDGER_SETTLE_S, interval=0.5)
    return ledger_rows(db)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent streaming clients (default 50)")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load on the proxy")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the proxy (num_workers)")
    parser.add_argument(
        "--baseline-duration",
        type=float,
        default=60.0,
        help="seconds of the same load straight to the fake provider first (0: skip; default 60)",
    )
    parser.add_argument(
        "--warmup", type=float, default=None, help="RSS warm-up seconds (default: 1/5 of the run, at most 60)"
    )
    parser.add_argument(
        "--latency-ms", type=float, default=300.0, help="fake provider: least time to first byte"
    )
    parser.add_argument(
        "--latency-jitter-ms", type=float, default=500.0, help="fake provider: up to this much more"
    )
    parser.add_argument(
        "--chunk-delay-ms", type=float, default=30.0, help="fake provider: between two SSE events"
    )
    parser.add_argument("--words", type=int, default=300, help="words in each reply, one SSE delta each")
    parser.add_argument("--rss-interval", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    return parser.parse_args(argv)


async def measure(
    args: argparse.Namespace, provider: FakeProviderClient, proxy_url: str, key: str, pid: int
) -> dict[str, Any]:
    report: dict[str, Any] = {}
    # First requests pay one-time costs (imports, connection pools, the tokenizer): short ones, not measured.
    provider.push(Behaviour(text="warming up"), times=2 * WARMUP_REQUESTS)
    await drive(provider.base_url, key, WARMUP_REQUESTS, 0.0, args.words)
    report["warmup"] = (await drive(proxy_url, key, WARMUP_REQUESTS, 0.0, args.words)).summary()
    if args.baseline_duration > 0:
        direct = await drive(provider.base_url, key, args.clients, args.baseline_duration, args.words)
        report["direct"] = direct.summary()
    series: list[tuple[float, float]] = []
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(pid, args.rss_interval, series, stop))
    proxy = await drive(proxy_url, key, args.clients, args.duration, args.words)
    stop.set()
    await sampler
    report["proxy"] = proxy.summary()
    warmup = args.warmup if args.warmup is not None else min(60.0, args.duration / 5)
    report["rss"] = {**rss_verdict(series, warmup, args.duration), "warmup_s": warmup, "series": series}
    return report


def run(args: argparse.Namespace) -> dict[str, Any]:
    words = " ".join(f"word{i % 97}" for i in range(args.words))
    provider_options = (
        f"--latency-ms={args.latency_ms}",
        f"--latency-jitter-ms={args.latency_jitter_ms}",
        f"--chunk-delay-ms={args.chunk_delay_ms}",
        "--max-recorded=100",
    )
    with fake_provider_process(*provider_options) as provider, tempfile.TemporaryDirectory() as tmp:
        provider.update({"default": {"kind": "ok", "text": words}})
        paths = write_fake_config(Path(tmp), provider.base_url, free_port(), workers=args.workers)
        with running_proxy(paths) as proxy:
            report = asyncio.run(measure(args, provider, proxy.url, proxy.key, proxy.state.pid))
            summary, warm = report["proxy"], report["warmup"]
            rows, ok_rows = settled_ledger(paths.ledger_db, summary["requests"] + warm["requests"])
    # The ledger also holds the warm-up requests: the figures below are those of the measured run.
    report["ledger"] = {
        "rows": rows - warm["requests"],
        "ok_rows": ok_rows - warm["completed"],
        "matches": rows - warm["requests"] == summary["requests"]
        and ok_rows - warm["completed"] == summary["completed"],
    }
    report["parameters"] = {
        key: getattr(args, key)
        for key in ("clients", "duration", "workers", "baseline_duration", "latency_ms", "latency_jitter_ms")
    } | {"chunk_delay_ms": args.chunk_delay_ms, "words": args.words}
    report["machine"] = machine()
    report["ok"] = (
        summary["errors"] == warm["errors"] == 0
        and report["ledger"]["matches"]
        and report["rss"]["ok"] is not False
    )
    return report


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def print_report(report: dict[str, Any]) -> None:
    params = report["parameters"]
    print(
        f"{params['clients']} streaming clients, {params['duration']:.0f} s through the proxy "
        f"({params['workers']} worker{'s' if params['workers'] > 1 else ''}); replies of {params['words']} words, "
        f"first byte after {params['latency_ms']:.0f}-{params['latency_ms'] + params['latency_jitter_ms']:.0f} ms, "
        f"{params['chunk_delay_ms']:.0f} ms between events"
    )
    print(
        f"{'':7} {'req/s':>7} {'done':>6} {'errors':>6} {'ttfb p50':>9} {'p95':>7} {'p99':>7} {'total p50':>10} {'p95':>7} {'p99':>7}"
    )
    for name in ("direct", "proxy"):
        if name not in report:
            continue
        s = report[name]
        t, w = s["ttfb_ms"], s["total_ms"]
        print(
            f"{name:7} {s['requests_per_s']:7.2f} {s['completed']:6d} {s['errors']:6d} "
            f"{_ms(t['p50']):>9} {_ms(t['p95']):>7} {_ms(t['p99']):>7} {_ms(w['p50']):>10} {_ms(w['p95']):>7} {_ms(w['p99']):>7}"
        )
        if s["error_kinds"]:
            print(f"        errors: {s['error_kinds']}")
    if "direct" in report:
        d, p = report["direct"], report["proxy"]
        if d["ttfb_ms"]["p50"] and p["ttfb_ms"]["p50"] and d["requests_per_s"]:
            print(
                f"proxy / direct: ttfb p50 x{p['ttfb_ms']['p50'] / d['ttfb_ms']['p50']:.3f}, "
                f"total p50 x{p['total_ms']['p50'] / d['total_ms']['p50']:.3f}, "
                f"requests/s x{p['requests_per_s'] / d['requests_per_s']:.3f}"
            )
    rss = report["rss"]
    growth = rss["growth_after_warmup"]
    verdict = (
        ("ok" if rss["ok"] else "FAIL")
        if rss["judged"]
        else f"not judged (run under {RSS_JUDGED_AFTER_S:.0f} s)"
    )
    print(
        f"proxy RSS (MiB): start {rss['first_mb']}, after {rss['warmup_s']:.0f} s warm-up {rss['at_warmup_mb']}, "
        f"peak after {rss['peak_after_warmup_mb']}, end {rss['last_mb']}; growth after warm-up "
        f"{'-' if growth is None else f'{100 * growth:+.1f}%'} (limit +{100 * RSS_GROWTH_LIMIT:.0f}%): {verdict}"
    )
    print("RSS over time (s: MiB): " + ", ".join(f"{t:.0f}: {mb:.0f}" for t, mb in _thin(rss["series"], 20)))
    ledger = report["ledger"]
    print(
        f"ledger: {ledger['rows']} rows ({ledger['ok_rows']} ok) for {report['proxy']['requests']} requests "
        f"({report['proxy']['completed']} completed): {'ok' if ledger['matches'] else 'MISMATCH'}"
    )
    m = report["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, load average at the end {m['load_average_at_end']}")
    print("result: " + ("pass" if report["ok"] else "FAIL"))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _thin(series: list[Any], n: int) -> list[Any]:
    step = max(1, math.ceil(len(series) / n))
    return series[::step] + ([series[-1]] if series and (len(series) - 1) % step else [])


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    print_report(report)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
