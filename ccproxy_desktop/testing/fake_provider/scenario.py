"""What the fake provider does with the next request: behaviours, the match queue and server options.

A `Scenario` is shared between the thread that serves requests and the thread of a test (or the HTTP control
endpoint), so every read and write goes through one lock. Requests consume queued behaviours in order; a
request that matches no queued entry gets the default behaviour.
"""

from __future__ import annotations

import itertools
import random
import re
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "API_PATHS",
    "BEDROCK_PATH",
    "COUNT_TOKENS_PATH",
    "GEMINI_PATH",
    "GOOGLE_TOKEN_PATH",
    "OAUTH_TOKEN_PATH",
    "OLLAMA_PATHS",
    "VERTEX_PATH",
    "AcceptedAuth",
    "Behaviour",
    "BehaviourKind",
    "QueuedBehaviour",
    "Scenario",
    "ScenarioUpdate",
    "ScriptedToolCall",
    "UsageOverride",
    "is_api_path",
    "path_model",
]

OAUTH_TOKEN_PATH = "/oauth/token"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
API_PATHS = frozenset(
    {
        "/v1/messages",
        COUNT_TOKENS_PATH,
        "/v1/chat/completions",
        "/v1/responses",
        "/v1/responses/input_tokens",
    }
)

GEMINI_PATH = re.compile(
    r"^/(?P<version>v1|v1beta|v1alpha)/models/(?P<model>[^/:]+):"
    r"(?P<action>generateContent|streamGenerateContent|countTokens)$"
)
"""Gemini's model paths (`/v1beta/models/MODEL:ACTION`): the model is named by the path."""
OLLAMA_PATHS = frozenset({"/api/chat", "/api/generate"})
BEDROCK_PATH = re.compile(
    r"^/model/(?P<model>[^/]+)/(?P<action>invoke|invoke-with-response-stream|converse|converse-stream)$"
)
"""Bedrock runtime's model paths (`/model/MODEL_ID/ACTION`): the model is named by the path."""
VERTEX_PATH = re.compile(
    r"^/(?P<version>v1|v1beta1)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/publishers/"
    r"(?P<publisher>anthropic|google)/models/(?P<model>[^/:]+):"
    r"(?P<action>rawPredict|streamRawPredict|generateContent|streamGenerateContent|countTokens)$"
)
"""Vertex AI's publisher model paths (Claude: `publishers/anthropic`, Gemini: `publishers/google`)."""
GOOGLE_TOKEN_PATH = "/token"
"""Google's OAuth token endpoint (`https://oauth2.googleapis.com/token`): a service account's `token_uri`."""


def path_model(path: str) -> str | None:
    """The model a Gemini, Bedrock or Vertex path names (None for other paths, and Vertex count-tokens)."""
    for pattern in (GEMINI_PATH, BEDROCK_PATH, VERTEX_PATH):
        match = pattern.match(path)
        if match is not None:
            return None if match.group("model") == "count-tokens" else match.group("model")
    return None


def is_api_path(path: str) -> bool:
    """True for a model API path: `API_PATHS`, Gemini's `/v1beta/models/MODEL:ACTION`, Ollama's `/api/chat`,
    Bedrock's `/model/ID/ACTION` and Vertex's `/v1/projects/.../models/MODEL:ACTION`."""
    return (
        path in API_PATHS
        or path in OLLAMA_PATHS
        or any(pattern.match(path) is not None for pattern in (GEMINI_PATH, BEDROCK_PATH, VERTEX_PATH))
    )


DEFAULT_LISTED_MODELS = ("fake-model-a", "fake-model-b")
"""The models the provider lists (`GET /v1/models`, Ollama's `GET /api/tags`) unless told otherwise."""

MAX_ISSUED_TOKENS = 1000
"""How many of the latest tokens minted by /oauth/token stay valid (keeps a long benchmark's memory flat)."""

AcceptedAuth = Literal["any", "x-api-key", "bearer"]
"""Where the provider reads a key: any credential header (`any`), only `x-api-key`, or only
`Authorization: Bearer` (`bearer`: a request that carries an `x-api-key` at all gets 401, as OpenRouter wants
ANTHROPIC_API_KEY empty)."""

BehaviourKind = Literal[
    "ok", "status", "timeout", "cut_stream", "hang_after_headers", "malformed_sse", "reset"
]


class UsageOverride(BaseModel):
    """Token counts to report instead of the estimated ones; None keeps the estimate (or 0 for cache counts).

    Counts are in Anthropic terms: `input_tokens` excludes cached tokens. `cache_creation_input_tokens` is the
    sum of the 5-minute and 1-hour splits; give either the total, the splits, or consistent values for both.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_tokens: int | None = Field(default=None, ge=0)
    output_tokens: int | None = Field(default=None, ge=0)
    cache_read_input_tokens: int | None = Field(default=None, ge=0)
    cache_creation_input_tokens: int | None = Field(default=None, ge=0)
    ephemeral_5m_input_tokens: int | None = Field(default=None, ge=0)
    ephemeral_1h_input_tokens: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _check_cache_split(self) -> UsageOverride:
        self.cache_creation_split()
        return self

    def cache_creation_split(self) -> tuple[int, int]:
        """Return (5-minute, 1-hour) cache-creation tokens; raise ValueError if total and splits disagree."""
        total = self.cache_creation_input_tokens
        five_min = self.ephemeral_5m_input_tokens
        one_hour = self.ephemeral_1h_input_tokens
        if total is None:
            return five_min or 0, one_hour or 0
        if five_min is None and one_hour is None:
            return total, 0
        five_min = total - (one_hour or 0) if five_min is None else five_min
        one_hour = total - five_min if one_hour is None else one_hour
        if five_min < 0 or one_hour < 0 or five_min + one_hour != total:
            raise ValueError(
                f"cache_creation_input_tokens={total} does not equal "
                f"ephemeral_5m_input_tokens + ephemeral_1h_input_tokens ({five_min} + {one_hour})"
            )
        return five_min, one_hour


class ScriptedToolCall(BaseModel):
    """One tool call a scripted reply makes: the tool's `name`, its `arguments` (a JSON object) and, when
    given, the call's `id` (else a fresh one)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    arguments: dict[str, object] = {}
    id: str | None = None


class Behaviour(BaseModel):
    """How to answer one request.

    kinds:
      ok                  answer normally (JSON or SSE); `usage` and `text` override the generated reply;
                          `tool_calls` makes the reply call those tools (several in one turn, in order,
                          whatever the request's tools), `thinking` adds the model's reasoning before the
                          answer (each wire format's own reasoning field), `stop_reason="max_tokens"` ends it
                          as cut by the output limit (each format's own word for it).
      status              answer `status` (400-599) with the API's error body (or exactly `body`, when
                          given); 429 adds `retry-after`.
      timeout             read the request, never answer; ends when the client leaves or the server stops.
      cut_stream          send `cut_after_events` events (default: half) or half the JSON body, then close.
      hang_after_headers  send 200 and headers, then nothing until the client leaves or the server stops.
      malformed_sse       send 200 with lines that are not valid SSE/JSON.
      reset               close the connection without sending anything.
    `latency_ms` / `chunk_delay_ms` override the scenario's timing for this request. `headers` are added to
    whatever answer is sent (ok, error, cut or malformed; names are case-insensitive and replace the generated
    header of the same name, `content-type` included).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: BehaviourKind = "ok"
    status: int = Field(default=500, ge=400, le=599)
    error_type: str | None = None
    message: str | None = None
    retry_after: int = Field(default=1, ge=0)
    usage: UsageOverride = UsageOverride()
    text: str | None = None
    tool_calls: list[ScriptedToolCall] | None = None
    thinking: str | None = None
    stop_reason: Literal["end_turn", "max_tokens"] | None = None
    cut_after_events: int | None = Field(default=None, ge=0)
    latency_ms: float | None = Field(default=None, ge=0)
    chunk_delay_ms: float | None = Field(default=None, ge=0)
    headers: dict[str, str] = {}
    body: str | None = None

    @model_validator(mode="after")
    def _check_body(self) -> Behaviour:
        if self.body is not None and self.kind != "status":
            raise ValueError(f"body is only sent by kind 'status', not {self.kind!r}")
        return self


class QueuedBehaviour(Behaviour):
    """A behaviour waiting in the queue for `times` requests that match `path` and `model` (None: any).

    An entry without `path` matches only the model API paths (`API_PATHS`), never the OAuth token endpoint.
    This flat shape is also one element of the `queue` list of the HTTP control endpoint.
    """

    path: str | None = None
    model: str | None = None
    times: int = Field(default=1, ge=1)

    def behaviour(self) -> Behaviour:
        """The behaviour without its match fields."""
        return Behaviour.model_validate(self.model_dump(exclude={"path", "model", "times"}))

    def matches(self, path: str, model: str | None) -> bool:
        """True when a request to `path` for `model` should consume this entry."""
        path_ok = is_api_path(path) if self.path is None else path == self.path
        return path_ok and (self.model is None or self.model == model)


class ScenarioUpdate(BaseModel):
    """Body of `POST /_fake/scenario`, applied in order: reset, the options present in the body, default,
    queue.

    An option absent from the body keeps its current value (the defaults here are never applied).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    reset: bool = False
    default: Behaviour | None = None
    queue: list[QueuedBehaviour] = []
    latency_ms: float = Field(default=0.0, ge=0)
    latency_jitter_ms: float = Field(default=0.0, ge=0)
    chunk_delay_ms: float = Field(default=0.0, ge=0)
    expected_token: str | None = None
    oauth_expires_in: int = Field(default=3600, ge=0)
    listed_models: list[str] = list(DEFAULT_LISTED_MODELS)
    accepted_auth: AcceptedAuth = "any"
    count_tokens: bool = True


@dataclass
class _Entry:
    spec: QueuedBehaviour
    remaining: int


@dataclass(frozen=True)
class _Options:
    latency_ms: float
    latency_jitter_ms: float
    chunk_delay_ms: float
    expected_token: str | None
    oauth_expires_in: int
    listed_models: tuple[str, ...] = DEFAULT_LISTED_MODELS
    accepted_auth: AcceptedAuth = "any"
    count_tokens: bool = True


def _merged_options(current: _Options, update: ScenarioUpdate) -> _Options:
    """`current` with the options that `update` sets explicitly."""
    given = update.model_fields_set
    return _Options(
        latency_ms=update.latency_ms if "latency_ms" in given else current.latency_ms,
        latency_jitter_ms=(
            update.latency_jitter_ms if "latency_jitter_ms" in given else current.latency_jitter_ms
        ),
        chunk_delay_ms=update.chunk_delay_ms if "chunk_delay_ms" in given else current.chunk_delay_ms,
        expected_token=update.expected_token if "expected_token" in given else current.expected_token,
        oauth_expires_in=update.oauth_expires_in if "oauth_expires_in" in given else current.oauth_expires_in,
        listed_models=(tuple(update.listed_models) if "listed_models" in given else current.listed_models),
        accepted_auth=update.accepted_auth if "accepted_auth" in given else current.accepted_auth,
        count_tokens=update.count_tokens if "count_tokens" in given else current.count_tokens,
    )


class Scenario:
    """Thread-safe behaviour queue, default behaviour, timing, auth and OAuth options of one fake provider."""

    def __init__(
        self,
        *,
        latency_ms: float = 0.0,
        chunk_delay_ms: float = 0.0,
        expected_token: str | None = None,
        oauth_expires_in: int = 3600,
        latency_jitter_ms: float = 0.0,
        accepted_auth: AcceptedAuth = "any",
        count_tokens: bool = True,
    ) -> None:
        self._lock = threading.Lock()
        self._initial = _Options(
            latency_ms,
            latency_jitter_ms,
            chunk_delay_ms,
            expected_token,
            oauth_expires_in,
            accepted_auth=accepted_auth,
            count_tokens=count_tokens,
        )
        self._options = self._initial
        self._default = Behaviour()
        self._queue: list[_Entry] = []
        self._issued_tokens: deque[str] = deque(maxlen=MAX_ISSUED_TOKENS)
        self._token_counter = itertools.count(1)

    # -- queue and default -------------------------------------------------------------------------------

    def push(
        self, behaviour: Behaviour, *, path: str | None = None, model: str | None = None, times: int = 1
    ) -> None:
        """Queue `behaviour` for the next `times` requests matching `path`/`model` (see `QueuedBehaviour`)."""
        spec = QueuedBehaviour.model_validate(
            {**behaviour.model_dump(), "path": path, "model": model, "times": times}
        )
        with self._lock:
            self._queue.append(_Entry(spec, spec.times))

    def set_default(self, behaviour: Behaviour) -> None:
        """Use `behaviour` for API requests that match no queued entry."""
        with self._lock:
            self._default = behaviour

    @property
    def default(self) -> Behaviour:
        with self._lock:
            return self._default

    def pending(self) -> list[QueuedBehaviour]:
        """Queued entries in order, each with `times` set to the requests it still applies to."""
        with self._lock:
            return [entry.spec.model_copy(update={"times": entry.remaining}) for entry in self._queue]

    def next_behaviour(self, path: str, model: str | None) -> Behaviour:
        """Consume and return the behaviour for one request: the first matching queued entry, else the default
        (API paths) or a plain `ok` (other paths)."""
        with self._lock:
            for index, entry in enumerate(self._queue):
                if entry.spec.matches(path, model):
                    entry.remaining -= 1
                    if entry.remaining == 0:
                        del self._queue[index]
                    return entry.spec.behaviour()
            return self._default if is_api_path(path) else Behaviour()

    # -- options -------------------------------------------------------------------------------------------

    @property
    def latency_ms(self) -> float:
        """Delay before the first byte of every answer."""
        with self._lock:
            return self._options.latency_ms

    @latency_ms.setter
    def latency_ms(self, value: float) -> None:
        with self._lock:
            self._options = replace(self._options, latency_ms=value)

    def first_byte_delay_ms(self, behaviour: Behaviour) -> float:
        """The delay before this answer's first byte: the behaviour's `latency_ms`, else the scenario's
        `latency_ms` plus a uniform draw from [0, `latency_jitter_ms`]."""
        if behaviour.latency_ms is not None:
            return behaviour.latency_ms
        with self._lock:
            options = self._options
        return options.latency_ms + random.uniform(0.0, options.latency_jitter_ms)

    @property
    def chunk_delay_ms(self) -> float:
        """Delay between two SSE events of a streamed answer."""
        with self._lock:
            return self._options.chunk_delay_ms

    @chunk_delay_ms.setter
    def chunk_delay_ms(self, value: float) -> None:
        with self._lock:
            self._options = replace(self._options, chunk_delay_ms=value)

    @property
    def expected_token(self) -> str | None:
        """When set, API requests must present it (or a token issued by /oauth/token) or get 401."""
        with self._lock:
            return self._options.expected_token

    @expected_token.setter
    def expected_token(self, value: str | None) -> None:
        with self._lock:
            self._options = replace(self._options, expected_token=value)

    @property
    def listed_models(self) -> tuple[str, ...]:
        """The model ids the provider lists (`GET /v1/models`, `GET /api/tags`)."""
        with self._lock:
            return self._options.listed_models

    @listed_models.setter
    def listed_models(self, value: tuple[str, ...] | list[str]) -> None:
        with self._lock:
            self._options = replace(self._options, listed_models=tuple(value))

    @property
    def accepted_auth(self) -> AcceptedAuth:
        """Which credential headers count (`AcceptedAuth`)."""
        with self._lock:
            return self._options.accepted_auth

    @accepted_auth.setter
    def accepted_auth(self, value: AcceptedAuth) -> None:
        with self._lock:
            self._options = replace(self._options, accepted_auth=value)

    @property
    def count_tokens(self) -> bool:
        """False: `POST /v1/messages/count_tokens` is not implemented (404, like several Anthropic-compatible
        endpoints of other providers)."""
        with self._lock:
            return self._options.count_tokens

    @count_tokens.setter
    def count_tokens(self, value: bool) -> None:
        with self._lock:
            self._options = replace(self._options, count_tokens=value)

    @property
    def oauth_expires_in(self) -> int:
        """`expires_in` (seconds) of the tokens that /oauth/token issues."""
        with self._lock:
            return self._options.oauth_expires_in

    @oauth_expires_in.setter
    def oauth_expires_in(self, value: int) -> None:
        with self._lock:
            self._options = replace(self._options, oauth_expires_in=value)

    # -- auth ----------------------------------------------------------------------------------------------

    def accepts(self, token: str | None) -> bool:
        """True if auth is off, or `token` is the expected token or one of the latest `MAX_ISSUED_TOKENS`
        issued by /oauth/token."""
        with self._lock:
            expected = self._options.expected_token
            return expected is None or (
                token is not None and (token == expected or token in self._issued_tokens)
            )

    def issued(self, token: str | None) -> bool:
        """True if `token` is the expected token or one of the latest tokens issued by a token endpoint
        (whether auth is off or not: the clouds' paths always want one)."""
        with self._lock:
            expected = self._options.expected_token
            return token is not None and (token == expected or token in self._issued_tokens)

    def issue_tokens(self) -> tuple[str, str, int]:
        """Mint an (access token, refresh token, expires_in) triple; the access token passes `accepts`."""
        with self._lock:
            serial = next(self._token_counter)
            access_token = f"fake-access-token-{serial}"
            self._issued_tokens.append(access_token)
            return access_token, f"fake-refresh-token-{serial}", self._options.oauth_expires_in

    # -- bulk control --------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Empty the queue, restore the default behaviour and the options given to the constructor."""
        with self._lock:
            self._queue.clear()
            self._default = Behaviour()
            self._options = self._initial
            self._issued_tokens.clear()

    def apply(self, update: ScenarioUpdate | Mapping[str, object]) -> None:
        """Apply an update in the `POST /_fake/scenario` format; raise pydantic.ValidationError if malformed.

        Options absent from the update keep their value; `"expected_token": null` turns auth off.
        """
        parsed = update if isinstance(update, ScenarioUpdate) else ScenarioUpdate.model_validate(update)
        if parsed.reset:
            self.reset()
        with self._lock:
            self._options = _merged_options(self._options, parsed)
        if parsed.default is not None:
            self.set_default(parsed.default)
        with self._lock:
            self._queue.extend(_Entry(spec, spec.times) for spec in parsed.queue)

    def to_dict(self) -> dict[str, object]:
        """The current state in the `POST /_fake/scenario` format (queue `times` are the remaining counts)."""
        with self._lock:
            options = self._options
            default = self._default
        return {
            "default": default.model_dump(),
            "queue": [spec.model_dump() for spec in self.pending()],
            "latency_ms": options.latency_ms,
            "latency_jitter_ms": options.latency_jitter_ms,
            "chunk_delay_ms": options.chunk_delay_ms,
            "expected_token": options.expected_token,
            "oauth_expires_in": options.oauth_expires_in,
            "listed_models": list(options.listed_models),
            "accepted_auth": options.accepted_auth,
            "count_tokens": options.count_tokens,
        }
