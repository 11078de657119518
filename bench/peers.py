"""Peers: ccproxy against a bare LiteLLM proxy and claude-code-router, on one fake provider, interleaved.

Targets (all against the same fake provider, in its own process, answering at once):

  direct      the client talks to the fake provider itself (the baseline)
  native      `ccproxy start --detach`, the request routed to an `anthropic/...` model (no translation)
  translated  the same ccproxy, the request routed to an `openai/...` model (Anthropic <-> OpenAI translation)
  litellm     `litellm --config FILE --port P`, the same model list as ccproxy's
  ccr         claude-code-router (`ccr start --no-open`, HOME in a temporary folder), a provider of type
              `anthropic_messages`; installed by `bash bench/setup-ccr.sh` (skipped when it isn't)

The request is a captured Claude Code main turn (tests/fixtures/claude_code/main_streaming.json: 25 tools,
~30 KB), streamed. Each round starts every server, measures, and stops them all again:

  start       from spawning the server's start command until a real streamed request returns a 200 whose
              stream ends with `message_stop` (polled every 50 ms); then the RSS of the server's process tree
              (VmRSS of the process and its descendants). ccproxy's RSS is also taken after a few native
              requests and before any translated one ("native only"), then after the translated warm-up.
  ttfb        `--ttfb-requests` requests per target, interleaved (A B C D E, B C D E A, ...): time to the
              first byte of the streamed body, one request at a time on a keep-alive connection.
  throughput  `--clients` concurrent streaming clients for `--duration` seconds per target, one target after
              the other; a request counts when it is a 200 whose stream ends with `message_stop` and has no
              `error` event. Requests/s only counts for a target with 0 errors.

Reported: per target the medians over rounds; added TTFB against direct, throughput against direct and CCR,
start and RSS against CCR; and the acceptance checks for ccproxy's native path (PASS/FAIL; exit status 1 if
one fails or a target had errors). Everything listens on 127.0.0.1; the run stops itself after
`--max-minutes`.

    python bench/peers.py [--rounds 3] [--duration 15] [--clients 20] [--only native,litellm,ccr] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
import httpx

sys.path.insert(0, str(Path(__file__).parent))

from load import machine
from peer_servers import (
    POLL_S,
    PROVIDER_KEY,
    ROOT,
    Ccproxy,
    Ccr,
    Litellm,
    Server,
    StartError,
    Target,
    claude_code_headers,
    with_model,
)

from ccproxy_desktop.testing.fake_provider import FakeProviderClient
from ccproxy_desktop.testing.fake_provider.process import fake_provider_process

FIXTURE = ROOT / "tests" / "fixtures" / "claude_code" / "main_streaming.json"
TARGETS = ("direct", "native", "translated", "litellm", "ccr")
SERVER_OF = {"native": "ccproxy", "translated": "ccproxy", "litellm": "litellm", "ccr": "ccr"}
# Where each target's request may reach the fake provider: the route check of the first round. LiteLLM
# translates an Anthropic request for an OpenAI model to the Responses API or to chat completions.
PROVIDER_PATHS = {
    "direct": ("/v1/messages",),
    "native": ("/v1/messages",),
    "translated": ("/v1/responses", "/v1/chat/completions"),
    "litellm": ("/v1/messages",),
    "ccr": ("/v1/messages",),
}
DEFAULT_CCR_DIR = Path.home() / ".cache" / "ccproxy-bench" / "ccr"
WARMUP_REQUESTS = 5

# Acceptance targets for ccproxy's native path.
MAX_ADDED_TTFB_MS = 5.0
MAX_START_S = 2.0
MAX_RSS_MB = 120.0


class BenchTimeout(Exception):
    """The whole run took longer than --max-minutes."""


# -- requests ------------------------------------------------------------------------------------------------


def stream_problem(status: int, body: bytes) -> str | None:
    """Why a streamed answer is not a complete, error-free message (None when it is)."""
    if status != 200:
        return f"http {status}: {body[:200]!r}"
    if b"event: error" in body:
        return "error event"
    if b"message_stop" not in body:
        return "stream without message_stop"
    return None


def streamed_turn(client: httpx.Client, target: Target) -> tuple[float, float]:
    """(time to first body byte, total) in ms of one streamed request; RuntimeError on a bad answer."""
    started = time.perf_counter()
    first: float | None = None
    chunks: list[bytes] = []
    with client.stream(
        "POST", f"{target.url}/v1/messages", content=target.body, headers=target.headers
    ) as response:
        for chunk in response.iter_raw():
            if first is None:
                first = time.perf_counter()
            chunks.append(chunk)
    end = time.perf_counter()
    problem = stream_problem(response.status_code, b"".join(chunks))
    if problem is not None:
        raise RuntimeError(f"{target.name}: {problem}")
    return ((first or end) - started) * 1000, (end - started) * 1000


@dataclass
class Load:
    """What the clients of one throughput run saw."""

    completed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def requests_per_s(self) -> float:
        return self.completed / self.wall_s if self.wall_s else 0.0


async def drive(target: Target, clients: int, duration: float) -> Load:
    """`clients` loops of streamed requests for `duration` seconds; requests in flight then finish."""
    load = Load()
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=60)
    began = time.perf_counter()
    deadline = began + duration
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def loop() -> None:
            while time.perf_counter() < deadline:
                try:
                    async with session.post(
                        f"{target.url}/v1/messages", data=target.body, headers=target.headers
                    ) as response:
                        problem = stream_problem(response.status, await response.read())
                except (aiohttp.ClientError, TimeoutError) as exc:
                    problem = type(exc).__name__
                if problem is None:
                    load.completed += 1
                else:
                    kind = problem.split(":")[0]
                    load.errors[kind] = load.errors.get(kind, 0) + 1

        await asyncio.gather(*(loop() for _ in range(clients)))
    load.wall_s = time.perf_counter() - began
    return load


# -- servers -------------------------------------------------------------------------------------------------


def start(server: Server, probe: Target, timeout: float) -> float:
    """Launch `server` and poll `probe` until a request succeeds: seconds from launch to that answer."""
    began = time.perf_counter()
    server.launch()
    last = "no answer"
    with httpx.Client(timeout=httpx.Timeout(60.0, connect=2.0)) as client:
        while True:
            try:
                streamed_turn(client, probe)
                return time.perf_counter() - began
            except (httpx.HTTPError, RuntimeError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            server.check_launcher()
            if time.perf_counter() - began > timeout:
                raise StartError(f"{server.name}: no successful request within {timeout:.0f} s; last: {last}")
            time.sleep(POLL_S)


# -- one round -----------------------------------------------------------------------------------------------


@dataclass
class Round:
    """What one round measured, by target (TTFB, throughput) or by server (start, RSS)."""

    ttfb_ms: dict[str, list[float]] = field(default_factory=dict)
    load: dict[str, Load] = field(default_factory=dict)
    start_s: dict[str, float] = field(default_factory=dict)
    rss_mb: dict[str, dict[str, float]] = field(default_factory=dict)
    processes: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    """By server: (command line, RSS MB) of each of its processes, right after the start."""


def check_routes(provider: FakeProviderClient, client: httpx.Client, targets: Sequence[Target]) -> None:
    """Each target's request reaches the fake provider on the path of its route (native stays Anthropic,
    translated becomes an OpenAI request); RuntimeError otherwise."""
    for target in targets:
        provider.clear()
        streamed_turn(client, target)
        paths = [r.path for r in provider.requests() if not r.path.startswith("/_fake")]
        if len(paths) != 1 or paths[0] not in PROVIDER_PATHS[target.name]:
            expected = " or ".join(PROVIDER_PATHS[target.name])
            raise RuntimeError(f"{target.name}: the provider saw {paths}, expected one request to {expected}")


def start_all(servers: dict[str, Server], probes: dict[str, Target], timeout: float, measured: Round) -> None:
    """Start the servers one after the other: start time, processes and RSS right after the start."""
    for name, server in servers.items():
        measured.start_s[name] = start(server, probes[name], timeout)
        server.settle()
        measured.processes[name] = server.processes()
        measured.rss_mb[name] = {"after_start": round(sum(mb for _, mb in measured.processes[name]), 1)}
        print(
            f"  {name}: up in {measured.start_s[name]:.2f} s, RSS {measured.rss_mb[name]['after_start']} MB"
        )


def warm_up(
    client: httpx.Client, targets: dict[str, Target], ccproxy: Server | None, measured: Round
) -> None:
    """A few requests per target, native before translated: ccproxy's RSS before any translated request
    ("native_only") and after the translated ones."""
    order = [t for t in ("direct", "native", "litellm", "ccr", "translated") if t in targets]
    for name in order:
        for _ in range(WARMUP_REQUESTS):
            streamed_turn(client, targets[name])
        if ccproxy is not None and name in ("native", "translated"):
            key = "native_only" if name == "native" else "after_translated"
            measured.rss_mb[ccproxy.name][key] = ccproxy.rss_mb()


def ttfb_rounds(client: httpx.Client, targets: dict[str, Target], requests: int) -> dict[str, list[float]]:
    """`requests` TTFB samples per target, interleaved: A B C D E, B C D E A, C D E A B..."""
    names = list(targets)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in range(requests):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            samples[name].append(streamed_turn(client, targets[name])[0])
    return samples


def run_round(
    args: argparse.Namespace,
    provider: FakeProviderClient,
    servers: dict[str, Server],
    targets: dict[str, Target],
    probes: dict[str, Target],
    first: bool,
) -> Round:
    """Start every server, measure every target, stop every server (even when something failed)."""
    measured = Round()
    try:
        start_all(servers, probes, args.start_timeout, measured)
        with httpx.Client(timeout=httpx.Timeout(60.0)) as client:
            warm_up(client, targets, servers.get("ccproxy"), measured)
            if first:
                check_routes(provider, client, list(targets.values()))
            measured.ttfb_ms = ttfb_rounds(client, targets, args.ttfb_requests)
        for name, target in targets.items():
            load = measured.load[name] = asyncio.run(drive(target, args.clients, args.duration))
            print(f"  {name}: {load.requests_per_s:.1f} requests/s, errors {load.errors or 0}")
        for name, server in servers.items():
            measured.rss_mb[name]["after_load"] = server.rss_mb()
    finally:
        for server in servers.values():
            server.stop()
    return measured


# -- the run -------------------------------------------------------------------------------------------------


def fixture() -> tuple[dict[str, Any], dict[str, str]]:
    captured = json.loads(FIXTURE.read_text())
    return captured["body"], captured["headers"]


def make_servers(
    args: argparse.Namespace, work: Path, provider_url: str, wanted: Sequence[str], model: str
) -> tuple[dict[str, Server], list[str]]:
    """The servers the wanted targets need, and notes on targets left out."""
    servers: dict[str, Server] = {}
    notes = []
    ccproxy = Ccproxy(work, provider_url)  # its config.yaml is also bare LiteLLM's model list
    if {"native", "translated"} & set(wanted):
        servers["ccproxy"] = ccproxy
    if "litellm" in wanted:
        servers["litellm"] = Litellm(work, ccproxy.paths.litellm_yaml)
    if "ccr" in wanted:
        if Ccr.installed(args.ccr_dir):
            servers["ccr"] = Ccr(work, args.ccr_dir, provider_url, model)
        else:
            notes.append(f"ccr: not installed in {args.ccr_dir} (bash bench/setup-ccr.sh): left out")
    return servers, notes


def run(args: argparse.Namespace) -> dict[str, Any]:
    body, headers = fixture()
    wanted = ["direct", *[t for t in TARGETS[1:] if t in args.only]]
    words = " ".join(f"word{i % 97}" for i in range(args.words))
    rounds: list[Round] = []
    with (
        fake_provider_process("--max-recorded=50") as provider,
        tempfile.TemporaryDirectory(prefix="ccproxy-peers-") as tmp,
    ):
        provider.update({"default": {"kind": "ok", "text": words}})
        servers, notes = make_servers(args, Path(tmp), provider.base_url, wanted, body["model"])
        for note in notes:
            print(note)
        direct = Target(
            "direct", provider.base_url, claude_code_headers(headers, PROVIDER_KEY), with_model(body)
        )
        targets = {"direct": direct}
        for name in wanted[1:]:
            if SERVER_OF[name] in servers:
                targets[name] = servers[SERVER_OF[name]].target(name, body, headers)
        # a server is up when its first route answers: ccproxy's native one, even when only translated runs
        probes = {name: server.target(server.probe, body, headers) for name, server in servers.items()}
        for index in range(args.rounds):
            print(f"round {index + 1} of {args.rounds}")
            rounds.append(run_round(args, provider, servers, targets, probes, first=index == 0))
    return summarise(args, rounds, list(targets), notes)


# -- the report ----------------------------------------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def summarise(
    args: argparse.Namespace, rounds: Sequence[Round], targets: Sequence[str], notes: Sequence[str]
) -> dict[str, Any]:
    """Medians over rounds (TTFB percentiles over every sample), the ratios, and the acceptance checks."""
    by_target: dict[str, dict[str, Any]] = {}
    for name in targets:
        samples = [ms for r in rounds for ms in r.ttfb_ms.get(name, [])]
        loads = [r.load[name] for r in rounds if name in r.load]
        errors: dict[str, int] = {}
        for load in loads:
            for kind, count in load.errors.items():
                errors[kind] = errors.get(kind, 0) + count
        by_target[name] = {
            "ttfb_ms": {"p50": pct(samples, 0.50), "p95": pct(samples, 0.95), "samples": len(samples)},
            "requests_per_s": median([load.requests_per_s for load in loads]),
            "requests_per_s_by_round": [round(load.requests_per_s, 1) for load in loads],
            "completed": sum(load.completed for load in loads),
            "errors": sum(errors.values()),
            "error_kinds": errors,
        }
    direct = by_target["direct"]
    ccr_rps = by_target.get("ccr", {}).get("requests_per_s")
    for row in by_target.values():
        for q in ("p50", "p95"):
            row["ttfb_ms"][f"added_{q}"] = _minus(row["ttfb_ms"][q], direct["ttfb_ms"][q])
        row["ttfb_p50_x_direct"] = ratio(row["ttfb_ms"]["p50"], direct["ttfb_ms"]["p50"])
        row["requests_per_s_x_direct"] = ratio(row["requests_per_s"], direct["requests_per_s"])
        row["requests_per_s_x_ccr"] = ratio(row["requests_per_s"], ccr_rps)
    servers = sorted({name for r in rounds for name in r.start_s}, key=["ccproxy", "litellm", "ccr"].index)
    by_server: dict[str, dict[str, Any]] = {}
    for name in servers:
        starts = [r.start_s[name] for r in rounds if name in r.start_s]
        rss_keys = sorted({key for r in rounds for key in r.rss_mb.get(name, {})})
        by_server[name] = {
            "start_s": median(starts),
            "start_s_by_round": [round(s, 2) for s in starts],
            "rss_mb": {
                key: median([r.rss_mb[name][key] for r in rounds if key in r.rss_mb.get(name, {})])
                for key in rss_keys
            },
            "processes": [
                {"command": command, "rss_mb": round(mb, 1)}
                for command, mb in rounds[-1].processes.get(name, [])
            ],
        }
    ccr = by_server.get("ccr", {})
    for row in by_server.values():
        row["start_x_ccr"] = ratio(row["start_s"], ccr.get("start_s"))
        row["rss_after_start_x_ccr"] = ratio(
            row["rss_mb"].get("after_start"), ccr.get("rss_mb", {}).get("after_start")
        )
    return {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "parameters": {
            k: getattr(args, k) for k in ("rounds", "duration", "clients", "ttfb_requests", "words")
        },
        "machine": machine(),
        "notes": list(notes),
        "targets": by_target,
        "servers": by_server,
        "checks": acceptance(by_target, by_server, args.clients),
    }


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def acceptance(by_target: dict[str, Any], by_server: dict[str, Any], clients: int) -> list[dict[str, Any]]:
    """ccproxy's native path against the targets (None: not measured in this run)."""
    native, ccr, ccproxy = by_target.get("native"), by_target.get("ccr"), by_server.get("ccproxy")
    checks: list[dict[str, Any]] = []

    def check(what: str, value: float | None, limit: float | None, ok: bool | None) -> None:
        checks.append({"check": what, "value": value, "limit": limit, "ok": ok})

    throughput = f"requests/s at {clients} streaming clients (0 errors) >= CCR's"
    added = native["ttfb_ms"]["added_p50"] if native else None
    check(
        f"added TTFB p50 <= {MAX_ADDED_TTFB_MS:g} ms",
        added,
        MAX_ADDED_TTFB_MS,
        None if added is None else added <= MAX_ADDED_TTFB_MS,
    )
    if native and ccr and native["requests_per_s"] is not None and ccr["requests_per_s"] is not None:
        ours, theirs = native["requests_per_s"], ccr["requests_per_s"]
        valid = native["errors"] == 0 and ccr["errors"] == 0
        check(throughput, ours, theirs, valid and ours >= theirs)
    else:
        check(throughput, None, None, None)
    started = ccproxy["start_s"] if ccproxy else None
    check(
        f"start to first successful request <= {MAX_START_S:g} s",
        started,
        MAX_START_S,
        None if started is None else started <= MAX_START_S,
    )
    rss = ccproxy["rss_mb"].get("after_start") if ccproxy else None
    check(
        f"RSS after start <= {MAX_RSS_MB:g} MB", rss, MAX_RSS_MB, None if rss is None else rss <= MAX_RSS_MB
    )
    return checks


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _x(value: float | None) -> str:
    return "-" if value is None else f"x{value:.2f}"


def shorten(command: str, width: int = 100) -> str:
    """A command line with long paths cut to their last two parts."""
    parts = [
        ("…/" + "/".join(part.split("/")[-2:])) if part.count("/") > 2 else part for part in command.split()
    ]
    line = " ".join(parts)
    return line if len(line) <= width else line[: width - 1] + "…"


def print_report(report: dict[str, Any]) -> None:
    p, m = report["parameters"], report["machine"]
    print()
    print(
        f"{report['when']}; {p['rounds']} rounds; TTFB: {p['ttfb_requests']} requests per target and round, "
        f"one at a time; throughput: {p['clients']} streaming clients for {p['duration']:g} s per target and round; "
        f"replies of {p['words']} words"
    )
    print(f"machine: {m['cpu']}, {m['cores']} cores, load average at the end {m['load_average_at_end']}")
    print()
    header = f"{'target':11} {'ttfb p50':>9} {'p95':>7} {'added p50':>10} {'added p95':>10} {'req/s':>7} {'x direct':>9} {'x ccr':>7} {'errors':>7}"
    print(header)
    for name, row in report["targets"].items():
        t = row["ttfb_ms"]
        print(
            f"{name:11} {_f(t['p50'], 2):>9} {_f(t['p95'], 2):>7} {_f(t['added_p50'], 2):>10} {_f(t['added_p95'], 2):>10} "
            f"{_f(row['requests_per_s']):>7} {_x(row['requests_per_s_x_direct']):>9} {_x(row['requests_per_s_x_ccr']):>7} {row['errors']:>7}"
        )
        if row["error_kinds"]:
            print(f"{'':11} errors: {row['error_kinds']}")
    print("(ms; added = target - direct; req/s: median over rounds)")
    for name, row in report["targets"].items():
        print(f"req/s by round, {name}: {row['requests_per_s_by_round']}")
    print()
    print(
        f"{'server':8} {'start s':>8} {'x ccr':>7} {'RSS MB':>7} {'x ccr':>7} {'native only':>12} {'+translated':>12} {'after load':>11}"
    )
    for name, row in report["servers"].items():
        rss = row["rss_mb"]
        print(
            f"{name:8} {_f(row['start_s'], 2):>8} {_x(row['start_x_ccr']):>7} {_f(rss.get('after_start')):>7} "
            f"{_x(row['rss_after_start_x_ccr']):>7} {_f(rss.get('native_only')):>12} {_f(rss.get('after_translated')):>12} "
            f"{_f(rss.get('after_load')):>11}"
        )
    print(
        "(start: spawn to the first successful streamed request, median over rounds; RSS after start: right"
    )
    print(
        " after it, the server's process tree; native only: after native requests, before any translated one)"
    )
    for name, row in report["servers"].items():
        print(f"{name}: starts by round {row['start_s_by_round']} s; processes after the start:")
        for process in row["processes"]:
            print(f"    {process['rss_mb']:7.1f} MB  {shorten(process['command'])}")
    for note in report["notes"]:
        print(note)
    print()
    print("acceptance (ccproxy, native path):")
    for c in report["checks"]:
        verdict = "n/a" if c["ok"] is None else ("PASS" if c["ok"] else "FAIL")
        print(f"  {verdict:4}  {c['check']}: {_f(c['value'], 2)} (limit {_f(c['limit'], 2)})")


# -- main ----------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds; each starts and stops every server (default 3)"
    )
    parser.add_argument(
        "--duration", type=float, default=15.0, help="seconds of load per target and round (default 15)"
    )
    parser.add_argument("--clients", type=int, default=20, help="concurrent streaming clients (default 20)")
    parser.add_argument(
        "--ttfb-requests", type=int, default=100, help="TTFB requests per target and round (default 100)"
    )
    parser.add_argument(
        "--only",
        type=lambda s: [t.strip() for t in s.split(",") if t.strip()],
        default=list(TARGETS),
        help=f"comma-separated targets of {','.join(TARGETS)} (default all; direct always runs: the baseline)",
    )
    parser.add_argument(
        "--words", type=int, default=50, help="words in each reply, one SSE delta each (default 50)"
    )
    parser.add_argument(
        "--ccr-dir",
        type=Path,
        default=DEFAULT_CCR_DIR,
        help=f"where setup-ccr.sh installed CCR (default {DEFAULT_CCR_DIR})",
    )
    parser.add_argument(
        "--start-timeout", type=float, default=180.0, help="seconds a server may take to start (default 180)"
    )
    parser.add_argument(
        "--max-minutes", type=float, default=60.0, help="stop the whole run after this long (default 60)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    unknown = set(args.only) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))} (known: {', '.join(TARGETS)})")
    return args


@contextlib.contextmanager
def time_limit(minutes: float) -> Iterator[None]:
    """BenchTimeout after `minutes` (once), SystemExit on SIGTERM: both unwind through the cleanup."""

    def expired(signum: int, frame: FrameType | None) -> None:
        raise BenchTimeout(f"the run took longer than {minutes:g} minutes")

    def terminated(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGALRM, expired), signal.signal(signal.SIGTERM, terminated)
    signal.setitimer(signal.ITIMER_REAL, minutes * 60)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous[0])
        signal.signal(signal.SIGTERM, previous[1])


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with time_limit(args.max_minutes):
            report = run(args)
    except (BenchTimeout, StartError) as exc:
        print(f"peers: {exc}", file=sys.stderr)
        return 2
    print_report(report)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))
    failed = any(c["ok"] is False for c in report["checks"])
    errors = any(row["errors"] for row in report["targets"].values())
    return 1 if failed or errors else 0


if __name__ == "__main__":
    sys.exit(main())
