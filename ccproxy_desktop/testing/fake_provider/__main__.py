"""`python -m ccproxy_desktop.testing.fake_provider`: serve the fake provider in the foreground until stopped.

Prints `fake provider listening on http://127.0.0.1:PORT` (flushed) once it accepts connections, so a parent
process started with `--port 0` can read the chosen port from the first line of stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from .recording import DEFAULT_MAX_RECORDED, RequestLog
from .scenario import Scenario
from .server import HOST, FakeProviderServer


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ccproxy_desktop.testing.fake_provider",
        description="Fake Anthropic/OpenAI upstream on 127.0.0.1 for tests, benchmarks and demos.",
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port; default 0)")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay before the first byte of each answer"
    )
    parser.add_argument(
        "--latency-jitter-ms",
        type=float,
        default=0.0,
        help="up to this much more delay before the first byte, drawn uniformly per answer",
    )
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0, help="delay between two SSE events")
    parser.add_argument("--expected-token", default=None, help="require this x-api-key / Bearer token")
    parser.add_argument(
        "--max-recorded", type=int, default=DEFAULT_MAX_RECORDED, help="requests kept for /_fake/requests"
    )
    parser.add_argument("--log-level", default="WARNING", help="Python logging level (default WARNING)")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    """Serve until SIGINT/SIGTERM (or cancellation), then shut down cleanly."""
    scenario = Scenario(
        latency_ms=args.latency_ms,
        latency_jitter_ms=args.latency_jitter_ms,
        chunk_delay_ms=args.chunk_delay_ms,
        expected_token=args.expected_token,
    )
    server = FakeProviderServer(scenario, RequestLog(args.max_recorded))
    port = await server.start(args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Windows has no loop signal handlers; there Ctrl+C arrives as KeyboardInterrupt instead.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    print(f"fake provider listening on http://{HOST}:{port}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"fake provider: cannot listen on {HOST}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
