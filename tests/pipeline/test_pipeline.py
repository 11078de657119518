"""The whole pipeline: hook order, the error funnel, custom hooks and rules, recorded Claude Code requests."""

from __future__ import annotations

import json
import logging
import re
import textwrap
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import pytest
import yaml

from ccproxy_desktop.config.loader import ConfigInvalid, install_defaults, load_settings
from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.pipeline.context import Reject, RequestContext
from ccproxy_desktop.pipeline.pipeline import DEFAULT_HOOKS, Pipeline, build_pipeline
from ccproxy_desktop.pipeline.router import ModelChoice
from ccproxy_desktop.pipeline.tokens import TokenCounter
from ccproxy_desktop.proxy.adapter import context_from_litellm

FIXTURES = Path(__file__).parents[1] / "fixtures" / "claude_code"
PIPELINE_LOGGER = "ccproxy_desktop.pipeline.pipeline"

MODELS = """\
model_list:
  - model_name: default
    litellm_params:
      model: anthropic/claude-sonnet-4-5-20250929
  - model_name: background
    litellm_params:
      model: anthropic/claude-haiku-4-5-20251001
  - model_name: think
    litellm_params:
      model: anthropic/claude-opus-4-5-20251101
  - model_name: "claude-*"
    litellm_params:
      model: "anthropic/claude-*"
"""

# A user's own hooks and rules, in a module of their own (as they would reference it from ccproxy.yaml).
USER_MODULE = '''
from ccproxy_desktop.pipeline.context import Reject


def tag(ctx, name, times=1):
    ctx.notes.setdefault("trail", []).extend([name] * times)


async def tag_async(ctx, name):
    ctx.notes.setdefault("trail", []).append(name)


def note_label(ctx):
    ctx.notes.setdefault("trail", []).append(f"label={ctx.label}")


note_label.requires = ("classify",)


def broken(ctx):
    raise RuntimeError("my hook has a bug")


def refuse_gpt(ctx):
    if ctx.model.startswith("gpt"):
        raise Reject(403, "permission_error", "gpt models are not allowed here")


class LongPromptRule:
    """Not a Rule subclass: anything with `evaluate` works."""

    def __init__(self, words):
        self.words = words

    def evaluate(self, ctx, env):
        return sum(len(str(m.get("content", "")).split()) for m in ctx.messages) > self.words


class BrokenRule:
    def evaluate(self, ctx, env):
        raise KeyError("no such field")
'''


class FixedTokenCount:
    def exceeds(self, system: Any, tools: Any, messages: Any, threshold: int) -> bool:
        return False

    async def exceeds_async(self, system: Any, tools: Any, messages: Any, threshold: int) -> bool:
        return False


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The name of an importable module holding USER_MODULE (unique per test)."""
    name = "user_hooks_" + re.sub(r"\W", "_", tmp_path.name)
    module_dir = tmp_path / "modules"
    module_dir.mkdir()
    (module_dir / f"{name}.py").write_text(textwrap.dedent(USER_MODULE))
    monkeypatch.syspath_prepend(str(module_dir))
    return name


BuildPipeline = Callable[..., Pipeline]


@pytest.fixture
def make_pipeline(tmp_path: Path) -> BuildPipeline:
    """Writes a config folder with `section` as the ccproxy: section and builds its pipeline."""

    def make(section: dict[str, Any], **build: Any) -> Pipeline:
        paths = ConfigPaths(tmp_path / "config")
        paths.config_dir.mkdir(exist_ok=True)
        paths.ccproxy_yaml.write_text(yaml.safe_dump({"ccproxy": section}, sort_keys=False))
        paths.litellm_yaml.write_text(MODELS)
        build.setdefault("token_counter", FixedTokenCount())
        pipeline, _ = build_pipeline(load_settings(paths), **build)
        return pipeline

    return make


def request(model: str = "claude-sonnet-4-5-20250929", **fields: Any) -> RequestContext:
    fields.setdefault("messages", [{"role": "user", "content": "hello"}])
    return RequestContext(request_id="req-1", call_type="anthropic_messages", model=model, **fields)


def hook(path: str, **params: Any) -> dict[str, Any]:
    return {"hook": path, "params": params}


# Hooks below: a built-in name, a user function name, or "function:name" for a user function given `name`.
@pytest.mark.parametrize(
    ("hooks", "expected_trail"),
    [
        pytest.param(["tag:first", "tag:second"], ["first", "second"], id="listed-order"),
        pytest.param(["tag:second", "tag:first"], ["second", "first"], id="reversed"),
        pytest.param(["tag:a", "tag_async:b", "tag:c"], ["a", "b", "c"], id="async-function"),
        pytest.param(
            ["tag:before", "rule_evaluator", "note_label", "model_router", "tag:after"],
            ["before", "label=background", "after"],
            id="around-builtins",
        ),
    ],
)
async def test_hooks_run_in_the_listed_order(
    make_pipeline: BuildPipeline, user_module: str, hooks: list[str], expected_trail: list[str]
) -> None:
    specs: list[Any] = []
    for entry in hooks:
        function, _, name = entry.partition(":")
        if function in {"rule_evaluator", "model_router"}:
            specs.append(function)
        else:
            specs.append(
                hook(f"{user_module}.{function}", name=name) if name else f"{user_module}.{function}"
            )
    pipeline = make_pipeline(
        {
            "hooks": specs,
            "rules": [{"name": "background", "rule": "MatchModelRule", "params": [{"model_name": "haiku"}]}],
        }
    )
    ctx = request("claude-haiku-4-5")

    await pipeline.run(ctx)

    assert ctx.notes["trail"] == expected_trail


async def test_function_hook_gets_its_params(make_pipeline: BuildPipeline, user_module: str) -> None:
    pipeline = make_pipeline(
        {"hooks": [{"hook": f"{user_module}.tag", "params": [{"name": "x"}, {"times": 3}]}]}
    )
    ctx = request()

    await pipeline.run(ctx)

    assert ctx.notes["trail"] == ["x", "x", "x"]


@pytest.mark.parametrize(
    "failing",
    [
        pytest.param("ccproxy_desktop.testing.hooks.explode_on_header", id="testing-hook"),
        pytest.param("{user}.broken", id="user-hook"),
    ],
)
async def test_failing_hook_is_logged_once_and_skipped(
    make_pipeline: BuildPipeline, user_module: str, caplog: pytest.LogCaptureFixture, failing: str
) -> None:
    failing = failing.format(user=user_module)
    pipeline = make_pipeline(
        {
            "hooks": ["extract_session_id", failing, "rule_evaluator", "model_router", "capture_headers"],
            "rules": [{"name": "think", "rule": "ThinkingRule"}],
        }
    )
    contexts = [
        request(headers={"x-test-explode": "1", "user-agent": "claude-cli/2.0"}, thinking={"type": "enabled"})
        for _ in range(3)
    ]

    with caplog.at_level(logging.WARNING, logger=PIPELINE_LOGGER):
        for ctx in contexts:
            await pipeline.run(ctx)

    failures = [r.getMessage() for r in caplog.records if "failed and was skipped" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].startswith(f"hook {failing} failed and was skipped: RuntimeError: ")
    for ctx in contexts:
        assert (ctx.label, ctx.routed_model) == ("think", "think")
        assert ctx.captured_headers["user-agent"] == "claude-cli/2.0"
        assert ctx.failed_hooks == [failing]


@pytest.mark.parametrize(
    ("hooks", "model", "headers", "expected"),
    [
        pytest.param(
            ["rule_evaluator", "ccproxy_desktop.testing.hooks.refuse_on_header", "model_router"],
            "claude-sonnet-4-5",
            {"x-test-refuse": "1"},
            (403, "permission_error", "refused by the test hook"),
            id="testing-hook",
        ),
        pytest.param(
            ["{user}.refuse_gpt", "rule_evaluator", "model_router"],
            "gpt-4o",
            {},
            (403, "permission_error", "gpt models are not allowed here"),
            id="user-hook",
        ),
    ],
)
async def test_hook_raising_reject_refuses_the_request(
    make_pipeline: BuildPipeline,
    user_module: str,
    caplog: pytest.LogCaptureFixture,
    hooks: list[str],
    model: str,
    headers: dict[str, str],
    expected: tuple[int, str, str],
) -> None:
    pipeline = make_pipeline({"hooks": [h.format(user=user_module) for h in hooks]})
    ctx = request(model, headers=headers)

    with caplog.at_level(logging.WARNING, logger=PIPELINE_LOGGER), pytest.raises(Reject) as caught:
        await pipeline.run(ctx)

    assert (caught.value.status, caught.value.error_type, caught.value.message) == expected
    assert ctx.routed_model is None
    assert caplog.records == []


async def test_failing_rule_is_logged_once_and_the_next_rule_decides(
    make_pipeline: BuildPipeline, user_module: str, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline = make_pipeline(
        {
            "rules": [
                {"name": "background", "rule": f"{user_module}.BrokenRule"},
                {"name": "think", "rule": "ThinkingRule"},
            ]
        }
    )
    contexts = [request(thinking={"type": "enabled", "budget_tokens": 1024}) for _ in range(2)]

    with caplog.at_level(logging.WARNING, logger=PIPELINE_LOGGER):
        for ctx in contexts:
            await pipeline.run(ctx)

    assert [r.getMessage().split(" (at ")[0] for r in caplog.records] == [
        "rule background failed and was skipped: KeyError: 'no such field'"
    ]
    assert [(ctx.label, ctx.routed_model) for ctx in contexts] == [("think", "think")] * 2


@pytest.mark.parametrize(
    ("words", "expected"),
    [(5, ("background", "background")), (500, ("default", "claude-sonnet-4-5-20250929"))],
)
async def test_custom_rule_class_with_params_routes_requests(
    make_pipeline: BuildPipeline, user_module: str, words: int, expected: tuple[str, str]
) -> None:
    rule = {"name": "background", "rule": f"{user_module}.LongPromptRule", "params": [{"words": words}]}
    pipeline = make_pipeline({"rules": [rule]})
    ctx = request(messages=[{"role": "user", "content": "please refactor the whole module for me"}])

    await pipeline.run(ctx)

    assert (ctx.label, ctx.routed_model) == expected


def test_without_a_hooks_key_the_default_hooks_run(make_pipeline: BuildPipeline) -> None:
    pipeline = make_pipeline({"debug": False})

    assert pipeline.hook_names == DEFAULT_HOOKS


@pytest.mark.parametrize(
    ("hooks", "expected"),
    [
        pytest.param(
            ["model_router", "rule_evaluator"],
            [(3, "hooks[0]", "hook model_router needs 'classify' first: move it after rule_evaluator")],
            id="router-before-classifier",
        ),
        pytest.param(
            ["rule_evaluator", "forward_oauth", "model_router"],
            [(4, "hooks[1]", "hook forward_oauth needs 'route' first: move it after model_router")],
            id="credentials-before-route",
        ),
        pytest.param(
            ["{user}.note_label", "rule_evaluator"],
            [(3, "hooks[0]", "hook {user}.note_label needs 'classify' first: move it after rule_evaluator")],
            id="custom-hook-requires",
        ),
        pytest.param(
            ["add_beta_headers", "model_router"],
            [
                (3, "hooks[0]", "hook add_beta_headers needs 'route' first: move it after model_router"),
                (
                    4,
                    "hooks[1]",
                    "hook model_router needs 'classify' first:"
                    " add a hook that provides it (e.g. rule_evaluator)",
                ),
            ],
            id="every-violation-reported",
        ),
        pytest.param(
            [{"hook": "{user}.tag"}],
            [
                (
                    3,
                    "hooks[0]",
                    "params don't fit (missing a required argument: 'name'); expected: name, times",
                )
            ],
            id="custom-hook-missing-param",
        ),
    ],
)
def test_build_pipeline_refuses_hooks_in_the_wrong_order(
    make_pipeline: BuildPipeline, user_module: str, hooks: list[Any], expected: list[tuple[int, str, str]]
) -> None:
    specs = [
        h.format(user=user_module) if isinstance(h, str) else {"hook": h["hook"].format(user=user_module)}
        for h in hooks
    ]

    with pytest.raises(ConfigInvalid) as caught:
        make_pipeline({"hooks": specs})

    assert [(i.line, i.key, i.message) for i in caught.value.issues] == [
        (line, f"ccproxy.{key}", message.format(user=user_module)) for line, key, message in expected
    ]


# --- the default config on typical and real requests ----------------------------------------------


@pytest.fixture(scope="module")
def default_paths(tmp_path_factory: pytest.TempPathFactory) -> ConfigPaths:
    paths = ConfigPaths(tmp_path_factory.mktemp("defaults"))
    install_defaults(paths)
    return paths


@pytest.fixture(scope="module")
def token_counter() -> TokenCounter:
    return TokenCounter()


@pytest.mark.parametrize(
    ("model", "fields", "override", "expected"),
    [
        pytest.param(
            "claude-haiku-4-5-20251001", {}, None, ("background", "background", "rule background"), id="haiku"
        ),
        pytest.param(
            "claude-sonnet-4-5-20250929",
            {"thinking": {"type": "enabled", "budget_tokens": 4096}},
            None,
            ("think", "think", "rule think"),
            id="thinking",
        ),
        pytest.param(
            "claude-haiku-4-5-20251001",
            {"thinking": {"type": "enabled", "budget_tokens": 4096}},
            None,
            ("background", "background", "rule background"),
            id="first-match-wins",
        ),
        pytest.param(
            "claude-sonnet-4-5-20250929",
            {"tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 8}]},
            None,
            ("web_search", "web_search", "rule web_search"),
            id="web-search",
        ),
        pytest.param(
            "claude-sonnet-4-5-20250929",
            {"messages": [{"role": "user", "content": "def f(x):\n    return x * 2\n" * 12_000}]},
            None,
            ("token_count", "token_count", "rule token_count"),
            id="long-context",
        ),
        pytest.param(
            "claude-opus-4-1-20250805",
            {},
            None,
            ("default", "claude-opus-4-1-20250805", "passthrough"),
            id="passthrough",
        ),
        pytest.param(
            "claude-opus-4-1-20250805", {}, "think", ("default", "think", "override think"), id="model-switch"
        ),
    ],
)
async def test_default_config_routes_typical_requests(
    default_paths: ConfigPaths,
    token_counter: TokenCounter,
    model: str,
    fields: dict[str, Any],
    override: str | None,
    expected: tuple[str, str, str],
) -> None:
    choice = ModelChoice(override) if override is not None else None
    pipeline, _ = build_pipeline(load_settings(default_paths), token_counter, override=lambda: choice)
    ctx = request(model, **fields)

    await pipeline.run(ctx)

    assert (ctx.label, ctx.routed_model, ctx.route_reason) == expected


# What the default rules make of each recorded Claude Code request (file stem -> label).
CLAUDE_CODE_LABELS = {
    "background_haiku": "background",
    "count_tokens_fallback": "default",
    "main_bearer_auth": "default",  # adaptive thinking: the model decides, nothing was asked for
    "main_haiku": "background",  # haiku is checked before thinking
    "main_nonstreaming_retry": "default",
    "main_sonnet": "default",
    "main_streaming": "default",
    "main_tool_result_turn": "default",
    "prompt_suggestion": "default",
    "subagent_explore": "background",
    "thinking": "think",
    "thinking_disabled": "default",  # offers Claude Code's WebSearch tool, but doesn't search
    "title_generation": "default",
    "web_fetch_summary": "background",
    "web_search": "web_search",
}
# Recorded requests for a model the default config doesn't serve.
CLAUDE_CODE_REFUSED = {"main_custom_model": "ccproxy-custom"}


def messages_fixtures(stems: Collection[str]) -> list[Path]:
    """The recorded request files named by `stems`."""
    return [FIXTURES / f"{stem}.json" for stem in sorted(stems)]


def recorded_context(fixture: Path) -> tuple[RequestContext, dict[str, Any]]:
    recorded = json.loads(fixture.read_text())
    data = {**recorded["body"], "proxy_server_request": {"headers": recorded["headers"]}}
    return context_from_litellm(data, "anthropic_messages"), recorded


def test_every_recorded_claude_code_request_has_an_expected_outcome() -> None:
    recorded = sorted(
        p.stem for p in FIXTURES.glob("*.json") if "count_tokens" not in json.loads(p.read_text())["path"]
    )

    assert recorded == sorted([*CLAUDE_CODE_LABELS, *CLAUDE_CODE_REFUSED])


@pytest.mark.parametrize("fixture", messages_fixtures(CLAUDE_CODE_LABELS), ids=lambda p: p.stem)
async def test_default_rules_classify_recorded_claude_code_requests(
    default_paths: ConfigPaths, token_counter: TokenCounter, fixture: Path
) -> None:
    ctx, recorded = recorded_context(fixture)
    pipeline, _ = build_pipeline(load_settings(default_paths), token_counter)

    await pipeline.run(ctx)

    assert ctx.label == CLAUDE_CODE_LABELS[fixture.stem]
    assert ctx.routed_model == (ctx.model if ctx.label == "default" else ctx.label)
    assert ctx.session_id == recorded["headers"]["X-Claude-Code-Session-Id"]
    client_betas = recorded["headers"]["anthropic-beta"].split(",")
    assert ctx.upstream_headers["anthropic-beta"].split(",") == client_betas


@pytest.mark.parametrize("fixture", messages_fixtures(CLAUDE_CODE_REFUSED), ids=lambda p: p.stem)
async def test_recorded_request_for_an_unserved_model_is_refused_with_404(
    default_paths: ConfigPaths, token_counter: TokenCounter, fixture: Path
) -> None:
    ctx, _ = recorded_context(fixture)
    pipeline, _ = build_pipeline(load_settings(default_paths), token_counter)

    with pytest.raises(Reject) as caught:
        await pipeline.run(ctx)

    assert (caught.value.status, caught.value.error_type) == (404, "not_found_error")
    assert caught.value.message.startswith(
        f"model: {CLAUDE_CODE_REFUSED[fixture.stem]} is not served by this proxy"
    )
