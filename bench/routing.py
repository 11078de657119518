"""Per-turn cost of the token-count routing decision over a growing Claude Code conversation.

Run: ``python bench/routing.py``. Builds a 20-turn conversation that grows to ~130k tokens (cl100k) and,
for every turn, measures:

* ours: ``TokenCountRule(60_000).evaluate(ctx, env)``, which calls ``TokenCounter.exceeds`` on the app's
  counter (shared across turns).
* loop stall: the same request through ``await rule.evaluate_async(ctx, env)`` (``exceeds_async`` on
  another shared counter), measured as the longest stretch the event loop could not run another task. A
  control awaits a worker thread that only sleeps, to show the harness's own noise.
* baseline: a full tiktoken ``encode_ordinary`` of the whole context, concatenated beforehand (the
  concatenation is not timed, which flatters the baseline).

Each turn's request is a fresh ``json.loads`` of the wire JSON (untimed), as the proxy would hold it, so no
string hash or object identity carries over between turns. The whole conversation is replayed
``REPEATS`` times with fresh counters and the table shows per-turn medians.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import tiktoken

from ccproxy_desktop.pipeline.context import RequestContext
from ccproxy_desktop.pipeline.rules import TokenCountRule
from ccproxy_desktop.pipeline.tokens import TokenCounter

THRESHOLD = 60_000
TURNS = 20
SEED = 7
REPEATS = 5
FILE_LINES = 360

_WORD_TEXT = """agent request model route token budget cache context session proxy rule label config error
retry stream chunk message system tool result file path line edit search pattern schema value default thread
queue loop async await socket header status policy ledger cost price limit window user project branch commit
diff patch review test fixture assert parse format render layout widget"""
_WORDS = _WORD_TEXT.split()
_SYLLABLE_TEXT = "ka lo mi ne ru sa ti vo ze qua bri cto dex fen gul hap jin kor lum pix"
_SYLLABLES = _SYLLABLE_TEXT.split()
_TOOL_TEXT = """Bash Read Edit MultiEdit Write Grep Glob LS WebSearch WebFetch TodoWrite Task NotebookEdit
BashOutput KillShell"""
_TOOL_NAMES = _TOOL_TEXT.split()

Row = tuple[bool, int, float, float, float]
"""Per turn: decision, baseline token count, ours ms, baseline ms, async loop stall ms."""


def _ident(rng: random.Random) -> str:
    return "_".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 3))) + rng.choice(_SYLLABLES)


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(6, 18))]
    return " ".join(words).capitalize() + rng.choice([".", ".", ",", ";", "!", "?"])


def _prose(rng: random.Random, sentences: int) -> str:
    return " ".join(_sentence(rng) for _ in range(sentences))


def _code_line(rng: random.Random) -> str:
    indent = "    " * rng.randint(1, 3)
    roll = rng.random()
    if roll < 0.3:
        return f"{indent}{_ident(rng)} = {_ident(rng)}({rng.randint(0, 9999)}, {_ident(rng)!r})"
    if roll < 0.5:
        return f"{indent}if {_ident(rng)} > {rng.uniform(0, 100):.3f}:"
    if roll < 0.7:
        return f"{indent}# {_sentence(rng)}"
    return f"{indent}return {_ident(rng)}.{_ident(rng)}[{rng.randint(0, 64)}]"


def _code_file(rng: random.Random, lines: int) -> str:
    """Pseudo-Python in Claude Code's Read format (``   12\\t...``), no two functions alike."""
    out: list[str] = []
    while len(out) < lines:
        name, args = _ident(rng), ", ".join(_ident(rng) for _ in range(rng.randint(0, 4)))
        out.append(f"def {name}({args}) -> {rng.choice(['int', 'str', 'None', 'dict[str, Any]'])}:")
        out.append(f'    """{_sentence(rng)}"""')
        out.extend(_code_line(rng) for _ in range(rng.randint(3, 12)))
        out.append("")
    return "\n".join(f"{i + 1:>6}\t{line}" for i, line in enumerate(out[:lines]))


def _tools(rng: random.Random) -> list[dict[str, Any]]:
    tools = []
    for name in _TOOL_NAMES:
        properties = {
            _ident(rng): {"type": rng.choice(["string", "number", "boolean"]), "description": _sentence(rng)}
            for _ in range(rng.randint(2, 6))
        }
        schema = {
            "type": "object",
            "properties": properties,
            "required": list(properties)[:1],
            "additionalProperties": False,
            "$schema": "http://json-schema.org/draft-07/schema#",
        }
        tools.append({"name": name, "description": _prose(rng, rng.randint(4, 30)), "input_schema": schema})
    return tools


def _turn(rng: random.Random, turn: int) -> list[dict[str, Any]]:
    tool_id = f"toolu_{turn:02d}{rng.randrange(16**20):020x}"
    assistant: list[dict[str, Any]] = []
    if turn % 3 == 0:
        assistant.append({"type": "thinking", "thinking": _prose(rng, 12), "signature": "EqQBCkYIBx" * 20})
    assistant.append({"type": "text", "text": _prose(rng, 3)})
    path = f"/work/src/{_ident(rng)}/{_ident(rng)}.py"
    assistant.append({"type": "tool_use", "id": tool_id, "name": "Read", "input": {"file_path": path}})
    result = {"type": "tool_result", "tool_use_id": tool_id, "content": _code_file(rng, FILE_LINES)}
    return [
        {"role": "user", "content": [{"type": "text", "text": _prose(rng, 2)}]},
        {"role": "assistant", "content": assistant},
        {"role": "user", "content": [result]},
    ]


def _conversation() -> list[str]:
    """The wire JSON of each turn's request."""
    rng = random.Random(SEED)
    system = [{"type": "text", "text": _prose(rng, 190)}]
    tools = _tools(rng)
    history: list[dict[str, Any]] = []
    wires = []
    for turn in range(1, TURNS + 1):
        history += _turn(rng, turn)
        wires.append(json.dumps({"system": system, "tools": tools, "messages": history}))
    return wires


def _concatenated(request: dict[str, Any]) -> str:
    """The baseline's input: every text of the request joined, tools as JSON."""
    texts = [block["text"] for block in request["system"]]
    texts += [json.dumps(tool, separators=(",", ":")) for tool in request["tools"]]
    for message in request["messages"]:
        for block in message["content"]:
            if block["type"] == "tool_result":
                texts.append(block["content"])
            else:
                texts.append(block.get("text") or block.get("thinking") or json.dumps(block["input"]))
    return "\n".join(texts)


def _parsed(wire: str) -> Any:
    """A request as the proxy holds it: freshly parsed, after a GC pass so none lands in a timed region."""
    gc.collect()
    return json.loads(wire)


@dataclass(frozen=True)
class _Env:
    """The one service TokenCountRule uses from the pipeline's environment."""

    token_counter: TokenCounter


def _context(request: dict[str, Any]) -> RequestContext:
    return RequestContext(
        request_id="bench",
        call_type="anthropic_messages",
        model="claude-sonnet-4-5",
        system=request["system"],
        tools=request["tools"],
        messages=request["messages"],
    )


def _fields(request: dict[str, Any]) -> tuple[Any, Any, Any]:
    return request["system"], request["tools"], request["messages"]


def _timed(function: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = function(*args)
    return result, (time.perf_counter() - start) * 1000


async def _loop_stall(work: Callable[[], Awaitable[object]]) -> float:
    """Longest stretch (ms) the event loop could not run other tasks while awaiting ``work()``: a ticker
    records the gaps between its wake-ups beyond its own 1 ms sleep (the selector's resolution)."""
    gaps: list[float] = []
    done = False

    async def ticker() -> None:
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(max(0.0, now - last - 0.001))
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.003)
    gaps.clear()
    await work()
    done = True
    await task
    return max(gaps, default=0.0) * 1000


async def _replay(wires: list[str], encoding: tiktoken.Encoding) -> list[Row]:
    """One pass over the conversation, in one event loop, with fresh counters shared across its turns."""
    rule, env, async_env = TokenCountRule(THRESHOLD), _Env(TokenCounter()), _Env(TokenCounter())
    rows = []
    for wire in wires:
        decided, ours = _timed(rule.evaluate, _context(_parsed(wire)), env)
        text = _concatenated(_parsed(wire))
        tokens, baseline = _timed(lambda t: len(encoding.encode_ordinary(t)), text)
        stall = await _loop_stall(functools.partial(rule.evaluate_async, _context(_parsed(wire)), async_env))
        rows.append((decided, tokens, ours, baseline, stall))
    return rows


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18]


def _print_table(runs: list[list[Row]]) -> tuple[list[float], list[float], list[float]]:
    print(f"per-turn medians of {REPEATS} passes; threshold {THRESHOLD}")
    header = (
        ("turn", 4),
        ("tokens", 8),
        (">60k", 5),
        ("ours ms", 8),
        ("baseline ms", 11),
        ("ratio", 6),
        ("stall ms", 8),
    )
    print(" ".join(f"{name:>{width}}" for name, width in header))
    ours, baseline, stalls = [], [], []
    for turn in range(TURNS):
        decided, tokens = runs[0][turn][0], runs[0][turn][1]
        our_ms, base_ms, stall_ms = (statistics.median(run[turn][k] for run in runs) for k in (2, 3, 4))
        ours.append(our_ms)
        baseline.append(base_ms)
        stalls.append(stall_ms)
        print(
            f"{turn + 1:>4} {tokens:>8} {decided!s:>5} {our_ms:>8.3f} {base_ms:>11.2f}"
            f" {base_ms / our_ms:>5.0f}x {stall_ms:>8.3f}"
        )
    return ours, baseline, stalls


def _print_summary(
    runs: list[list[Row]], ours: list[float], baseline: list[float], stalls: list[float]
) -> None:
    p50, base_p50 = statistics.median(ours), statistics.median(baseline)
    print()
    print(f"ours (rule):      p50 {p50:.3f} ms   p95 {_p95(ours):.3f} ms   max {max(ours):.3f} ms")
    warm_p50 = statistics.median(ours[TURNS // 2 :])
    print(f"  turns {TURNS // 2 + 1}-{TURNS} (warm cache, above threshold): p50 {warm_p50:.3f} ms")
    print(f"baseline encode:  p50 {base_p50:.2f} ms   p95 {_p95(baseline):.2f} ms")
    print(f"ratio baseline p50 / ours p50: {base_p50 / p50:.0f}x")
    print(f"cold first turn ({runs[0][0][1]} tokens): ours {ours[0]:.3f} ms, baseline {baseline[0]:.2f} ms")
    control = [
        asyncio.run(_loop_stall(functools.partial(asyncio.to_thread, time.sleep, 0.006))) for _ in range(20)
    ]
    print(f"evaluate_async() loop stall: p50 {statistics.median(stalls):.3f} ms   max {max(stalls):.3f} ms")
    print(f"  control, to_thread(sleep): p50 {statistics.median(control):.3f} ms   max {max(control):.3f} ms")
    wrong = sorted(
        {turn + 1 for run in runs for turn, row in enumerate(run) if row[0] != (row[1] > THRESHOLD)}
    )
    print(f"turns where the rule disagrees with the baseline's count > {THRESHOLD}: {wrong or 'none'}")


def _print_final_context(wire: str, baseline_tokens: int) -> None:
    fields = _fields(_parsed(wire))
    exact, cold_ms = _timed(TokenCounter().count_request, *fields)
    _, cold_exceeds_ms = _timed(TokenCounter().exceeds, *fields, THRESHOLD)
    warm = TokenCounter()
    warm.count_request(*fields)
    _, warm_ms = _timed(warm.count_request, *_fields(_parsed(wire)))
    print(
        f"final context, cold: count_request {cold_ms:.1f} ms, exceeds({THRESHOLD}) {cold_exceeds_ms:.1f} ms"
    )
    print(f"final context, warm: count_request {warm_ms:.3f} ms")
    print(f"final exact count: {exact} tokens (baseline's concatenated encode: {baseline_tokens})")
    print(f"estimate_request with an empty cache: {TokenCounter().estimate_request(*fields)}")


def main() -> None:
    wires = _conversation()
    TokenCounter()  # points tiktoken at litellm's bundled files before the baseline loads its encoding
    encoding = tiktoken.get_encoding("cl100k_base")
    runs = [asyncio.run(_replay(wires, encoding)) for _ in range(REPEATS)]
    _print_summary(runs, *_print_table(runs))
    _print_final_context(wires[-1], runs[0][-1][1])


if __name__ == "__main__":
    main()
