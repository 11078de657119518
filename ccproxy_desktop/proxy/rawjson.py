"""A request body parsed once, with the place of its top-level `model` value, so that the native path can
forward the client's bytes with only that value replaced. Pure: stdlib only.

`parse_body` walks the top-level object itself and leaves every value to the C scanner of `json`, so it
costs one `json.loads` and knows where each top-level member's value starts and ends in the text.
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
from dataclasses import dataclass
from typing import Any

__all__ = ["BadBody", "ParsedBody", "parse_body", "replace_model"]


class BadBody(ValueError):
    """The body is not a UTF-8 JSON object; the message says why (for a 400)."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
_SCAN = json.scanner.make_scanner(_DECODER)  # type: ignore[arg-type]  # typeshed types it oddly
_WHITESPACE = " \t\n\r"
_scanstring = json.decoder.scanstring  # type: ignore[attr-defined]  # the C scanner, not in typeshed


@dataclass(frozen=True)
class ParsedBody:
    """`raw` (the client's bytes), `data` (the parsed object) and the text span of the top-level `model`
    value (`model_span`, None when there is no such member)."""

    raw: bytes
    text: str
    data: dict[str, Any]
    model_span: tuple[int, int] | None


def _skip(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WHITESPACE:
        index += 1
    return index


def _expected(what: str, index: int) -> BadBody:
    return BadBody(f"request body is not valid JSON: expected {what} at char {index}")


def parse_body(raw: bytes) -> ParsedBody:
    """Parse `raw`; raise BadBody if it is not UTF-8 JSON whose top level is an object."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadBody(f"request body is not valid JSON: {exc}"[:300]) from None
    index = _skip(text, 0)
    if index >= len(text) or text[index] != "{":
        try:  # a valid JSON value that is not an object, or no JSON at all
            json.loads(text, parse_constant=_refuse_constant)
        except RecursionError:
            raise BadBody("request body is not valid JSON: nested too deeply") from None
        except ValueError as exc:
            raise BadBody(f"request body is not valid JSON: {exc}"[:300]) from None
        raise BadBody("request body must be a JSON object")
    data: dict[str, Any] = {}
    span: tuple[int, int] | None = None
    index = _skip(text, index + 1)
    if index < len(text) and text[index] == "}":
        return _finish(raw, text, index + 1, data, span)
    while True:
        if index >= len(text) or text[index] != '"':
            raise _expected("a property name in double quotes", index)
        try:
            key, index = _scanstring(text, index + 1)
        except ValueError as exc:
            raise BadBody(f"request body is not valid JSON: {exc}"[:300]) from None
        index = _skip(text, index)
        if index >= len(text) or text[index] != ":":
            raise _expected("':'", index)
        start = _skip(text, index + 1)
        try:
            value, end = _SCAN(text, start)
        except StopIteration:
            raise _expected("a value", start) from None
        except RecursionError:
            raise BadBody("request body is not valid JSON: nested too deeply") from None
        except ValueError as exc:
            raise BadBody(f"request body is not valid JSON: {exc}"[:300]) from None
        data[key] = value
        if key == "model":
            span = (start, end)
        index = _skip(text, end)
        if index < len(text) and text[index] == ",":
            index = _skip(text, index + 1)
            continue
        if index < len(text) and text[index] == "}":
            return _finish(raw, text, index + 1, data, span)
        raise _expected("',' or '}'", index)


def _finish(
    raw: bytes, text: str, end: int, data: dict[str, Any], span: tuple[int, int] | None
) -> ParsedBody:
    if _skip(text, end) != len(text):
        raise BadBody(f"request body is not valid JSON: extra data at char {end}")
    return ParsedBody(raw, text, data, span)


def replace_model(body: ParsedBody, model: str) -> bytes:
    """The client's bytes with the top-level `model` value replaced by `model` (as a JSON string), every
    other byte kept; added as the first member when the body had none."""
    encoded = json.dumps(model, ensure_ascii=False)
    if body.model_span is None:
        brace = body.text.index("{")
        rest = body.text[brace + 1 :]
        comma = "," if rest.strip() != "}" else ""
        return (body.text[: brace + 1] + f'"model":{encoded}{comma}' + rest).encode("utf-8")
    start, end = body.model_span
    if body.text[start:end] == encoded:
        return body.raw
    return (body.text[:start] + encoded + body.text[end:]).encode("utf-8")
