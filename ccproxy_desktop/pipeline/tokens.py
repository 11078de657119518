"""Token counting for Anthropic Messages requests, fast enough to run on every request.

Anthropic does not publish the tokenizer of its current models, so counts use tiktoken's ``cl100k_base``
encoding, the usual approximation. Anthropic's own counts differ (by content, often by 10% or more), so
these counts are for routing decisions ("is this request over 60k tokens?"), not for billing.

Claude Code resends the whole conversation every turn, so :class:`TokenCounter` caches the count of every
text it encodes, keyed by a fingerprint of the text; turn N+1 then only encodes what turn N did not have.
:meth:`TokenCounter.exceeds_async` is the call made on the proxy's event loop: cached texts are summed
inline, sound byte bounds often decide without encoding at all, and a large remainder is encoded in a
worker thread (tiktoken releases the GIL while encoding).

This module imports nothing from litellm; it only looks up where litellm's package lies on disk to reuse
the tokenizer files it ships (see :func:`_ensure_tiktoken_cache_dir`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import importlib.util
import json
import marshal
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import tiktoken

__all__ = ["CacheStats", "TiktokenTokenizer", "TokenCounter", "TokenEstimate", "Tokenizer"]

MESSAGE_OVERHEAD_TOKENS = 3
"""Added per message for the role and turn separators Anthropic wraps around each message."""

TOOLS_PREAMBLE_TOKENS = 346
"""Added once when tools are present: Anthropic's documented tool-use system prompt (Claude 4, auto)."""

IMAGE_TOKENS_MAX = 1600
"""Cost of an image whose size is unknown, and the cap for known sizes (Anthropic resizes large images
to about 1.15 megapixels, which is ~1600 tokens). Known sizes cost ``ceil(width * height / 750)``."""

PDF_TOKENS_PER_PAGE = 2000
PDF_BYTES_PER_PAGE = 50_000
"""A base64 PDF is estimated without decoding as one page per 50 kB, 2000 tokens per page (Anthropic
quotes 1500-3000 tokens per page), at least one page; URL and file sources count one page. Rough."""

CHARS_PER_TOKEN_ESTIMATE = 4.0
"""Characters per cl100k token, used only by estimates. Measured medians: Python sources 4.4, English
docs 4.25, Claude Code style line-numbered file reads ~3.9, JS bundles and dense JSON ~3."""

_CL100K_MAX_TOKEN_BYTES = 128
_MAX_DEPTH = 6
_JPEG_SCAN_CHARS = 65_536

_TEXT, _JSON = 0, 1
_Key = tuple[int, int, int]
"""(_TEXT, len, hash) of a text, or (_JSON, len, hash) of a JSON value's marshal serialization."""


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters of the per-text count cache. ``misses`` counts lookups that found nothing, whether or
    not the text was then encoded (``exceeds`` may decide without encoding)."""

    hits: int
    misses: int
    size: int
    max_entries: int


@dataclass(frozen=True, slots=True)
class TokenEstimate:
    """A count known without encoding: ``lower <= count_request(...) <= upper`` always holds, and
    ``estimate`` is a calibrated guess between them. All three are equal when every text was cached."""

    lower: int
    estimate: int
    upper: int

    @property
    def exact(self) -> bool:
        return self.lower == self.upper


class Tokenizer(Protocol):
    """Counts the tokens of one text. Must be safe to call from several threads at once."""

    @property
    def max_token_bytes(self) -> int:
        """The UTF-8 length of the longest token; makes ``ceil(chars / max_token_bytes)`` a lower bound."""
        ...

    def count(self, text: str) -> int: ...


def _ensure_tiktoken_cache_dir() -> None:
    """Point ``TIKTOKEN_CACHE_DIR`` at litellm's bundled BPE files unless the user chose a directory.

    tiktoken otherwise downloads the encoding on first use. ``find_spec`` locates the installed package
    without importing litellm (importing it sets the same variable, at a cost of seconds).
    """
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        return
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return
    for location in spec.submodule_search_locations:
        folder = Path(location) / "litellm_core_utils" / "tokenizers"
        if folder.is_dir():
            os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)
            return


class TiktokenTokenizer:
    """cl100k_base via tiktoken, from local files, loaded on the first text it must encode (~0.3 s and
    ~40 MB; the byte bounds decide most requests without it, so a proxy that sees only short requests never
    loads it). Special-token text such as ``<|endoftext|>`` is counted as plain text."""

    def __init__(self) -> None:
        _ensure_tiktoken_cache_dir()
        self._encoding: Any = None
        self._lock = threading.Lock()

    @property
    def max_token_bytes(self) -> int:
        return _CL100K_MAX_TOKEN_BYTES

    def _load(self) -> Any:
        with self._lock:
            if self._encoding is None:
                self._encoding = tiktoken.get_encoding("cl100k_base")
            return self._encoding

    def count(self, text: str) -> int:
        encoding = self._encoding or self._load()
        return len(encoding.encode_ordinary(text))


class _Parts:
    """What one request is made of: texts to encode, values to encode as JSON, and tokens already known
    (overheads, images). JSON values stay unserialized until their count is not in the cache."""

    __slots__ = ("fixed", "texts", "values")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.values: list[object] = []
        self.fixed = 0

    def text(self, value: object) -> None:
        if isinstance(value, str) and value:
            self.texts.append(value)

    def json(self, value: object) -> None:
        if value is not None:
            self.values.append(value)


def _to_json(value: object) -> str:
    """Compact JSON as sent on the wire; ``""`` for what cannot be serialized (cycles, deep nesting)."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), skipkeys=True, default=str)
    except (TypeError, ValueError, RecursionError):
        return ""


def _keyed(parts: _Parts) -> Iterator[tuple[_Key, object]]:
    """Each text and JSON value of ``parts`` with its cache key, JSON values first. A JSON value is keyed
    by its marshal bytes: ~7x cheaper than ``json.dumps`` for tool schemas and inputs, and injective
    (marshal round-trips); version 2 writes no back-references, so equal values give equal bytes. Values
    marshal cannot take are serialized to JSON here and keyed as text."""
    for value in parts.values:
        try:
            data = marshal.dumps(value, 2)  # type: ignore[arg-type]  # unmarshallable values raise ValueError
        except ValueError:
            text = _to_json(value)
            yield (_TEXT, len(text), hash(text)), text
        else:
            yield (_JSON, len(data), hash(data)), value
    for text in parts.texts:
        yield (_TEXT, len(text), hash(text)), text


def _collect(system: object, tools: object, messages: object) -> _Parts:
    parts = _Parts()
    _add_content(system, parts, 0)
    _add_tools(tools, parts)
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                parts.fixed += MESSAGE_OVERHEAD_TOKENS
                _add_content(message.get("content"), parts, 0)
            else:
                _add_content(message, parts, 0)
    return parts


def _add_tools(tools: object, parts: _Parts) -> None:
    if not isinstance(tools, list) or not any(isinstance(tool, dict) for tool in tools):
        return
    parts.fixed += TOOLS_PREAMBLE_TOKENS
    for tool in tools:
        if isinstance(tool, dict) and "input_schema" in tool:
            parts.text(tool.get("name"))
            parts.text(tool.get("description"))
            parts.json(tool.get("input_schema"))
        elif isinstance(tool, dict):  # server tools such as {"type": "web_search_20250305", ...}
            parts.json(tool)


def _add_content(content: object, parts: _Parts, depth: int) -> None:
    """Count a ``content`` (or ``system``) value: a string, one block, or a list of blocks."""
    if isinstance(content, list):
        for block in content:
            _add_block(block, parts, depth)
    else:
        _add_block(content, parts, depth)


def _add_block(block: object, parts: _Parts, depth: int) -> None:
    if isinstance(block, str):
        parts.text(block)
        return
    if not isinstance(block, dict):
        return
    kind = block.get("type")
    handler = _BLOCK_HANDLERS.get(kind) if isinstance(kind, str) else None
    if depth >= _MAX_DEPTH:
        parts.json(block)
    elif handler is not None:
        handler(block, parts, depth)
    elif isinstance(kind, str) and kind.endswith("_tool_result"):  # web_search_tool_result and kin
        parts.json(block.get("content"))
    else:
        parts.json(block)


def _add_text(block: dict[str, object], parts: _Parts, depth: int) -> None:
    parts.text(block.get("text"))


def _add_thinking(block: dict[str, object], parts: _Parts, depth: int) -> None:
    parts.text(block.get("thinking"))


def _add_redacted_thinking(block: dict[str, object], parts: _Parts, depth: int) -> None:
    data = block.get("data")
    if isinstance(data, str):
        parts.fixed += math.ceil(len(data) / 4)


def _add_tool_use(block: dict[str, object], parts: _Parts, depth: int) -> None:
    parts.text(block.get("name"))
    parts.json(block.get("input"))


def _add_tool_result(block: dict[str, object], parts: _Parts, depth: int) -> None:
    _add_content(block.get("content"), parts, depth + 1)


def _add_search_result(block: dict[str, object], parts: _Parts, depth: int) -> None:
    parts.text(block.get("title"))
    parts.text(block.get("source"))
    _add_content(block.get("content"), parts, depth + 1)


def _add_image(block: dict[str, object], parts: _Parts, depth: int) -> None:
    source = block.get("source")
    data = source.get("data") if isinstance(source, dict) else None
    width, height = _image_size(data) if isinstance(data, str) else (0, 0)
    pixels = width * height
    parts.fixed += min(IMAGE_TOKENS_MAX, math.ceil(pixels / 750)) if pixels > 0 else IMAGE_TOKENS_MAX


def _add_document(block: dict[str, object], parts: _Parts, depth: int) -> None:
    parts.text(block.get("title"))
    parts.text(block.get("context"))
    source = block.get("source")
    if not isinstance(source, dict):
        return
    kind = source.get("type")
    data = source.get("data")
    if kind == "text":
        parts.text(data)
    elif kind == "content":
        _add_content(source.get("content"), parts, depth + 1)
    else:
        pdf_bytes = len(data) * 3 // 4 if isinstance(data, str) else 0
        parts.fixed += PDF_TOKENS_PER_PAGE * max(1, math.ceil(pdf_bytes / PDF_BYTES_PER_PAGE))


_BLOCK_HANDLERS: dict[str, Callable[[dict[str, object], _Parts, int], None]] = {
    "text": _add_text,
    "thinking": _add_thinking,
    "redacted_thinking": _add_redacted_thinking,
    "tool_use": _add_tool_use,
    "server_tool_use": _add_tool_use,
    "mcp_tool_use": _add_tool_use,
    "tool_result": _add_tool_result,
    "mcp_tool_result": _add_tool_result,
    "search_result": _add_search_result,
    "image": _add_image,
    "document": _add_document,
}


def _image_size(data: str) -> tuple[int, int]:
    """(width, height) read from the header of base64 PNG, GIF or JPEG data; (0, 0) if not recognised."""
    try:
        if data.startswith("iVBORw0KGgo"):  # PNG: IHDR width and height at bytes 16-24
            head = base64.b64decode(data[:32])
            return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        if data.startswith("R0lGOD"):  # GIF: little-endian width and height at bytes 6-10
            head = base64.b64decode(data[:16])
            return int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little")
        if data.startswith("/9j/"):
            return _jpeg_size(base64.b64decode(data[: min(len(data) // 4 * 4, _JPEG_SCAN_CHARS)]))
    except binascii.Error:
        return 0, 0
    return 0, 0


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """Walk JPEG segments to the first start-of-frame marker, which holds height then width."""
    i = 2
    while i + 9 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD8:  # fill byte or standalone marker
            i += 1 if marker == 0xFF else 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return 0, 0


def _byte_bounds(text: str, max_token_bytes: int) -> tuple[int, int]:
    """Sound bounds on the token count of ``text``: every token covers between 1 and
    ``max_token_bytes`` UTF-8 bytes, and the text has at least ``len(text)`` bytes."""
    upper = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    return math.ceil(len(text) / max_token_bytes), upper


@dataclass(slots=True)
class _Plan:
    """A request after cache lookup: ``known`` tokens are settled, ``misses`` still need encoding."""

    known: int
    misses: list[tuple[_Key, str]]


class TokenCounter:
    """Counts tokens of Anthropic Messages requests, caching each text's count.

    Create one per app and share it among rules and threads: the cache is an LRU of at most
    ``max_entries`` entries keyed by the length and 64-bit hash of each text (of the marshal bytes for JSON
    values), so ~240 bytes per entry whatever the text size (~12 MB at the default), guarded by a lock. Two
    texts of equal length and hash would share a count; that only skews a count, never raises.

    Every method takes the raw request fields: ``system`` (a string or a list of text blocks), ``tools``
    (tool definitions) and ``messages`` (``{"role", "content"}`` dicts, content a string or a list of
    blocks). Nothing raises on malformed input: what is countable is counted, the rest ignored. Blocks
    count their text (``text``, ``thinking``, document text), tool calls their name and JSON input, tool
    results their content; images, redacted thinking and PDFs count fixed estimates (see the constants);
    server tool results and unknown blocks count their compact JSON. Messages add
    ``MESSAGE_OVERHEAD_TOKENS`` each; a non-empty tool list adds ``TOOLS_PREAMBLE_TOKENS``.

    The bounds used without encoding, per uncached text: at most its UTF-8 byte count (every token covers
    at least one byte) and at least ``ceil(len(text) / 128)`` (no cl100k token is longer than 128 bytes).
    The lower bound is weak; it is the cached counts that make ``exceeds`` decide early.

    ``inline_chars``: the async methods encode uncached text on the calling thread when it totals at most
    this many characters (~1k tokens, about a millisecond at most) and in a worker thread otherwise.
    """

    def __init__(
        self, tokenizer: Tokenizer | None = None, *, max_entries: int = 50_000, inline_chars: int = 4096
    ) -> None:
        self._tokenizer: Tokenizer = tokenizer if tokenizer is not None else TiktokenTokenizer()
        self._max_entries = max(1, max_entries)
        self._inline_chars = inline_chars
        self._cache: OrderedDict[_Key, int] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def count_request(self, system: object, tools: object, messages: object) -> int:
        """The exact count (under cl100k); encodes uncached texts on the calling thread."""
        return self._settle(self._plan(system, tools, messages), None)

    async def count_request_async(self, system: object, tools: object, messages: object) -> int:
        """Same result as :meth:`count_request`; large uncached text is encoded in a worker thread."""
        plan = self._plan(system, tools, messages)
        if self._miss_chars(plan) <= self._inline_chars:
            return self._settle(plan, None)
        return await asyncio.to_thread(self._settle, plan, None)

    def estimate_request(self, system: object, tools: object, messages: object) -> TokenEstimate:
        """Bounds and a calibrated estimate without encoding anything: cached texts count exactly,
        uncached ones by their length."""
        plan = self._plan(system, tools, messages)
        lower = upper = estimate = plan.known
        for _, text in plan.misses:
            low, high = _byte_bounds(text, self._tokenizer.max_token_bytes)
            lower, upper = lower + low, upper + high
            estimate += min(high, max(low, round(len(text) / CHARS_PER_TOKEN_ESTIMATE)))
        return TokenEstimate(lower=lower, estimate=estimate, upper=upper)

    def exceeds(self, system: object, tools: object, messages: object, threshold: int) -> bool:
        """``count_request(...) > threshold``, computed lazily: uncached texts are encoded one at a time
        only until the byte bounds of the rest decide the answer (and their counts cached)."""
        return self._settle(self._plan(system, tools, messages, threshold), threshold) > threshold

    async def exceeds_async(self, system: object, tools: object, messages: object, threshold: int) -> bool:
        """Same result as :meth:`exceeds`. Cache lookups and the bounds check run inline; if those do not
        decide and the uncached text exceeds ``inline_chars``, encoding runs in a worker thread."""
        plan = self._plan(system, tools, messages, threshold)
        if self._miss_chars(plan) <= self._inline_chars:
            return self._settle(plan, threshold) > threshold
        if (decided := self._decide(plan.known, *self._bounds(plan.misses), threshold)) is not None:
            return decided
        return await asyncio.to_thread(self._settle, plan, threshold) > threshold

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, len(self._cache), self._max_entries)

    def _plan(self, system: object, tools: object, messages: object, stop_above: int | None = None) -> _Plan:
        """Look every text up in the cache. With ``stop_above``, stop as soon as the settled tokens exceed
        it: the rest can only add tokens, so the plan still decides ``> stop_above`` (and skips hashing
        the rest of a long conversation)."""
        parts = _collect(system, tools, messages)
        known, hits, missed = parts.fixed, 0, []
        with self._lock:  # keys are computed under the lock, but that work holds the GIL anyway
            for key, item in _keyed(parts):
                count = self._cache.get(key)
                if count is None:
                    missed.append((key, item))
                    continue
                self._cache.move_to_end(key)
                known, hits = known + count, hits + 1
                if stop_above is not None and known > stop_above:
                    break
            self._hits += hits
            self._misses += len(missed)
        misses = [(key, _to_json(item) if key[0] == _JSON else str(item)) for key, item in missed]
        return _Plan(known, misses)

    def _settle(self, plan: _Plan, threshold: int | None) -> int:
        """Encode (and cache) misses in order until the total is exact, or, given a threshold, until the
        bounds of the remaining misses put the total on one side of it. Returns the exact total, or a
        bound on the same side of ``threshold`` as the exact total."""
        lower_rest, upper_rest = self._bounds(plan.misses) if threshold is not None else (0, 0)
        known, seen = plan.known, dict[_Key, int]()
        for key, text in plan.misses:
            if threshold is not None:
                decided = self._decide(known, lower_rest, upper_rest, threshold)
                if decided is not None:
                    return known + (lower_rest if decided else upper_rest)
                low, high = _byte_bounds(text, self._tokenizer.max_token_bytes)
                lower_rest, upper_rest = lower_rest - low, upper_rest - high
            if key not in seen:
                seen[key] = self._tokenizer.count(text)
                self._store(key, seen[key])
            known += seen[key]
        return known

    @staticmethod
    def _decide(known: int, lower_rest: int, upper_rest: int, threshold: int) -> bool | None:
        if known + lower_rest > threshold:
            return True
        if known + upper_rest <= threshold:
            return False
        return None

    def _bounds(self, misses: list[tuple[_Key, str]]) -> tuple[int, int]:
        lower = upper = 0
        for _, text in misses:
            low, high = _byte_bounds(text, self._tokenizer.max_token_bytes)
            lower, upper = lower + low, upper + high
        return lower, upper

    @staticmethod
    def _miss_chars(plan: _Plan) -> int:
        return sum(len(text) for _, text in plan.misses)

    def _store(self, key: _Key, count: int) -> None:
        with self._lock:
            self._cache[key] = count
            self._cache.move_to_end(key)
            while len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)
