"""Amazon Bedrock's runtime wire format (`bedrock-runtime.REGION.amazonaws.com`): `model/ID/invoke`,
`/invoke-with-response-stream` (Anthropic Messages bodies, as Bedrock hosts Claude), `/converse` and
`/converse-stream` (the Converse API); AWS event-stream framing for the streams, SigV4 checks, error bodies.

The model is named by the path. An invoke body is Anthropic's minus `model` and `stream`, plus
`anthropic_version: bedrock-2023-05-31`; Bedrock refuses the first two as extraneous keys and the body without
the last, and so does this fake. Invoke streams carry each Anthropic event as `{"bytes": base64(json)}` in a
`chunk` event; Converse streams send `messageStart`, `contentBlockStart/Delta/Stop`, `messageStop` and
`metadata` events. Every event-stream message has the prelude and message CRC32s that botocore's
`EventStreamBuffer` (what LiteLLM decodes with) checks.

Requests must be signed (`Authorization: AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/bedrock/aws4_request,
SignedHeaders=..., Signature=...` and `X-Amz-Date`), or Bedrock's 403 comes back. The signature itself can
be checked against a known secret with `sigv4_signature_matches` (botocore recomputes it).
"""

from __future__ import annotations

import base64
import json
import re
import struct
import zlib
from collections.abc import Mapping, Sequence

from . import anthropic_format
from .recording import RecordedRequest
from .replies import BadRequest, ParsedRequest, Reply, ToolSpec, estimate_tokens, json_chunks, text_chunks
from .scenario import BEDROCK_PATH

__all__ = [
    "ANTHROPIC_VERSION",
    "AUTHORIZATION",
    "CONTENT_TYPE",
    "access_key",
    "converse_body",
    "converse_events",
    "decode_event_stream",
    "error_body",
    "error_type_for",
    "event_message",
    "invoke_body",
    "invoke_events",
    "parse_converse_request",
    "parse_invoke_request",
    "signature_problem",
    "sigv4_signature_matches",
]

ANTHROPIC_VERSION = "bedrock-2023-05-31"
CONTENT_TYPE = "application/vnd.amazon.eventstream"
AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[A-Za-z0-9]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/"
    r"(?P<service>[a-z-]+)/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
"""A SigV4 `Authorization` header value (as botocore writes it)."""

_ERROR_TYPES: Mapping[int, str] = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
_PROMPT_FIELDS = ("system", "messages", "tools", "toolConfig")


def error_type_for(status: int) -> str:
    """The exception name Bedrock sends (`x-amzn-errortype`) with `status`."""
    return _ERROR_TYPES.get(status, "InternalServerException" if status >= 500 else "ValidationException")


def error_body(status: int, error_type: str | None, message: str | None) -> dict[str, object]:
    """Bedrock's error body: `{"message": ...}` (the exception's name is a header: `error_type_for`)."""
    return {"message": message or f"fake provider: {error_type or error_type_for(status)} ({status})"}


def signature_problem(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """None when `headers` carry a well-formed SigV4 signature for the bedrock service, else (the exception
    Bedrock names, its message) for the 403."""
    value = headers.get("authorization", "")
    if not value:
        return "MissingAuthenticationTokenException", "Missing Authentication Token"
    match = AUTHORIZATION.match(value)
    if match is None or "x-amz-date" not in headers or match.group("service") != "bedrock":
        return (
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters for "
            "the bedrock service, and an X-Amz-Date header.",
        )
    if not {"host", "x-amz-date"} <= set(match.group("signed").split(";")):
        return "IncompleteSignatureException", "SignedHeaders must include host and x-amz-date."
    return None


def access_key(headers: Mapping[str, str]) -> str | None:
    """The access key id a SigV4 `Authorization` header names, if any."""
    match = AUTHORIZATION.match(headers.get("authorization", ""))
    return match.group("key") if match else None


def sigv4_signature_matches(
    record: RecordedRequest, base_url: str, access_key: str, secret_key: str, region: str
) -> bool:
    """True when the recorded request's SigV4 signature is the one botocore computes with `secret_key` over
    its method, path as sent, query, body and the headers it names as signed (`base_url`: what the client
    called, `http://127.0.0.1:PORT`)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    match = AUTHORIZATION.match(record.headers.get("authorization", ""))
    if match is None or "x-amz-date" not in record.headers:
        return False
    url = base_url + (record.raw_path or record.path) + (f"?{record.query}" if record.query else "")
    signed = {
        name: record.headers[name] for name in match.group("signed").split(";") if name in record.headers
    }
    request = AWSRequest(method=record.method, url=url, data=record.raw, headers=signed)
    request.context["timestamp"] = record.headers["x-amz-date"]
    signer = SigV4Auth(Credentials(access_key, secret_key), match.group("service"), region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    return bool(expected == match.group("signature"))


# -- event-stream framing -----------------------------------------------------------------------------------


def _string_header(name: str, value: str) -> bytes:
    encoded_name, encoded_value = name.encode(), value.encode()
    return (
        struct.pack("!B", len(encoded_name))
        + encoded_name
        + struct.pack("!BH", 7, len(encoded_value))  # type 7: string
        + encoded_value
    )


def event_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message: prelude (total and headers lengths, their CRC32), string headers, the
    payload, and the CRC32 of everything before it."""
    encoded_headers = b"".join(_string_header(name, value) for name, value in headers.items())
    total = 12 + len(encoded_headers) + len(payload) + 4
    prelude = struct.pack("!II", total, len(encoded_headers))
    message = prelude + struct.pack("!I", zlib.crc32(prelude)) + encoded_headers + payload
    return message + struct.pack("!I", zlib.crc32(message))


def _event(event_type: str, body: Mapping[str, object]) -> bytes:
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return event_message(headers, json.dumps(body, separators=(",", ":")).encode())


def decode_event_stream(data: bytes) -> list[tuple[dict[str, str], bytes]]:
    """(headers, payload) of each message of an event stream (for tests), checking both CRCs."""
    messages = []
    while data:
        total, headers_length, prelude_crc = struct.unpack("!III", data[:12])
        if (
            zlib.crc32(data[:8]) != prelude_crc
            or zlib.crc32(data[: total - 4]) != struct.unpack("!I", data[total - 4 : total])[0]
        ):
            raise ValueError("event-stream CRC mismatch")
        raw_headers, headers = data[12 : 12 + headers_length], {}
        while raw_headers:
            name_length = raw_headers[0]
            name = raw_headers[1 : 1 + name_length].decode()
            value_type, value_length = struct.unpack("!BH", raw_headers[1 + name_length : 4 + name_length])
            if value_type != 7:
                raise ValueError(f"unexpected header type {value_type}")
            headers[name] = raw_headers[4 + name_length : 4 + name_length + value_length].decode()
            raw_headers = raw_headers[4 + name_length + value_length :]
        messages.append((headers, data[12 + headers_length : total - 4]))
        data = data[total:]
    return messages


# -- invoke (Anthropic Messages on Bedrock) ----------------------------------------------------------------


def _path_model(path: str) -> tuple[str, str]:
    match = BEDROCK_PATH.match(path)
    if match is None:
        raise BadRequest(f"not a Bedrock model path: {path}")
    return match.group("model"), match.group("action")


def parse_invoke_request(body: Mapping[str, object], path: str) -> ParsedRequest:
    """An `invoke` / `invoke-with-response-stream` body for the Claude model of `path`; BadRequest (Bedrock's
    ValidationException) for a body that names `model` or `stream`, or lacks `anthropic_version`."""
    model, action = _path_model(path)
    extraneous = sorted(key for key in ("model", "stream") if key in body)
    if extraneous:
        raise BadRequest(f"Malformed input request: #: extraneous key [{extraneous[0]}] is not permitted")
    if body.get("anthropic_version") != ANTHROPIC_VERSION:
        raise BadRequest(f"Malformed input request: anthropic_version must be {ANTHROPIC_VERSION!r}")
    parsed = anthropic_format.parse_messages_request({**body, "model": model})
    return ParsedRequest(
        model=model,
        stream=action == "invoke-with-response-stream",
        prompt_tokens=parsed.prompt_tokens,
        last_user_text=parsed.last_user_text,
        tools=parsed.tools,
    )


def invoke_body(reply: Reply) -> dict[str, object]:
    """The `invoke` response: the Anthropic message."""
    return anthropic_format.message_body(reply)


def _metrics(reply: Reply) -> dict[str, object]:
    return {
        "inputTokenCount": reply.usage.input_tokens,
        "outputTokenCount": reply.usage.output_tokens,
        "invocationLatency": 120,
        "firstByteLatency": 40,
    }


def invoke_events(reply: Reply) -> list[bytes]:
    """The `invoke-with-response-stream` event stream: each Anthropic SSE event (no pings: Bedrock sends
    none) as a `chunk` event; `message_stop` carries `amazon-bedrock-invocationMetrics`."""
    messages = []
    for frame in anthropic_format.message_events(reply):
        data = next(line[6:] for line in frame.decode().splitlines() if line.startswith("data: "))
        event = json.loads(data)
        if event["type"] == "ping":
            continue
        if event["type"] == "message_stop":
            event["amazon-bedrock-invocationMetrics"] = _metrics(reply)
        encoded = base64.b64encode(json.dumps(event, separators=(",", ":")).encode()).decode()
        messages.append(_event("chunk", {"bytes": encoded, "p": "abcdefghijkl"}))
    return messages


# -- Converse ----------------------------------------------------------------------------------------------


def _converse_tools(body: Mapping[str, object]) -> tuple[ToolSpec, ...]:
    config = body.get("toolConfig")
    tools = config.get("tools") if isinstance(config, Mapping) else None
    specs = []
    for tool in tools if isinstance(tools, list) else []:
        spec = tool.get("toolSpec") if isinstance(tool, Mapping) else None
        if isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
            schema = spec.get("inputSchema")
            schema = schema.get("json") if isinstance(schema, Mapping) else None
            specs.append(ToolSpec(spec["name"], schema if isinstance(schema, Mapping) else {}))
    return tuple(specs)


def _converse_last_user_text(messages: list[object]) -> str:
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            content = message.get("content")
            blocks = content if isinstance(content, list) else []
            texts = [b.get("text") for b in blocks if isinstance(b, Mapping)]
            return "\n".join(text for text in texts if isinstance(text, str))
    return ""


def parse_converse_request(body: Mapping[str, object], path: str) -> ParsedRequest:
    """A `converse` / `converse-stream` body; BadRequest without `messages` (Converse content is a list of
    blocks: `{"text"}`, `{"toolUse"}`, `{"toolResult"}`, `{"image"}`...)."""
    model, action = _path_model(path)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("1 validation error detected: Value null at 'messages' failed to satisfy constraint")
    return ParsedRequest(
        model=model,
        stream=action == "converse-stream",
        prompt_tokens=estimate_tokens(body, _PROMPT_FIELDS),
        last_user_text=_converse_last_user_text(messages),
        tools=_converse_tools(body),
    )


def _stop_reason(reply: Reply) -> str:
    if reply.max_tokens:
        return "max_tokens"
    return "tool_use" if reply.tool_call is not None else "end_turn"


def _usage(reply: Reply) -> dict[str, object]:
    usage = reply.usage
    body: dict[str, object] = {
        "inputTokens": usage.input_tokens,
        "outputTokens": usage.output_tokens,
        "totalTokens": usage.total_input_tokens + usage.output_tokens,
    }
    if usage.cache_read_input_tokens:
        body["cacheReadInputTokens"] = usage.cache_read_input_tokens
    if usage.cache_creation_input_tokens:
        body["cacheWriteInputTokens"] = usage.cache_creation_input_tokens
    return body


def converse_body(reply: Reply) -> dict[str, object]:
    """The `converse` response: reasoning, text and tool uses as Converse content blocks."""
    content: list[dict[str, object]] = []
    if reply.thinking:
        content.append(
            {"reasoningContent": {"reasoningText": {"text": reply.thinking, "signature": reply.signature}}}
        )
    if reply.text:
        content.append({"text": reply.text})
    for call in reply.tool_calls:
        content.append({"toolUse": {"toolUseId": call.id, "name": call.name, "input": dict(call.arguments)}})
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": _stop_reason(reply),
        "usage": _usage(reply),
        "metrics": {"latencyMs": 120},
    }


def converse_events(reply: Reply) -> list[bytes]:
    """The `converse-stream` event stream: messageStart, per block (contentBlockStart for tool uses,
    contentBlockDelta..., contentBlockStop), messageStop, metadata (usage)."""
    events = [_event("messageStart", {"role": "assistant", "p": "abcd"})]
    index = 0

    def block(deltas: Sequence[Mapping[str, object]], start: Mapping[str, object] | None = None) -> None:
        nonlocal index
        if start is not None:
            events.append(_event("contentBlockStart", {"contentBlockIndex": index, "start": start}))
        events.extend(_event("contentBlockDelta", {"contentBlockIndex": index, "delta": d}) for d in deltas)
        events.append(_event("contentBlockStop", {"contentBlockIndex": index}))
        index += 1

    if reply.thinking:
        block(
            [{"reasoningContent": {"text": piece}} for piece in text_chunks(reply.thinking)]
            + [{"reasoningContent": {"signature": reply.signature}}]
        )
    if reply.text:
        block([{"text": piece} for piece in text_chunks(reply.text)])
    for call in reply.tool_calls:
        block(
            [{"toolUse": {"input": piece}} for piece in json_chunks(call.arguments_json)],
            {"toolUse": {"toolUseId": call.id, "name": call.name}},
        )
    events.append(_event("messageStop", {"stopReason": _stop_reason(reply)}))
    events.append(_event("metadata", {"usage": _usage(reply), "metrics": {"latencyMs": 120}}))
    return events
