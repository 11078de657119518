"""Building and running the request pipeline: rules and hooks resolved from config, order checked.

`build_pipeline` validates everything up front (imports resolve, params fit constructors, hook order
satisfies `requires`, rule names have models) and returns either a ready `Pipeline` or every issue.
`Pipeline.run` is the one error funnel: a failing hook is logged once with its name and the request goes
on; `Reject` stops the request with a client-visible error.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import logging
import os
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..config.loader import ConfigInvalid, Settings
from ..config.schema import ModelEntry
from ..config.yamlsrc import ConfigIssue
from ..proxy.deployments import ANTHROPIC_API_BASE
from .ab import ABTests, check_ab_tests
from .context import Reject, RequestContext
from .hooks import BUILTIN_HOOKS, Hook, HookEnv, TokenSource
from .router import ModelCatalog, ModelChoice, ModelRouter, StaticCatalog
from .rules import BUILTIN_RULES, Rule, TokenCounting

__all__ = ["DEFAULT_HOOKS", "NoTokens", "Pipeline", "PipelineEnv", "build_pipeline"]

log = logging.getLogger(__name__)

DEFAULT_HOOKS = ("extract_session_id", "rule_evaluator", "model_router", "add_beta_headers")


class NoTokens:
    """A token source with no tokens (credentials not configured)."""

    def token_for(self, provider: str) -> str | None:
        return None

    def user_agent_for(self, provider: str) -> str | None:
        return None


@dataclass
class PipelineEnv:
    """The services rules and hooks use (implements `HookEnv`). One per config load."""

    settings: Settings
    token_counter: TokenCounting
    router: ModelRouter
    tokens: TokenSource = field(default_factory=NoTokens)
    override: Callable[[], ModelChoice | None] = lambda: None
    proxy_keys: frozenset[str] = frozenset()
    rules: Sequence[tuple[str, Rule]] = ()
    ab_tests: ABTests = field(default_factory=ABTests)
    _failed_rules: set[str] = field(default_factory=set)

    @property
    def default_model_passthrough(self) -> bool:
        return self.settings.ccproxy.default_model_passthrough

    def model_override(self) -> ModelChoice | None:
        return self.override()

    def provider_of(self, model_name: str) -> str:
        return provider_of(self.settings, model_name)

    def takes_claude_credentials(self, model_name: str) -> bool:
        return takes_claude_credentials(self.settings, model_name)

    def is_proxy_key(self, key: str) -> bool:
        return key in self.proxy_keys

    def rule_failed(self, name: str, exc: BaseException) -> None:
        _report_once(self._failed_rules, f"rule {name}", exc)


def _report_once(seen: set[str], what: str, exc: BaseException) -> None:
    short = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    if what in seen:
        log.debug("%s failed again: %s", what, short)
        return
    seen.add(what)
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    where = "; ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name}" for f in frames)
    log.warning("%s failed and was skipped: %s (at %s)", what, short, where, extra={"component": what})


_PREFIX_PROVIDERS = (
    ("claude", "anthropic"),
    ("gpt", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("gemini", "gemini"),
)


def takes_claude_credentials(settings: Settings, model_name: str) -> bool:
    """Whether a Claude credential (a subscription token, an Anthropic API key) may be sent for `model_name`:
    only when config.yaml serves it from an Anthropic-format deployment on one of `claude_credential_hosts`
    (Anthropic's own API by default). Other providers' Anthropic-compatible endpoints (DeepSeek, Moonshot,
    OpenRouter...) get their own keys, never the user's Claude login."""
    if provider_of(settings, model_name) != "anthropic":
        return False
    entry = serving_entry(settings, model_name)
    base = entry.litellm_params.get("api_base") if entry is not None else None
    if not isinstance(base, str) or not base:
        base = os.environ.get("ANTHROPIC_API_BASE") or ANTHROPIC_API_BASE
    host = (urlsplit(base).hostname or "").lower()
    return host in {h.lower() for h in settings.ccproxy.claude_credential_hosts}


def _entry_named(settings: Settings, model_name: str) -> ModelEntry | None:
    """The config.yaml entry named `model_name`, else the first wildcard entry matching it, else None."""
    entries = settings.litellm.model_list
    exact = next((m for m in entries if m.model_name == model_name), None)
    if exact is not None:
        return exact
    return next(
        (m for m in entries if "*" in m.model_name and fnmatch.fnmatchcase(model_name, m.model_name)), None
    )


def serving_entry(settings: Settings, model_name: str) -> ModelEntry | None:
    """The config.yaml entry that finally serves `model_name` (aliases followed), or None."""
    found = None
    for _ in range(4):
        entry = _entry_named(settings, model_name)
        if entry is None:
            break
        found = entry
        target = entry.target
        if entry.is_alias and target != model_name and _entry_named(settings, target) is not None:
            model_name = target  # `ccproxy route`'s alias of another entry
            continue
        break
    return found


def provider_of(settings: Settings, model_name: str) -> str:
    """The provider serving `model_name` according to config.yaml (following one alias hop)."""
    for _ in range(4):
        entry = _entry_named(settings, model_name)
        if entry is None:
            break
        explicit = entry.litellm_params.get("custom_llm_provider")
        if isinstance(explicit, str) and explicit:
            return explicit
        target = entry.target
        if "/" in target:
            return target.split("/", 1)[0]
        if entry.is_alias and target and target != model_name:
            model_name = target
            continue
        model_name = target or model_name
        break
    lowered = model_name.lower()
    return next((p for prefix, p in _PREFIX_PROVIDERS if lowered.startswith(prefix)), "")


class FunctionHook(Hook):
    """A custom hook written as a function `fn(ctx, **params)` (sync or async)."""

    def __init__(self, env: HookEnv, fn: Callable[..., Any], name: str, params: dict[str, Any]) -> None:
        super().__init__(env)
        self.fn = fn
        self.hook_name = name
        self.params = params
        self.requires_ = tuple(getattr(fn, "requires", ()))
        self.provides_ = tuple(getattr(fn, "provides", ()))

    async def __call__(self, ctx: RequestContext) -> None:
        result = self.fn(ctx, **self.params)
        if inspect.isawaitable(result):
            await result


def hook_name(hook: Hook) -> str:
    return hook.hook_name if isinstance(hook, FunctionHook) else (hook.name or type(hook).__name__)


def hook_requires(hook: Hook) -> tuple[str, ...]:
    return hook.requires_ if isinstance(hook, FunctionHook) else hook.requires


def hook_provides(hook: Hook) -> tuple[str, ...]:
    return hook.provides_ if isinstance(hook, FunctionHook) else hook.provides


class Pipeline:
    """Runs the hooks, in order, on one request context."""

    def __init__(self, hooks: Sequence[Hook], env: PipelineEnv) -> None:
        self.hooks = tuple(hooks)
        self.env = env
        self._failed: set[str] = set()

    @property
    def hook_names(self) -> tuple[str, ...]:
        return tuple(hook_name(h) for h in self.hooks)

    async def run(self, ctx: RequestContext) -> None:
        """Apply every hook to `ctx`. Raises only `Reject`."""
        for hook in self.hooks:
            try:
                await hook(ctx)
            except Reject:
                raise
            except Exception as exc:  # the error funnel: one broken hook must not fail the request
                _report_once(self._failed, f"hook {hook_name(hook)}", exc)
                ctx.failed_hooks.append(hook_name(hook))


# --- building -------------------------------------------------------------------------------------


def resolve_import(path: str, builtins: dict[str, Any]) -> Any:
    """Import `module:attr` or `module.attr`; a bare name is looked up in `builtins`. Raises ImportError."""
    if "." not in path and ":" not in path:
        if path in builtins:
            return builtins[path]
        raise ImportError(f"no built-in named {path!r} (built-ins: {', '.join(sorted(builtins))})")
    module_name, _, attr = path.partition(":") if ":" in path else path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a missing module, a bad name (".x", ""), or the user's module failing
        reason = str(exc) if isinstance(exc, ImportError) else f"{type(exc).__name__}: {exc}"
        raise ImportError(f"can't import module {module_name!r}: {reason}") from exc
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise ImportError(f"module {module_name!r} has no attribute {attr!r}") from exc


def _signature_issue(
    target: Callable[..., Any], skip: int, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> str | None:
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return None
    params = list(signature.parameters.values())[skip:]
    try:
        signature.replace(parameters=params).bind(*args, **kwargs)
    except TypeError as exc:
        expected = ", ".join(p.name for p in params) or "no parameters"
        return f"params don't fit ({exc}); expected: {expected}"
    return None


def _build_rules(settings: Settings, issues: list[ConfigIssue]) -> list[tuple[str, Rule]]:
    rules: list[tuple[str, Rule]] = []
    specs = settings.ccproxy.rules
    issues += settings.duplicate_names("rules", [spec.name for spec in specs], "rule")
    model_names = settings.litellm.model_names()
    for index, spec in enumerate(specs):
        where = ("ccproxy", "rules", index)
        try:
            cls = resolve_import(spec.rule, dict(BUILTIN_RULES))
        except ImportError as exc:
            issues.append(settings.ccproxy_issue((*where, "rule"), str(exc)))
            continue
        if not (inspect.isclass(cls) and callable(getattr(cls, "evaluate", None))):
            issues.append(
                settings.ccproxy_issue(
                    (*where, "rule"), f"{spec.rule} is not a rule class (needs an evaluate method)"
                )
            )
            continue
        problem = _signature_issue(cls, 0, spec.args, spec.kwargs)
        if problem:
            issues.append(settings.ccproxy_issue((*where, "params"), problem))
            continue
        try:
            rule = cls(*spec.args, **spec.kwargs)
        except (TypeError, ValueError) as exc:
            issues.append(settings.ccproxy_issue((*where, "params"), str(exc)))
            continue
        if not isinstance(rule, Rule):
            rule = _adapt_rule(rule)
        rules.append((spec.name, rule))
        if spec.name not in model_names and not any(
            fnmatch.fnmatchcase(spec.name, n) for n in model_names if "*" in n
        ):
            fallback = (
                "the `default` model"
                if "default" in model_names
                else "the requested model (no `default` model)"
            )
            issues.append(
                settings.ccproxy_issue(
                    (*where, "name"),
                    f"no model named {spec.name!r} in {settings.paths.litellm_yaml.name}; requests it matches go to {fallback}",
                    "warning",
                )
            )
    return rules


class _DuckRule(Rule):
    """Wraps a custom rule object that has `evaluate` but doesn't subclass `Rule`."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def evaluate(self, ctx: RequestContext, env: Any) -> bool:
        return bool(self.inner.evaluate(ctx, env))

    async def evaluate_async(self, ctx: RequestContext, env: Any) -> bool:
        method = getattr(self.inner, "evaluate_async", None)
        if method is not None:
            return bool(await method(ctx, env))
        return self.evaluate(ctx, env)


def _adapt_rule(rule: Any) -> Rule:
    return _DuckRule(rule)


def _build_hooks(settings: Settings, env: PipelineEnv, issues: list[ConfigIssue]) -> list[Hook]:
    specs = settings.ccproxy.hooks
    entries: list[tuple[tuple[str | int, ...], str, dict[str, Any]]]
    if specs is None:
        entries = [(("ccproxy",), name, {}) for name in DEFAULT_HOOKS]
    else:
        entries = [(("ccproxy", "hooks", i), s.hook, dict(s.params)) for i, s in enumerate(specs)]
    hooks: list[Hook] = []
    for where, path, params in entries:
        try:
            target = resolve_import(path, dict(BUILTIN_HOOKS))
        except ImportError as exc:
            issues.append(settings.ccproxy_issue(where, str(exc)))
            continue
        if inspect.isclass(target) and issubclass(target, Hook):
            problem = _signature_issue(target, 1, (), params)
            if problem:
                issues.append(
                    settings.ccproxy_issue((*where, "params") if len(where) > 1 else where, problem)
                )
                continue
            try:
                hooks.append(target(env, **params))
            except (TypeError, ValueError) as exc:
                issues.append(
                    settings.ccproxy_issue((*where, "params") if len(where) > 1 else where, str(exc))
                )
        elif callable(target) and not inspect.isclass(target):
            problem = _signature_issue(target, 1, (), params)
            if problem:
                issues.append(settings.ccproxy_issue(where, problem))
                continue
            hooks.append(FunctionHook(env, target, path, params))
        else:
            issues.append(
                settings.ccproxy_issue(
                    where, f"{path} is not a hook (a Hook class or a function(ctx, **params))"
                )
            )
    provided: dict[str, str] = {}
    for index, hook in enumerate(hooks):
        for need in hook_requires(hook):
            if need in provided:
                continue
            later = next((hook_name(h) for h in hooks[index + 1 :] if need in hook_provides(h)), None)
            hint = (
                f"move it after {later}"
                if later
                else f"add a hook that provides it (e.g. {_provider_hint(need)})"
            )
            where = entries[index][0] if index < len(entries) else ("ccproxy", "hooks")
            issues.append(
                settings.ccproxy_issue(where, f"hook {hook_name(hook)} needs {need!r} first: {hint}")
            )
        for fact in hook_provides(hook):
            provided.setdefault(fact, hook_name(hook))
    return hooks


def _provided_before(hooks: Sequence[Hook], fact: str, later: str) -> bool:
    """True if a hook provides `fact` before (or where) the first hook that provides `later`."""
    for hook in hooks:
        if fact in hook_provides(hook):
            return True
        if later in hook_provides(hook):
            return False
    return False


def _provider_hint(fact: str) -> str:
    return next((name for name, cls in BUILTIN_HOOKS.items() if fact in cls.provides), "?")


def check_fallback_model(settings: Settings, issues: list[ConfigIssue]) -> None:
    fallback = settings.ccproxy.retry_fallback_model
    if fallback and fallback not in settings.litellm.model_names():
        issues.append(
            settings.ccproxy_issue(
                ("ccproxy", "retry_fallback_model"), f"no model named {fallback!r} in config.yaml"
            )
        )


def check_budgets(settings: Settings, issues: list[ConfigIssue]) -> None:
    """Budget names are unique; a budget's model scope names a served model; alert callbacks import."""
    models = settings.litellm.model_names()
    issues += settings.duplicate_names("budgets", [b.name for b in settings.ccproxy.budgets], "budget")
    for index, budget in enumerate(settings.ccproxy.budgets):
        where = ("ccproxy", "budgets", index)
        if budget.model is not None and budget.model not in models:
            issues.append(
                settings.ccproxy_issue(
                    (*where, "model"),
                    f"no model named {budget.model!r} in config.yaml; the budget counts requests for that name only",
                    "warning",
                )
            )
    for index, path in enumerate(settings.ccproxy.alert_callbacks):
        try:
            target = resolve_import(path, {})
        except ImportError as exc:
            issues.append(settings.ccproxy_issue(("ccproxy", "alert_callbacks", index), str(exc)))
            continue
        if not callable(target):
            issues.append(
                settings.ccproxy_issue(("ccproxy", "alert_callbacks", index), f"{path} is not callable")
            )


def build_pipeline(
    settings: Settings,
    token_counter: TokenCounting,
    catalog: ModelCatalog | None = None,
    tokens: TokenSource | None = None,
    override: Callable[[], ModelChoice | None] = lambda: None,
    proxy_keys: frozenset[str] = frozenset(),
) -> tuple[Pipeline, list[ConfigIssue]]:
    """Build the pipeline for `settings`. Returns it with the warnings; raises ConfigInvalid on errors."""
    issues: list[ConfigIssue] = []
    aliases = {m.model_name: m.target for m in settings.litellm.model_list if m.is_alias and m.target}
    router = ModelRouter(catalog or StaticCatalog(settings.litellm.model_names()), aliases)
    env = PipelineEnv(
        settings=settings,
        token_counter=token_counter,
        router=router,
        tokens=tokens or NoTokens(),
        override=override,
        proxy_keys=proxy_keys,
        ab_tests=ABTests(settings.ccproxy.ab_tests),
    )
    env.rules = _build_rules(settings, issues)
    hooks = _build_hooks(settings, env, issues)
    check_fallback_model(settings, issues)
    check_budgets(settings, issues)
    check_ab_tests(settings, issues, sessions=_provided_before(hooks, "session", "route"))
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise ConfigInvalid(errors)
    return Pipeline(hooks, env), [*settings.warnings, *issues]
