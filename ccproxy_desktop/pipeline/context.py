"""The one typed object that flows through the request pipeline.

The proxy adapter builds a `RequestContext` from LiteLLM's request dict; rules read it, hooks read and set
its fields; the adapter writes the result back. Nothing in the pipeline touches LiteLLM's dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Reject", "RequestContext"]


@dataclass
class RequestContext:
    """One request as the pipeline sees it.

    Client fields (`model` ... `headers`) are what the client sent and are treated as read-only by hooks.
    `headers` may hold secrets: never log them (use `captured_headers`, which is redacted).
    Decision fields are set by hooks: `label` by the classifier, `routed_model` (and `variant`, when an
    A/B test chose it) by the router, the `upstream_*`, `credential_provider` and `oauth_provider` fields
    by the credential and header hooks. `notes` belongs to custom hooks (to pass facts between their own
    hooks); nothing built in reads or writes it.
    `project` (our `x-ccproxy-project` header) and `agent` (`"main"`, or the Claude Code subagent's type or id
    from its `x-claude-code-agent-*` headers) are set by the proxy from the headers, for the ledger.
    `forced_model` is set by the proxy on a fallback attempt (`retry_fallback_model`): the router sends the
    request there whatever the rules (or an A/B test) say.
    """

    request_id: str
    call_type: str
    model: str
    messages: list[Any] = field(default_factory=list)
    system: Any = None
    tools: list[Any] = field(default_factory=list)
    thinking: Mapping[str, Any] | None = None
    stream: bool = False
    max_tokens: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    session_id: str | None = None
    user: str | None = None
    project: str | None = None  # the client's project (`x-ccproxy-project`), for costs per project
    agent: str | None = None  # "main" or the subagent (`x-claude-code-agent-type`, else `-agent-id`)
    label: str | None = None
    forced_model: str | None = None
    routed_model: str | None = None
    route_reason: str = ""
    variant: str | None = None  # "<A/B test>:<model_name>" when an A/B test chose routed_model
    upstream_headers: dict[str, str] = field(default_factory=dict)
    upstream_api_key: str | None = field(default=None, repr=False)
    credential_provider: str | None = None  # whose stored token `upstream_api_key` is (refreshed on a 401)
    oauth_provider: str | None = None  # set when that token is an OAuth token sent as Bearer
    captured_headers: dict[str, str] = field(default_factory=dict)
    failed_hooks: list[str] = field(default_factory=list)  # hooks that raised (the request went on)
    notes: dict[str, Any] = field(default_factory=dict)  # free for custom hooks; the proxy never reads it

    @property
    def target_model(self) -> str:
        """The model_name the request will be sent to: the routed one, else the requested one."""
        return self.routed_model or self.model


class Reject(Exception):
    """Raised by a rule or hook to refuse the request with a client-visible Anthropic-style error.

    `error_type` is one of Anthropic's error types (invalid_request_error, authentication_error,
    permission_error, not_found_error, rate_limit_error, api_error, overloaded_error).
    """

    def __init__(
        self, status: int, error_type: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.headers = dict(headers or {})
