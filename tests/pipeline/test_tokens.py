"""Tests for ccproxy_desktop.pipeline.tokens: what each block costs, the cache, bounds, threads, async."""

from __future__ import annotations

import asyncio
import base64
import copy
import gc
import json
import math
import os
import random
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import tiktoken
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccproxy_desktop.pipeline import tokens
from ccproxy_desktop.pipeline.tokens import (
    MESSAGE_OVERHEAD_TOKENS,
    TOOLS_PREAMBLE_TOKENS,
    TiktokenTokenizer,
    TokenCounter,
)

TOKENIZER = TiktokenTokenizer()  # loads cl100k once (from litellm's bundled files) for the whole module
ENCODING = tiktoken.get_encoding("cl100k_base")


def n(text: str) -> int:
    """The reference: a direct cl100k encode."""
    return len(ENCODING.encode_ordinary(text))


def js(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class RecordingTokenizer:
    """A real cl100k tokenizer that records every text it is asked to encode."""

    def __init__(self) -> None:
        self.encoded: list[str] = []
        self._lock = threading.Lock()

    @property
    def max_token_bytes(self) -> int:
        return TOKENIZER.max_token_bytes

    def count(self, text: str) -> int:
        with self._lock:
            self.encoded.append(text)
        return TOKENIZER.count(text)


PROSE_WORDS = "the proxy routes each request by its token count and caches what it has seen before"


def prose(seed: int, sentences: int) -> str:
    rng = random.Random(seed)
    words = PROSE_WORDS.split()
    return " ".join(
        " ".join(rng.choices(words, k=rng.randint(5, 15))).capitalize() + "." for _ in range(sentences)
    )


def code(seed: int, lines: int) -> str:
    rng = random.Random(seed)
    names = ["alpha", "beta", "gamma", "delta", "route", "label", "count", "cache"]
    return "\n".join(
        f"{i:>6}\t    {rng.choice(names)}_{rng.randint(0, 999)} = {rng.choice(names)}({rng.random():.4f})"
        for i in range(1, lines + 1)
    )


def png(width: int, height: int) -> str:
    header = b"\x89PNG\r\n\x1a\n" + (13).to_bytes(4, "big") + b"IHDR"
    return base64.b64encode(
        header + width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\0\0\0"
    ).decode()


def gif(width: int, height: int) -> str:
    return base64.b64encode(
        b"GIF89a" + width.to_bytes(2, "little") + height.to_bytes(2, "little") + b"\0\0\0"
    ).decode()


def jpeg(width: int, height: int) -> str:
    app0 = b"\xff\xe0" + (16).to_bytes(2, "big") + b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"
    sof0 = (
        b"\xff\xc0" + (17).to_bytes(2, "big") + b"\x08" + height.to_bytes(2, "big") + width.to_bytes(2, "big")
    )
    return base64.b64encode(b"\xff\xd8" + app0 + sof0 + b"\x03" + b"\0" * 9 + b"\xff\xd9").decode()


def image(data: str) -> dict[str, Any]:
    return {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}


def request(*blocks: object) -> list[dict[str, Any]]:
    return [{"role": "user", "content": "Please look at this."}, {"role": "user", "content": list(blocks)}]


BIG_FILE = code(1, 800)
THINKING = prose(2, 20)
INPUT = {"command": "grep -rn 'TokenCounter' ccproxy_desktop/", "description": "Find uses"}
SEARCH_RESULTS = [
    {"type": "web_search_result", "url": "https://example.com", "title": "Tokens", "page_age": None}
]


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        pytest.param({"type": "text", "text": THINKING}, n(THINKING), id="text"),
        pytest.param(THINKING, n(THINKING), id="bare-string-block"),
        pytest.param(
            {"type": "tool_result", "tool_use_id": "t1", "content": BIG_FILE},
            n(BIG_FILE),
            id="tool_result-string",
        ),
        pytest.param(
            {
                "type": "tool_result",
                "content": [{"type": "text", "text": "ok"}, {"type": "text", "text": BIG_FILE}],
            },
            n("ok") + n(BIG_FILE),
            id="tool_result-text-blocks",
        ),
        pytest.param(
            {"type": "tool_result", "content": [image("not an image")]},
            1600,
            id="tool_result-image-unknown-size",
        ),
        pytest.param(
            {"type": "tool_result", "content": [image(png(200, 150))]}, 40, id="tool_result-png-200x150"
        ),
        pytest.param(image(png(4000, 3000)), 1600, id="png-capped"),
        pytest.param(image(gif(300, 250)), 100, id="gif-300x250"),
        pytest.param(image(jpeg(640, 480)), 410, id="jpeg-640x480"),
        pytest.param(image(png(200, 150)[:12]), 1600, id="png-truncated-header"),
        pytest.param(
            {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}, 1600, id="image-url"
        ),
        pytest.param(
            {"type": "thinking", "thinking": THINKING, "signature": "EqQB" * 50}, n(THINKING), id="thinking"
        ),
        pytest.param({"type": "redacted_thinking", "data": "x" * 4001}, 1001, id="redacted_thinking"),
        pytest.param(
            {
                "type": "document",
                "title": "Notes",
                "source": {"type": "text", "media_type": "text/plain", "data": BIG_FILE},
            },
            n("Notes") + n(BIG_FILE),
            id="document-text",
        ),
        pytest.param(
            {
                "type": "document",
                "source": {"type": "content", "content": [{"type": "text", "text": THINKING}]},
            },
            n(THINKING),
            id="document-content",
        ),
        pytest.param(
            {
                "type": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": "A" * 133_332},
            },
            4000,
            id="document-pdf-100kB",
        ),
        pytest.param(
            {"type": "tool_use", "id": "t1", "name": "Bash", "input": INPUT},
            n("Bash") + n(js(INPUT)),
            id="tool_use",
        ),
        pytest.param(
            {"type": "server_tool_use", "id": "s1", "name": "web_search", "input": {"query": "cl100k"}},
            n("web_search") + n(js({"query": "cl100k"})),
            id="server_tool_use",
        ),
        pytest.param(
            {"type": "web_search_tool_result", "tool_use_id": "s1", "content": SEARCH_RESULTS},
            n(js(SEARCH_RESULTS)),
            id="web_search_tool_result",
        ),
        pytest.param(
            {
                "type": "search_result",
                "title": "T",
                "source": "https://s",
                "content": [{"type": "text", "text": THINKING}],
            },
            n("T") + n("https://s") + n(THINKING),
            id="search_result",
        ),
        pytest.param(
            {"type": "future_block", "payload": {"k": [1, 2, 3]}},
            n(js({"type": "future_block", "payload": {"k": [1, 2, 3]}})),
            id="unknown-type-as-json",
        ),
        pytest.param({"no_type": "here"}, n(js({"no_type": "here"})), id="untyped-dict-as-json"),
    ],
)
def test_each_block_type_adds_its_tokens(block: object, expected: int) -> None:
    counter = TokenCounter(TOKENIZER)
    base = counter.count_request(None, None, request())
    assert counter.count_request(None, None, request(block)) - base == expected


def test_a_big_tool_result_counts_more_than_none() -> None:
    counter = TokenCounter(TOKENIZER)
    result = {"type": "tool_result", "tool_use_id": "t1", "content": BIG_FILE}
    assert (
        counter.count_request(None, None, request(result))
        > counter.count_request(None, None, request()) + 5000
    )


@pytest.mark.parametrize(
    "texts",
    [
        pytest.param([prose(3, 40)], id="one-block"),
        pytest.param([prose(4, 20), code(5, 30), "Be brief."], id="three"),
    ],
)
def test_system_as_blocks_counts_each_block_and_one_block_equals_the_string(texts: list[str]) -> None:
    counter = TokenCounter(TOKENIZER)
    blocks = [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}} for text in texts]
    assert counter.count_request(blocks, None, []) == sum(n(text) for text in texts)
    assert counter.count_request(blocks[:1], None, []) == counter.count_request(texts[0], None, [])


BASH_SCHEMA = {
    "type": "object",
    "properties": {"command": {"type": "string", "description": "The command to run"}},
    "required": ["command"],
}


@pytest.mark.parametrize(
    ("tools", "expected"),
    [
        pytest.param(
            [{"name": "Bash", "description": prose(6, 10), "input_schema": BASH_SCHEMA}],
            TOOLS_PREAMBLE_TOKENS + n("Bash") + n(prose(6, 10)) + n(js(BASH_SCHEMA)),
            id="client-tool",
        ),
        pytest.param(
            [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}],
            TOOLS_PREAMBLE_TOKENS
            + n(js({"type": "web_search_20250305", "name": "web_search", "max_uses": 5})),
            id="server-tool",
        ),
        pytest.param([], 0, id="empty-list"),
    ],
)
def test_tool_definitions_are_counted(tools: list[dict[str, Any]], expected: int) -> None:
    counter = TokenCounter(TOKENIZER)
    assert counter.count_request(None, tools, []) - counter.count_request(None, None, []) == expected


@pytest.mark.parametrize(
    "texts",
    [
        pytest.param([prose(7, 30), prose(8, 30), prose(9, 30)], id="prose"),
        pytest.param([code(10, 200), "Fix line 12.", code(11, 150)], id="code"),
        pytest.param(
            ["日本語のテキストです。" * 40, "Emoji 🎉🚀 and accents: café naïve." * 30], id="unicode"
        ),
        pytest.param(
            [prose(12, 5), js({"nested": {"list": [1, 2, 3], "text": prose(13, 3)}})], id="json-text"
        ),
    ],
)
def test_text_only_counts_match_a_direct_encode_of_the_concatenation(texts: list[str]) -> None:
    system, *turns = texts
    messages = [{"role": ("user", "assistant")[i % 2], "content": text} for i, text in enumerate(turns)]
    ours = TokenCounter(TOKENIZER).count_request(system, None, messages)
    direct = n("".join(texts))
    assert abs(ours - direct) <= MESSAGE_OVERHEAD_TOKENS * len(messages) + len(texts)


def conversation(turns: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for turn in range(turns):
        tool_id = f"toolu_{turn}"
        messages += [
            {"role": "user", "content": [{"type": "text", "text": prose(100 + turn, 3)}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": prose(200 + turn, 5), "signature": "sig"},
                    {
                        "type": "tool_use",
                        "id": tool_id,
                        "name": "Read",
                        "input": {"file_path": f"/src/f{turn}.py"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": code(turn, 200)}],
            },
        ]
    return messages


TOOLS = [{"name": "Read", "description": prose(14, 5), "input_schema": BASH_SCHEMA}]


def test_a_repeated_request_is_served_from_the_cache() -> None:
    recorder = RecordingTokenizer()
    counter = TokenCounter(recorder)
    first = counter.count_request("You are Claude Code.", TOOLS, conversation(3))
    before, encoded = counter.stats(), len(recorder.encoded)
    again = copy.deepcopy(conversation(3))  # new objects, as each request is parsed afresh
    assert counter.count_request("You are Claude Code.", copy.deepcopy(TOOLS), again) == first
    after = counter.stats()
    assert len(recorder.encoded) == encoded
    assert after.misses == before.misses
    assert after.hits - before.hits == before.misses  # every text looked up the first time now hits


def test_the_next_turn_encodes_only_its_new_texts() -> None:
    recorder = RecordingTokenizer()
    counter = TokenCounter(recorder)
    counter.count_request("System.", TOOLS, conversation(3))
    recorder.encoded.clear()
    counter.count_request("System.", TOOLS, conversation(4))
    new_turn = conversation(4)[9:]
    expected = {
        new_turn[0]["content"][0]["text"],
        new_turn[1]["content"][0]["thinking"],
        js(new_turn[1]["content"][1]["input"]),
        new_turn[2]["content"][0]["content"],
    }
    assert set(recorder.encoded) == expected


def test_the_cache_evicts_the_least_recently_used_entry_beyond_max_entries() -> None:
    counter = TokenCounter(TOKENIZER, max_entries=3)
    for text in ["alpha one", "beta two", "gamma three"]:
        counter.count_request(text, None, [])
    counter.count_request("alpha one", None, [])  # alpha is now the most recently used
    counter.count_request("delta four", None, [])  # evicts beta
    assert counter.stats().size == 3
    hits = counter.stats().hits
    counter.count_request("alpha one", None, [])
    assert counter.stats().hits == hits + 1
    misses = counter.stats().misses
    counter.count_request("beta two", None, [])
    assert counter.stats().misses == misses + 1


def test_the_cache_keeps_no_copy_of_the_texts() -> None:
    counter = TokenCounter(TOKENIZER)
    gc.collect()
    tracemalloc.start()
    try:
        big = "".join(f"word{i} " for i in range(60_000))  # ~0.6 MB
        counter.count_request(big, None, [])
        del big
        gc.collect()
        retained, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert retained < 100_000


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    """Switch threads every microsecond instead of every 5 ms, so unguarded races show up."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


@pytest.mark.usefixtures("frequent_thread_switches")
def test_threads_sharing_a_counter_get_the_single_threaded_results() -> None:
    requests = [("System.", TOOLS, conversation(turns)) for turns in range(1, 9)]
    expected, lookups = [], []
    for req in requests:
        alone = TokenCounter(TOKENIZER)
        expected.append(alone.count_request(*req))
        lookups.append(alone.stats().misses)
    shared = TokenCounter(TOKENIZER, max_entries=16)  # small, so threads also evict concurrently

    def work(seed: int) -> list[tuple[int, int]]:
        order = random.Random(seed).sample(range(len(requests)), len(requests)) * 5
        return [(i, shared.count_request(*requests[i])) for i in order]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [row for rows in pool.map(work, range(8)) for row in rows]
    assert all(count == expected[i] for i, count in results)
    stats = shared.stats()
    assert stats.hits + stats.misses == sum(lookups[i] for i, _ in results)
    assert stats.size <= 16


@pytest.mark.parametrize("offset", [-1, 0, 1, -5000, 5000])
@pytest.mark.parametrize("warm_turns", [0, 2, 5])
def test_exceeds_agrees_with_the_exact_count(offset: int, warm_turns: int) -> None:
    exact = TokenCounter(TOKENIZER).count_request("System.", TOOLS, conversation(5))
    counter = TokenCounter(TOKENIZER)
    counter.count_request("System.", TOOLS, conversation(warm_turns))
    assert counter.exceeds("System.", TOOLS, conversation(5), exact + offset) is (offset < 0)


def test_exceeds_looks_past_a_cached_prefix_that_only_equals_the_threshold() -> None:
    counter = TokenCounter(TOKENIZER)
    system, question = prose(16, 30), prose(17, 5)
    counter.count_request(system, None, [])
    threshold = n(system) + MESSAGE_OVERHEAD_TOKENS
    assert counter.exceeds(system, None, [{"role": "user", "content": question}], threshold) is True


@pytest.mark.parametrize(
    ("warm", "threshold", "expected"),
    [
        pytest.param(0, 10_000_000, False, id="bytes-below-threshold"),
        pytest.param(4, 1_000, True, id="cached-part-already-above"),
    ],
)
def test_exceeds_decides_from_bounds_without_encoding(warm: int, threshold: int, expected: bool) -> None:
    recorder = RecordingTokenizer()
    counter = TokenCounter(recorder)
    counter.count_request("System.", TOOLS, conversation(warm))
    recorder.encoded.clear()
    assert counter.exceeds("System.", TOOLS, conversation(8), threshold) is expected
    assert recorder.encoded == []


TOKENS_SOURCE = Path(tokens.__file__).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("system", "messages", "tolerance"),
    [
        pytest.param(
            prose(15, 200), [{"role": "user", "content": TOKENS_SOURCE}], 0.25, id="prose-and-python"
        ),
        pytest.param("System.", conversation(6), None, id="digit-heavy-code"),
    ],
)
def test_estimate_brackets_the_count_and_is_exact_once_cached(
    system: str, messages: list[dict[str, Any]], tolerance: float | None
) -> None:
    counter = TokenCounter(TOKENIZER)
    cold = counter.estimate_request(system, TOOLS, messages)
    exact = counter.count_request(system, TOOLS, messages)
    assert cold.lower <= cold.estimate <= cold.upper
    assert cold.lower <= exact <= cold.upper
    if tolerance is not None:
        assert abs(cold.estimate - exact) / exact < tolerance
    warm = counter.estimate_request(system, TOOLS, messages)
    assert (warm.lower, warm.estimate, warm.upper, warm.exact) == (exact, exact, exact, True)


def test_max_token_bytes_is_the_longest_cl100k_token() -> None:
    assert TOKENIZER.max_token_bytes == max(len(token) for token in ENCODING.token_byte_values())


def _cyclic() -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_use", "name": "loop"}
    block["input"] = block
    return block


def _deep(depth: int) -> object:
    value: object = "bottom"
    for _ in range(depth):
        value = {"type": "tool_result", "content": [value]}
    return value


@pytest.mark.parametrize(
    ("system", "tools", "messages"),
    [
        pytest.param(None, None, None, id="all-none"),
        pytest.param(5, 5.5, 7, id="numbers"),
        pytest.param({"text": 1}, {"name": "x"}, "not a list", id="wrong-containers"),
        pytest.param(
            [None, 3, [], {"type": ["list"]}], [None, 1, "tool"], [None, 1, [], "bare"], id="junk-items"
        ),
        pytest.param(
            None, [{"input_schema": {1: {2, 3}}, "name": b"bytes"}], [{"content": object()}], id="odd-types"
        ),
        pytest.param(None, None, [{"role": "user", "content": [_cyclic()]}], id="cyclic"),
        pytest.param(None, None, [{"role": "user", "content": [_deep(5000)]}], id="deep-blocks"),
        pytest.param(
            None, None, [{"role": "user", "content": [{"type": "x", "v": _deep(100_000)}]}], id="deep-json"
        ),
        pytest.param(
            "lone \ud800 surrogate", None, [{"role": "user", "content": "a\udfffb"}], id="surrogates"
        ),
        pytest.param("<|endoftext|><|fim_prefix|>", None, [], id="special-token-text"),
        pytest.param(None, [{"name": "t", "input_schema": {"x": float("nan")}}], [], id="nan"),
    ],
)
def test_garbage_never_raises(system: object, tools: object, messages: object) -> None:
    counter = TokenCounter(TOKENIZER)
    count = counter.count_request(system, tools, messages)
    assert isinstance(count, int) and count >= 0
    estimate = TokenCounter(TOKENIZER).estimate_request(system, tools, messages)
    assert estimate.lower <= count <= estimate.upper
    assert TokenCounter(TOKENIZER).exceeds(system, tools, messages, count) is False


SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
JSON_LIKE = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
BLOCK_TYPES = [
    "text", "thinking", "redacted_thinking", "tool_use", "server_tool_use", "tool_result", "mcp_tool_result",
    "search_result", "image", "document", "web_search_tool_result", "mystery",
]  # fmt: skip
IMAGE_DATA = st.builds(
    lambda prefix, rest: prefix + rest,
    st.sampled_from(["iVBORw0KGgo", "R0lGOD", "/9j/", ""]),
    st.text(alphabet="ABCDEFabcdef0123456789+/=", max_size=60),
)
SOURCES = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "content", "base64", "url"]) | JSON_LIKE},
    optional={"data": IMAGE_DATA | JSON_LIKE, "content": JSON_LIKE},
)
BLOCKS = st.recursive(
    st.fixed_dictionaries(
        {"type": st.sampled_from(BLOCK_TYPES) | JSON_LIKE},
        optional={
            key: JSON_LIKE
            for key in ("text", "thinking", "data", "input", "name", "title", "context", "content")
        }
        | {"source": SOURCES | JSON_LIKE},
    ),
    lambda inner: st.fixed_dictionaries(
        {
            "type": st.sampled_from(["tool_result", "document", "search_result"]),
            "content": st.lists(inner, max_size=3),
        }
    ),
    max_leaves=8,
)
CONTENT = st.text(max_size=40) | st.lists(BLOCKS | JSON_LIKE, max_size=4) | JSON_LIKE
MESSAGES = (
    st.lists(st.fixed_dictionaries({"role": JSON_LIKE, "content": CONTENT}) | JSON_LIKE, max_size=5)
    | JSON_LIKE
)
TOOLS_ST = (
    st.lists(
        st.fixed_dictionaries({"name": JSON_LIKE, "description": JSON_LIKE, "input_schema": JSON_LIKE})
        | JSON_LIKE
    )
    | JSON_LIKE
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(system=CONTENT, tools=TOOLS_ST, messages=MESSAGES)
def test_arbitrary_json_like_requests_count_without_raising(
    system: object, tools: object, messages: object
) -> None:
    count = TokenCounter(TOKENIZER).count_request(system, tools, messages)
    assert isinstance(count, int) and count >= 0
    estimate = TokenCounter(TOKENIZER).estimate_request(system, tools, messages)
    assert estimate.lower <= estimate.estimate <= estimate.upper
    assert estimate.lower <= count <= estimate.upper
    counter = TokenCounter(TOKENIZER)
    assert (
        counter.exceeds(system, tools, messages, count - 1),
        counter.exceeds(system, tools, messages, count),
    ) == (
        True,
        False,
    )


OFFLINE_SCRIPTS = {
    "ours": """
        import sys
        from ccproxy_desktop.pipeline.tokens import TokenCounter
        messages = [{"role": "user", "content": "hello"}]
        print(TokenCounter().count_request("You are Claude Code.", None, messages))
        assert "litellm" not in sys.modules
    """,
    "plain-tiktoken": """
        import tiktoken
        print(len(tiktoken.get_encoding("cl100k_base").encode("hello")))
    """,
}


@pytest.mark.parametrize(("script", "works"), [("ours", True), ("plain-tiktoken", False)])
def test_counting_works_offline_without_a_tiktoken_cache(tmp_path: Path, script: str, works: bool) -> None:
    """The control shows the setup really is offline: plain tiktoken fails to download its encoding."""
    env = {k: v for k, v in os.environ.items() if k not in {"TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"}}
    proxy = "http://127.0.0.1:9"
    env |= {
        "HTTPS_PROXY": proxy,
        "HTTP_PROXY": proxy,
        "https_proxy": proxy,
        "http_proxy": proxy,
        "TMPDIR": str(tmp_path),
    }
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(OFFLINE_SCRIPTS[script])],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (run.returncode == 0) is works, run.stderr[-2000:]
    if works:
        assert int(run.stdout) == n("You are Claude Code.") + n("hello") + MESSAGE_OVERHEAD_TOKENS


ASYNC_REQUESTS = [
    pytest.param(("System.", TOOLS, conversation(1)), id="small"),
    pytest.param(("System.", TOOLS, conversation(6)), id="large"),
    pytest.param((None, "junk", [1, {"content": [_cyclic()]}]), id="garbage"),
]


@pytest.mark.parametrize("inline_chars", [0, 10**9], ids=["worker-thread", "inline"])
@pytest.mark.parametrize("req", ASYNC_REQUESTS)
async def test_async_methods_equal_the_sync_ones(
    req: tuple[object, object, object], inline_chars: int
) -> None:
    exact = TokenCounter(TOKENIZER).count_request(*req)
    assert await TokenCounter(TOKENIZER, inline_chars=inline_chars).count_request_async(*req) == exact
    for threshold in (exact - 1, exact, max(0, exact - 20_000), exact + 20_000):
        counter = TokenCounter(TOKENIZER, inline_chars=inline_chars)
        assert await counter.exceeds_async(*req, threshold) is (exact > threshold)


async def test_the_event_loop_keeps_running_while_a_cold_context_is_encoded() -> None:
    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            await asyncio.sleep(0.001)
            ticks += 1

    huge = "\n".join(code(seed, 400) for seed in range(60))  # ~0.9 MB, ~100+ ms to encode
    task = asyncio.create_task(ticker())
    start = time.perf_counter()
    count = await TokenCounter(TOKENIZER).count_request_async(huge, None, [])
    elapsed, done = time.perf_counter() - start, True
    await task
    assert count == n(huge)
    assert ticks >= min(5, math.floor(elapsed * 1000 / 4))
