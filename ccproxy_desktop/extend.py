"""The public surface for people who write their own rules and hooks. Import from here; everything else
in the package may change between releases.

A rule is a class with `evaluate(self, ctx, env) -> bool` (or `async evaluate_async`), named by import path
in ccproxy.yaml's `rules:`; its `params` are its constructor's arguments. A hook is a `Hook` subclass (or a
function `fn(ctx, **params)`, sync or async) named in `hooks:`; it declares the facts it needs and provides
(`requires`, `provides`: "classify", "route", "session", "credentials"), checked when the pipeline is built.

What a hook may read and set is `RequestContext`'s contract: the client's fields are read-only; the
decision fields (`label`, `routed_model`, `upstream_headers`, `upstream_api_key`, `system`...) are typed;
`ctx.notes` is yours, to pass facts between your own hooks. Raise `Reject(status, error_type, message)` to
refuse a request with an Anthropic-style error; any other exception is logged once and the request goes on.
See docs/extending.md.
"""

from __future__ import annotations

from .pipeline.context import Reject, RequestContext
from .pipeline.hooks import Hook, HookEnv, redact_header
from .pipeline.router import ModelChoice, Route
from .pipeline.rules import (
    DefaultRule,
    MatchModelRule,
    MatchToolRule,
    Rule,
    RuleEnv,
    ThinkingRule,
    TokenCountRule,
)

__all__ = [
    "DefaultRule",
    "Hook",
    "HookEnv",
    "MatchModelRule",
    "MatchToolRule",
    "ModelChoice",
    "Reject",
    "RequestContext",
    "Route",
    "Rule",
    "RuleEnv",
    "ThinkingRule",
    "TokenCountRule",
    "redact_header",
]
