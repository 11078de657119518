"""What the fake model says: request inspection and the API-neutral reply that the wire formats render.

The reply names the model it was asked for ("reply from <model>") so tests can see which model served a
request. A request that offers tools and whose last user message contains `[[tool_use]]` (or
`[[tool_use:NAME]]`) gets a call to the first (or the named) tool, with arguments made up from its JSON
schema. A test scripts exact replies with `Behaviour(tool_calls=[...], thinking=..., stop_reason=...)`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .scenario import Behaviour

__all__ = [
    "BadRequest",
    "ParsedRequest",
    "Reply",
    "ToolCall",
    "ToolSpec",
    "Usage",
    "content_text",
    "estimate_tokens",
    "json_chunks",
    "last_user_text",
    "make_reply",
    "new_id",
    "required_model",
    "text_chunks",
]

_TOOL_MARKER = re.compile(r"\[\[tool_use(?::([^\]\s]+))?\]\]")


class BadRequest(ValueError):
    """The request body is not one the API would accept; the message is shown to the client."""


@dataclass(frozen=True)
class ToolSpec:
    name: str
    schema: Mapping[str, object]


@dataclass(frozen=True)
class ParsedRequest:
    """The parts of an API request that shape the reply, whatever the wire format."""

    model: str
    stream: bool
    prompt_tokens: int
    last_user_text: str
    tools: tuple[ToolSpec, ...]
    include_usage: bool = False


@dataclass(frozen=True)
class Usage:
    """Token counts of one reply, in Anthropic terms (input excludes cache reads and writes)."""

    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int = 0
    ephemeral_5m_input_tokens: int = 0
    ephemeral_1h_input_tokens: int = 0

    @property
    def cache_creation_input_tokens(self) -> int:
        return self.ephemeral_5m_input_tokens + self.ephemeral_1h_input_tokens

    @property
    def total_input_tokens(self) -> int:
        """Input including cache reads and writes (what OpenAI calls prompt/input tokens)."""
        return self.input_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: Mapping[str, object]

    @property
    def arguments_json(self) -> str:
        return json.dumps(self.arguments)


@dataclass(frozen=True)
class Reply:
    """One model answer: `thinking` (reasoning, may be empty), `text` (may be empty), its tool calls
    (`tool_call` is the first, `more_tool_calls` the others of the same turn), its usage, and whether it
    stopped at the output limit (`max_tokens`)."""

    model: str
    text: str
    tool_call: ToolCall | None
    usage: Usage
    more_tool_calls: tuple[ToolCall, ...] = ()
    thinking: str = ""
    max_tokens: bool = False

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """Every tool call of the turn, in order."""
        return ((self.tool_call,) if self.tool_call is not None else ()) + self.more_tool_calls

    @property
    def signature(self) -> str:
        """A deterministic opaque signature of this reply's reasoning (Anthropic `signature`, Gemini
        `thoughtSignature`): base64 of a digest of the thinking and the calls, so a test can check that the
        exact value came back on the next turn."""
        seed = (
            self.thinking + "|" + "|".join(f"{call.name}:{call.arguments_json}" for call in self.tool_calls)
        )
        return base64.b64encode(b"fakesig:" + hashlib.sha256(seed.encode()).digest()[:16]).decode()


def new_id(prefix: str) -> str:
    """A fresh identifier like the real APIs' (`msg_…`, `toolu_…`, `resp_…`)."""
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def estimate_tokens(body: Mapping[str, object], fields: Iterable[str]) -> int:
    """A rough, deterministic token count of the prompt `fields` of `body`: compact JSON length / 4, min 1."""
    prompt = {name: body[name] for name in fields if name in body}
    return max(1, math.ceil(len(json.dumps(prompt, separators=(",", ":"))) / 4))


def content_text(content: object) -> str:
    """The text of a message `content`: a string, or the `text` of each part of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = (part.get("text") for part in content if isinstance(part, Mapping))
        return "\n".join(part for part in parts if isinstance(part, str))
    return ""


def last_user_text(messages: object) -> str:
    """The text of the last message with role `user` in a message list (or the string itself)."""
    if isinstance(messages, str):
        return messages
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def required_model(body: Mapping[str, object]) -> str:
    """The request's `model`; raise BadRequest when it is missing or not a string."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model: Field required")
    return model


def make_reply(request: ParsedRequest, behaviour: Behaviour) -> Reply:
    """The reply to `request`, with `behaviour.text`, `.tool_calls`, `.thinking`, `.stop_reason` and `.usage`
    overriding the generated ones."""
    if behaviour.tool_calls is not None:
        calls = tuple(
            ToolCall(id=call.id or new_id("toolu_fake"), name=call.name, arguments=dict(call.arguments))
            for call in behaviour.tool_calls
        )
    else:
        requested = _requested_tool_call(request)
        calls = (requested,) if requested is not None else ()
    tool_call = calls[0] if calls else None
    default_text = (
        f"reply from {request.model}: calling {', '.join(call.name for call in calls)}."
        if calls
        else f"reply from {request.model}: this is a canned answer from the fake provider."
    )
    text = default_text if behaviour.text is None else behaviour.text
    thinking = behaviour.thinking or ""
    output_estimate = (
        len(text.split())
        + len(thinking.split())
        + sum(math.ceil(len(call.arguments_json) / 4) for call in calls)
    )
    override = behaviour.usage
    five_min, one_hour = override.cache_creation_split()
    usage = Usage(
        input_tokens=request.prompt_tokens if override.input_tokens is None else override.input_tokens,
        output_tokens=output_estimate if override.output_tokens is None else override.output_tokens,
        cache_read_input_tokens=override.cache_read_input_tokens or 0,
        ephemeral_5m_input_tokens=five_min,
        ephemeral_1h_input_tokens=one_hour,
    )
    return Reply(
        model=request.model,
        text=text,
        tool_call=tool_call,
        usage=usage,
        more_tool_calls=calls[1:],
        thinking=thinking,
        max_tokens=behaviour.stop_reason == "max_tokens",
    )


def text_chunks(text: str) -> list[str]:
    """`text` split into streaming deltas, one word (with its trailing space) each; never an empty list."""
    return re.findall(r"\s*\S+\s*", text) or [text]


def json_chunks(serialized: str, pieces: int = 3) -> list[str]:
    """`serialized` cut into about `pieces` consecutive slices (partial JSON deltas); never an empty list."""
    size = max(1, math.ceil(len(serialized) / pieces))
    return [serialized[start : start + size] for start in range(0, len(serialized), size)] or [serialized]


def _requested_tool_call(request: ParsedRequest) -> ToolCall | None:
    match = _TOOL_MARKER.search(request.last_user_text)
    if match is None or not request.tools:
        return None
    wanted = match.group(1)
    tool = next((tool for tool in request.tools if tool.name == wanted), request.tools[0])
    return ToolCall(id=new_id("toolu_fake"), name=tool.name, arguments=_fake_arguments(tool.schema))


def _fake_arguments(schema: Mapping[str, object]) -> dict[str, object]:
    """Arguments for the schema's required properties (all properties if none are required)."""
    properties = schema.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    required = schema.get("required")
    names: Sequence[object] = required if isinstance(required, list) else list(properties)
    return {name: _fake_value(properties.get(name)) for name in names if isinstance(name, str)}


def _fake_value(schema: object) -> object:
    if not isinstance(schema, Mapping):
        return "fake"
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    return {"integer": 1, "number": 1, "boolean": True, "array": [], "object": {}}.get(
        str(schema.get("type")), "fake"
    )
