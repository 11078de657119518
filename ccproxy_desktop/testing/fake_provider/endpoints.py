"""How each provider path turns a request into an answer: the model endpoints and the OAuth token endpoint.

An endpoint renders an `ok` answer (JSON or SSE frames) and an error body in its API's format; the server
decides which one to send, when, and how (whole, cut, or not at all).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from . import anthropic_format, bedrock_format, gemini_format, ollama_format, openai_format, vertex_format
from .recording import RecordedRequest
from .replies import BadRequest, ParsedRequest, Reply, make_reply, new_id
from .scenario import GOOGLE_TOKEN_PATH, OAUTH_TOKEN_PATH, Behaviour, Scenario

__all__ = ["Endpoint", "Rendered", "endpoints"]


_Parser = Callable[[Mapping[str, object]], ParsedRequest]
_PathParser = Callable[[Mapping[str, object], str], ParsedRequest]


@dataclass(frozen=True)
class Rendered:
    """An answer ready to send: one JSON body (a single frame) or SSE frames; `headers` have lowercase names
    and win over the generated content-type (and cache-control of a stream)."""

    status: int
    frames: list[bytes]
    streaming: bool = False
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return "text/event-stream" if self.streaming else "application/json"

    def all_headers(self) -> dict[str, str]:
        """Every header the provider sets on this answer (the HTTP server adds date, length and the like)."""
        generated = {"content-type": self.content_type}
        if self.streaming:
            generated["cache-control"] = "no-cache"
        return generated | self.headers

    def with_headers(self, extra: Mapping[str, str]) -> Rendered:
        """This answer with `extra` headers added, replacing those of the same (case-insensitive) name."""
        if not extra:
            return self
        return replace(self, headers=self.headers | {name.lower(): value for name, value in extra.items()})


def _json_answer(status: int, body: Mapping[str, object], headers: dict[str, str] | None = None) -> Rendered:
    return Rendered(status, [json.dumps(body).encode()], headers=headers or {})


def _id_or_new(request_id: str | None) -> str:
    """The request's id, or a fresh one for a request rendered outside a server (no counter)."""
    return request_id or new_id("req_fake_")


class Endpoint(ABC):
    """How one path renders a successful answer and an error body."""

    @abstractmethod
    def render_ok(self, record: RecordedRequest, behaviour: Behaviour) -> Rendered:
        """The answer to `record` under an `ok` behaviour (a 400 answer if the request is malformed)."""

    @abstractmethod
    def error_body(
        self, status: int, error_type: str | None, message: str | None, request_id: str
    ) -> dict[str, object]:
        """The error body this API sends with `status`; `error_type`/`message` override the defaults."""

    def response_headers(self, request_id: str, status: int) -> dict[str, str]:
        """Headers every answer of this endpoint carries (lowercase names)."""
        return {}

    def render_error(self, behaviour: Behaviour, request_id: str | None = None) -> Rendered:
        """The `status` behaviour's answer: its `body` verbatim, else the API's error body; 429 carries
        `retry-after`. (The behaviour's extra `headers` are the server's to add, whatever it sends.)"""
        request_id = _id_or_new(request_id)
        headers = self.response_headers(request_id, behaviour.status)
        if behaviour.status == 429:
            headers["retry-after"] = str(behaviour.retry_after)
        if behaviour.body is not None:
            return Rendered(behaviour.status, [behaviour.body.encode()], headers=headers)
        body = self.error_body(behaviour.status, behaviour.error_type, behaviour.message, request_id)
        return _json_answer(behaviour.status, body, headers)


@dataclass(frozen=True)
class _ModelEndpoint(Endpoint):
    """A model API path: parses the body (and, for APIs that name the model in the path, the path), renders
    the reply as JSON or (if asked and supported) a stream: SSE frames, or lines of `stream_content_type`."""

    parse: _PathParser
    body: Callable[[Reply, Mapping[str, object]], dict[str, object]]
    events: Callable[[Reply, Mapping[str, object], ParsedRequest], list[bytes]] | None
    errors: Callable[[int, str | None, str | None, str], dict[str, object]]
    headers: Callable[[str, int], dict[str, str]]
    stream_content_type: str | None = None  # None: text/event-stream

    def render_ok(self, record: RecordedRequest, behaviour: Behaviour) -> Rendered:
        request_id = _id_or_new(record.request_id)
        try:
            if not isinstance(record.json, Mapping):
                raise BadRequest("request body must be a JSON object")
            parsed = self.parse(record.json, record.path)
        except BadRequest as exc:
            return self.render_error(Behaviour(kind="status", status=400, message=str(exc)), request_id)
        reply = make_reply(parsed, behaviour)
        headers = self.response_headers(request_id, 200)
        if parsed.stream and self.events is not None:
            if self.stream_content_type is not None:
                headers = {**headers, "content-type": self.stream_content_type}
            return Rendered(200, self.events(reply, record.json, parsed), streaming=True, headers=headers)
        return _json_answer(200, self.body(reply, record.json), headers)

    def error_body(
        self, status: int, error_type: str | None, message: str | None, request_id: str
    ) -> dict[str, object]:
        return self.errors(status, error_type, message, request_id)

    def response_headers(self, request_id: str, status: int) -> dict[str, str]:
        return self.headers(request_id, status)


@dataclass(frozen=True)
class _OAuthEndpoint(Endpoint):
    """RFC 6749 token endpoint: the refresh_token grant, form-encoded (JSON accepted too)."""

    scenario: Scenario

    def render_ok(self, record: RecordedRequest, behaviour: Behaviour) -> Rendered:
        params = record.form if record.form is not None else record.json
        params = params if isinstance(params, Mapping) else {}
        if params.get("grant_type") != "refresh_token":
            return _json_answer(400, self.error_body(400, "unsupported_grant_type", None, ""))
        if not params.get("refresh_token"):
            return _json_answer(400, self.error_body(400, "invalid_request", "refresh_token is required", ""))
        access_token, refresh_token, expires_in = self.scenario.issue_tokens()
        body: dict[str, object] = {
            "access_token": access_token,
            "refresh_token": refresh_token,
            "expires_in": expires_in,
            "token_type": "Bearer",
        }
        if isinstance(params.get("scope"), str):
            body["scope"] = params["scope"]
        return _json_answer(200, body, {"cache-control": "no-store"})

    def error_body(
        self, status: int, error_type: str | None, message: str | None, request_id: str
    ) -> dict[str, object]:
        default = {400: "invalid_grant", 401: "invalid_client"}.get(status, "temporarily_unavailable")
        code = error_type or default
        return {"error": code, "error_description": message or f"fake provider: {code} ({status})"}


@dataclass(frozen=True)
class _GoogleTokenEndpoint(Endpoint):
    """Google's OAuth token endpoint (`oauth2.googleapis.com/token`), form-encoded: a service account's
    signed JWT (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`, `assertion`), or an authorized
    user's `refresh_token` grant (`gcloud auth application-default login`). Answers as Google does: an
    `access_token` (which the Vertex paths then accept), `expires_in`, `token_type: Bearer`."""

    scenario: Scenario

    def render_ok(self, record: RecordedRequest, behaviour: Behaviour) -> Rendered:
        params = record.form if record.form is not None else record.json
        params = params if isinstance(params, Mapping) else {}
        grant = params.get("grant_type")
        if grant == vertex_format.JWT_BEARER_GRANT:
            problem = vertex_format.check_assertion(str(params.get("assertion", "")))
            if problem is not None:
                return _json_answer(400, self.error_body(400, "invalid_grant", problem, ""))
        elif grant == "refresh_token":
            if not params.get("refresh_token"):
                return _json_answer(400, self.error_body(400, "invalid_request", "Missing refresh_token", ""))
        else:
            return _json_answer(400, self.error_body(400, "unsupported_grant_type", "Invalid grant_type", ""))
        access_token, _refresh_token, expires_in = self.scenario.issue_tokens()
        body = {"access_token": access_token, "expires_in": expires_in, "token_type": "Bearer"}
        return _json_answer(200, body, {"cache-control": "no-cache, no-store, max-age=0, must-revalidate"})

    def error_body(
        self, status: int, error_type: str | None, message: str | None, request_id: str
    ) -> dict[str, object]:
        code = error_type or {400: "invalid_grant", 401: "invalid_client"}.get(status, "internal_failure")
        return {"error": code, "error_description": message or f"fake provider: {code} ({status})"}


@dataclass(frozen=True)
class _BedrockEndpoint(_ModelEndpoint):
    """A Bedrock runtime path: errors name their exception in `x-amzn-errortype`, as AWS's JSON protocol
    does; every answer carries `x-amzn-requestid`."""

    def render_error(self, behaviour: Behaviour, request_id: str | None = None) -> Rendered:
        rendered = super().render_error(behaviour, request_id)
        kind = behaviour.error_type or bedrock_format.error_type_for(behaviour.status)
        return rendered.with_headers(
            {"x-amzn-errortype": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"}
        )


def _body_only(parse: _Parser) -> _PathParser:
    """`parse` for an API whose body names the model (the path is not needed)."""
    return lambda body, _path: parse(body)


def _not_streaming(parse: _PathParser) -> _PathParser:
    """`parse` for a path that never streams, whatever the body's `stream` says."""
    return lambda body, path: replace(parse(body, path), stream=False)


def _openai_errors(
    status: int, error_type: str | None, message: str | None, _request_id: str
) -> dict[str, object]:
    return openai_format.error_body(status, error_type, message)


def _openai_headers(request_id: str, _status: int) -> dict[str, str]:
    return {"x-request-id": request_id}


def _gemini_errors(
    status: int, error_type: str | None, message: str | None, _request_id: str
) -> dict[str, object]:
    return gemini_format.error_body(status, error_type, message)


def _ollama_errors(
    status: int, error_type: str | None, message: str | None, _request_id: str
) -> dict[str, object]:
    return ollama_format.error_body(status, error_type, message)


def _no_headers(_request_id: str, _status: int) -> dict[str, str]:
    return {}


GEMINI_VERSIONS = ("v1", "v1beta", "v1alpha")


def _gemini_generate_and_count(parse: _PathParser) -> tuple[Endpoint, Endpoint]:
    """Gemini's generateContent (streamed or not) and countTokens, its requests read by `parse` (Google AI
    Studio's paths, or Vertex's)."""
    generate = _ModelEndpoint(
        parse,
        lambda reply, _body: gemini_format.generate_body(reply),
        lambda reply, _body, _parsed: gemini_format.generate_events(reply),
        _gemini_errors,
        _no_headers,
    )
    count = _ModelEndpoint(
        _not_streaming(parse),
        lambda reply, _body: gemini_format.count_tokens_body(reply),
        None,
        _gemini_errors,
        _no_headers,
    )
    return generate, count


def _gemini_endpoints() -> dict[str, Endpoint]:
    """`/{v1,v1beta,v1alpha}/models/{model}:{generateContent,streamGenerateContent,countTokens}` (aiohttp
    route patterns: the model is a path variable)."""
    generate, count = _gemini_generate_and_count(gemini_format.parse_generate_request)
    routes: dict[str, Endpoint] = {}
    for version in GEMINI_VERSIONS:
        prefix = f"/{version}/models/{{model:[^/:]+}}"
        routes[f"{prefix}:generateContent"] = generate
        routes[f"{prefix}:streamGenerateContent"] = generate
        routes[f"{prefix}:countTokens"] = count
    return routes


def _bedrock_errors(
    status: int, error_type: str | None, message: str | None, _request_id: str
) -> dict[str, object]:
    return bedrock_format.error_body(status, error_type, message)


def _bedrock_headers(request_id: str, _status: int) -> dict[str, str]:
    return {"x-amzn-requestid": request_id}


def _bedrock_endpoints() -> dict[str, Endpoint]:
    """`/model/{model}/{invoke,invoke-with-response-stream,converse,converse-stream}` (the model id may
    hold colons: `us.anthropic.claude-sonnet-4-5-20250929-v1:0`)."""
    invoke = _BedrockEndpoint(
        bedrock_format.parse_invoke_request,
        lambda reply, _body: bedrock_format.invoke_body(reply),
        lambda reply, _body, _parsed: bedrock_format.invoke_events(reply),
        _bedrock_errors,
        _bedrock_headers,
        bedrock_format.CONTENT_TYPE,
    )
    converse = _BedrockEndpoint(
        bedrock_format.parse_converse_request,
        lambda reply, _body: bedrock_format.converse_body(reply),
        lambda reply, _body, _parsed: bedrock_format.converse_events(reply),
        _bedrock_errors,
        _bedrock_headers,
        bedrock_format.CONTENT_TYPE,
    )
    prefix = "/model/{model:[^/]+}"
    return {
        f"{prefix}/invoke": invoke,
        f"{prefix}/invoke-with-response-stream": invoke,
        f"{prefix}/converse": converse,
        f"{prefix}/converse-stream": converse,
    }


def _vertex_anthropic_errors(
    status: int, error_type: str | None, message: str | None, request_id: str
) -> dict[str, object]:
    """Vertex's own front end answers auth failures (Google's shape); the rest come from Claude (Anthropic's)."""
    if status in (401, 403):
        return gemini_format.error_body(status, error_type, message)
    return anthropic_format.error_body(status, error_type, message, request_id)


def _vertex_endpoints() -> dict[str, Endpoint]:
    """Claude and Gemini on Vertex: `/{v1,v1beta1}/projects/{project}/locations/{location}/publishers/
    {anthropic,google}/models/{model}:{action}`."""
    claude = _ModelEndpoint(
        vertex_format.parse_anthropic_request,
        lambda reply, _body: anthropic_format.message_body(reply),
        lambda reply, _body, _parsed: anthropic_format.message_events(reply),
        _vertex_anthropic_errors,
        _no_headers,
    )
    claude_count = _ModelEndpoint(
        vertex_format.parse_anthropic_request,
        lambda reply, _body: anthropic_format.count_tokens_body(reply),
        None,
        _vertex_anthropic_errors,
        _no_headers,
    )
    gemini, count = _gemini_generate_and_count(vertex_format.parse_gemini_request)
    routes: dict[str, Endpoint] = {}
    for version in ("v1", "v1beta1"):
        base = f"/{version}/projects/{{project}}/locations/{{location}}/publishers"
        anthropic = f"{base}/anthropic/models/{{model:[^/:]+}}"
        google = f"{base}/google/models/{{model:[^/:]+}}"
        routes[f"{base}/anthropic/models/count-tokens:rawPredict"] = claude_count  # before {model}'s
        routes[f"{anthropic}:rawPredict"] = claude
        routes[f"{anthropic}:streamRawPredict"] = claude
        routes[f"{google}:generateContent"] = gemini
        routes[f"{google}:streamGenerateContent"] = gemini
        routes[f"{google}:countTokens"] = count
    return routes


def _ollama_endpoints() -> dict[str, Endpoint]:
    return {
        "/api/chat": _ModelEndpoint(
            _body_only(ollama_format.parse_chat_request),
            lambda reply, _body: ollama_format.chat_body(reply),
            lambda reply, _body, _parsed: ollama_format.chat_lines(reply),
            _ollama_errors,
            _no_headers,
            ollama_format.CONTENT_TYPE,
        ),
        "/api/generate": _ModelEndpoint(
            _body_only(ollama_format.parse_generate_request),
            lambda reply, _body: ollama_format.generate_body(reply),
            lambda reply, _body, _parsed: ollama_format.generate_lines(reply),
            _ollama_errors,
            _no_headers,
            ollama_format.CONTENT_TYPE,
        ),
    }


def _model_endpoints() -> dict[str, Endpoint]:
    anthropic_errors = anthropic_format.error_body
    anthropic_headers = anthropic_format.response_headers
    return {
        "/v1/messages": _ModelEndpoint(
            _body_only(anthropic_format.parse_messages_request),
            lambda reply, _body: anthropic_format.message_body(reply),
            lambda reply, _body, _parsed: anthropic_format.message_events(reply),
            anthropic_errors,
            anthropic_headers,
        ),
        "/v1/messages/count_tokens": _ModelEndpoint(
            _not_streaming(_body_only(anthropic_format.parse_messages_request)),
            lambda reply, _body: anthropic_format.count_tokens_body(reply),
            None,
            anthropic_errors,
            anthropic_headers,
        ),
        "/v1/chat/completions": _ModelEndpoint(
            _body_only(openai_format.parse_chat_request),
            lambda reply, _body: openai_format.chat_body(reply),
            lambda reply, _body, parsed: openai_format.chat_events(reply, include_usage=parsed.include_usage),
            _openai_errors,
            _openai_headers,
        ),
        "/v1/responses": _ModelEndpoint(
            _body_only(openai_format.parse_responses_request),
            openai_format.responses_body,
            lambda reply, body, _parsed: openai_format.responses_events(reply, body),
            _openai_errors,
            _openai_headers,
        ),
        "/v1/responses/input_tokens": _ModelEndpoint(
            _not_streaming(_body_only(openai_format.parse_responses_request)),
            lambda reply, _body: openai_format.input_tokens_body(reply),
            None,
            _openai_errors,
            _openai_headers,
        ),
        **_gemini_endpoints(),
        **_ollama_endpoints(),
        **_bedrock_endpoints(),
        **_vertex_endpoints(),
    }


def endpoints(scenario: Scenario) -> dict[str, Endpoint]:
    """Every answering path: the model endpoints and the OAuth token endpoints (Anthropic's refresh grant and
    Google's), which mint via `scenario`."""
    return {
        **_model_endpoints(),
        OAUTH_TOKEN_PATH: _OAuthEndpoint(scenario),
        GOOGLE_TOKEN_PATH: _GoogleTokenEndpoint(scenario),
    }
