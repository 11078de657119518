"""Errors in Anthropic's shape, and the names the ledger gives failed requests. Pure: no LiteLLM import.

A provider's own error on the native path is never rewritten (it passes through byte for byte); these are
for the errors the proxy makes itself (refusals, unreachable providers) and for the translated path, where
LiteLLM's exceptions get the status, type and wording Claude Code acts on.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = [
    "ERROR_TYPES",
    "ProxyError",
    "anthropic_error_body",
    "error_type_for",
    "outcome_for_status",
    "prompt_too_long_message",
    "stream_error_frame",
    "translate_exception",
]

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}

# The ledger's outcome names for a provider's error status: LiteLLM's exception names, which the ledger
# and `health_state` have always used (a client's own mistake is told apart from a provider failure).
_OUTCOMES = {
    400: "BadRequestError",
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    408: "Timeout",
    413: "BadRequestError",
    422: "UnprocessableEntityError",
    429: "RateLimitError",
    500: "InternalServerError",
    502: "APIConnectionError",
    503: "ServiceUnavailableError",
    504: "Timeout",
    529: "OverloadedError",
}

_TOO_LONG = re.compile(r"prompt is too long|context.{0,20}(length|window)|maximum context", re.IGNORECASE)
_NUMBERS = re.compile(r"(\d[\d,]*)\s*tokens?\s*>\s*(\d[\d,]*)")
# Other providers' wordings of a context-window error, as (pattern, group of the count, group of the maximum).
_WORDINGS = (
    # OpenAI: "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens."
    (
        re.compile(r"maximum context length is (\d[\d,]*) tokens.{0,80}?resulted in (\d[\d,]*) tokens", re.S),
        2,
        1,
    ),
    # Gemini: "The input token count (1050000) exceeds the maximum number of tokens allowed (1048576)."
    (
        re.compile(
            r"input token count \((\d[\d,]*)\) exceeds the maximum number of tokens allowed \((\d[\d,]*)\)"
        ),
        1,
        2,
    ),
)


def error_type_for(status: int) -> str:
    return ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def anthropic_error_body(status: int, message: str, error_type: str | None = None) -> bytes:
    return json.dumps(
        {"type": "error", "error": {"type": error_type or error_type_for(status), "message": message}}
    ).encode()


def stream_error_frame(message: str, error_type: str = "api_error") -> bytes:
    """An `event: error` that ends a stream which had already started (Anthropic's own mid-stream form)."""
    data = {"type": "error", "error": {"type": error_type, "message": message}}
    return b"event: error\ndata: " + json.dumps(data).encode() + b"\n\n"


def outcome_for_status(status: int, body: bytes = b"") -> str:
    """The ledger outcome of a request the provider answered with error `status`."""
    if status == 400 and _TOO_LONG.search(body[:2000].decode("utf-8", "replace")):
        return "error:ContextWindowExceededError"
    return f"error:{_OUTCOMES.get(status, 'APIError')}"


class ProxyError(Exception):
    """An error the proxy answers itself: status, Anthropic error type, message, extra headers and the
    ledger outcome."""

    def __init__(
        self,
        status: int,
        message: str,
        error_type: str | None = None,
        outcome: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type or error_type_for(status)
        self.outcome = outcome or outcome_for_status(status)
        self.headers = dict(headers or {})

    def body(self) -> bytes:
        return anthropic_error_body(self.status, self.message, self.error_type)


def prompt_too_long_message(text: str, counted: int | None, maximum: int | None) -> str:
    """Anthropic's wording for a context-window error ("prompt is too long: N tokens > M maximum"), which
    Claude Code reads to compact the conversation; the numbers from the provider's message when it has them."""
    found = _NUMBERS.search(text)
    if found:
        return f"prompt is too long: {found.group(1).replace(',', '')} tokens > {found.group(2).replace(',', '')} maximum"
    for pattern, count, most in _WORDINGS:
        match = pattern.search(text)
        if match:
            return (
                f"prompt is too long: {match.group(count).replace(',', '')} tokens > "
                f"{match.group(most).replace(',', '')} maximum"
            )
    if counted is not None and maximum is not None:
        return f"prompt is too long: {counted} tokens > {maximum} maximum"
    return "prompt is too long: the request exceeds the model's context window"


def translate_exception(
    exc: BaseException, counted: int | None = None, maximum: int | None = None
) -> ProxyError:
    """A LiteLLM exception (translated path) as the error Claude Code would get from Anthropic: a
    context-window error as "prompt is too long: N tokens > M maximum" (Claude Code compacts on it), a busy
    provider (503, 529, "overloaded") as `529 overloaded_error`, timeouts and connection failures as ours."""
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) and 400 <= status <= 599 else 500
    message = str(getattr(exc, "message", None) or exc)
    headers: dict[str, str] = {}
    response = getattr(exc, "response", None)
    response_headers = getattr(exc, "litellm_response_headers", None) or getattr(response, "headers", None)
    retry_after: Any = (
        response_headers.get("retry-after")
        if response_headers is not None and hasattr(response_headers, "get")
        else None
    )
    if retry_after:
        headers["retry-after"] = str(retry_after)
    if name == "ContextWindowExceededError" or (status == 400 and _TOO_LONG.search(message)):
        return ProxyError(
            400,
            prompt_too_long_message(message, counted, maximum),
            "invalid_request_error",
            "error:ContextWindowExceededError",
            headers,
        )
    if status in (503, 529) or "overloaded" in message.lower():  # Anthropic's word for a busy provider
        return ProxyError(529, "Overloaded", "overloaded_error", "error:OverloadedError", headers)
    if name in ("Timeout", "APITimeoutError"):
        return ProxyError(
            504, f"the provider did not answer in time: {message}"[:500], "api_error", "error:Timeout"
        )
    if name == "APIConnectionError":
        return ProxyError(
            502, f"could not reach the provider: {message}"[:500], "api_error", "error:APIConnectionError"
        )
    return ProxyError(status, message[:2000], error_type_for(status), f"error:{name}", headers)
