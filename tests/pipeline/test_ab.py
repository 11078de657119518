"""A/B test assignment: the split follows the weights, sessions stay on their variant (across instances and
processes), the quick model switch wins, and bad `ab_tests:` config is refused with file:line: key."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from ccproxy_desktop.config.loader import ConfigInvalid, load_settings
from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.config.schema import ABTestSpec
from ccproxy_desktop.pipeline.ab import ABTests, stickiness_key
from ccproxy_desktop.pipeline.context import RequestContext
from ccproxy_desktop.pipeline.pipeline import Pipeline, build_pipeline
from ccproxy_desktop.pipeline.router import ModelChoice

MODELS = """\
model_list:
  - model_name: default
    litellm_params: {model: anthropic/claude-sonnet-4-5-20250929}
  - model_name: opus
    litellm_params: {model: anthropic/claude-opus-4-5-20251101}
  - model_name: sonnet
    litellm_params: {model: default}
  - model_name: haiku
    litellm_params: {model: anthropic/claude-haiku-4-5-20251001}
  - model_name: background
    litellm_params: {model: anthropic/claude-haiku-4-5-20251001}
  - model_name: "claude-*"
    litellm_params: {model: "anthropic/claude-*"}
"""

RULES = [{"name": "background", "rule": "MatchModelRule", "params": {"model_name": "haiku"}}]
HOOKS = ["extract_session_id", "rule_evaluator", "model_router"]


def spec(weights: dict[str, float], name: str = "t", label: str = "default") -> ABTestSpec:
    return ABTestSpec.model_validate(
        {"name": name, "label": label, "variants": [{"model": m, "weight": w} for m, w in weights.items()]}
    )


def variant(tests: ABTests, key: str, label: str = "default") -> str:
    assignment = tests.assign(label, key)
    assert assignment is not None
    return assignment.model


def sessions(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count)]


@pytest.mark.parametrize(
    "weights",
    [
        {"opus": 0.5, "sonnet": 0.5},
        {"opus": 0.7, "sonnet": 0.3},
        {"opus": 2, "sonnet": 3, "haiku": 5},  # weights need not sum to 1
        {"opus": 0.1, "sonnet": 0.9},
    ],
)
def test_a_thousand_sessions_split_within_3_percent_of_the_weights(weights: dict[str, float]) -> None:
    tests = ABTests([spec(weights)])
    counts = Counter(variant(tests, stickiness_key(s, None, "r")) for s in sessions(1000))
    total = sum(weights.values())
    for model, weight in weights.items():
        assert abs(counts[model] / 1000 - weight / total) <= 0.03, (model, counts)


def test_sessions_are_sticky_across_requests_instances_and_processes() -> None:
    ids = sessions(1000, seed=2)
    weights = {"opus": 0.5, "sonnet": 0.3, "haiku": 0.2}
    first = ABTests([spec(weights, name="sticky")])
    assigned = {s: variant(first, f"session:{s}") for s in ids}
    restarted = ABTests([spec(weights, name="sticky")])  # a new worker, or the proxy after a restart
    for request in range(3):
        for s in ids:
            ctx_key = stickiness_key(s, "someone", f"req-{request}")
            assert variant(restarted, ctx_key) == assigned[s]
    # Another interpreter with another hash seed assigns every session the same way (no Python hash()).
    script = textwrap.dedent(
        """
        import json, sys
        from ccproxy_desktop.config.schema import ABTestSpec
        from ccproxy_desktop.pipeline.ab import ABTests
        spec = ABTestSpec.model_validate(json.loads(sys.argv[1]))
        ids = json.loads(sys.stdin.read())
        print(json.dumps({s: ABTests([spec]).assign("default", f"session:{s}").model for s in ids}))
        """
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", script, spec(weights, name="sticky").model_dump_json()],
        input=json.dumps(ids),
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    assert json.loads(out.stdout) == assigned


def test_each_test_splits_sessions_independently() -> None:
    """Two tests with the same weights don't put the same sessions in the same arm."""
    a, b = (
        ABTests([spec({"opus": 1, "sonnet": 1}, name="a")]),
        ABTests([spec({"opus": 1, "sonnet": 1}, name="b")]),
    )
    same = sum(variant(a, s) == variant(b, s) for s in sessions(1000, seed=3))
    assert 430 <= same <= 570


# --- through the pipeline ----------------------------------------------------------------------------


def make_pipeline(tmp_path: Path, ab_tests: list[dict[str, Any]], **build: Any) -> Pipeline:
    paths = ConfigPaths(tmp_path / "config")
    paths.config_dir.mkdir(exist_ok=True)
    section = {"hooks": HOOKS, "rules": RULES, "default_model_passthrough": True, "ab_tests": ab_tests}
    paths.ccproxy_yaml.write_text(yaml.safe_dump({"ccproxy": section}, sort_keys=False))
    paths.litellm_yaml.write_text(MODELS)
    pipeline, _ = build_pipeline(load_settings(paths), _NoCount(), **build)
    return pipeline


class _NoCount:
    def exceeds(self, system: Any, tools: Any, messages: Any, threshold: int) -> bool:
        return False

    async def exceeds_async(self, system: Any, tools: Any, messages: Any, threshold: int) -> bool:
        return False


def claude_code_request(session: str | None, model: str = "claude-opus-4-5", **fields: Any) -> RequestContext:
    metadata = {"user_id": json.dumps({"session_id": session})} if session else {}
    return RequestContext(
        request_id=fields.pop("request_id", "req-1"),
        call_type="anthropic_messages",
        model=model,
        messages=[{"role": "user", "content": "hi"}],
        metadata=metadata,
        **fields,
    )


TEST = {"name": "opus-vs-sonnet", "label": "default", "variants": [{"model": "opus"}, {"model": "sonnet"}]}


def expected_variant(session: str) -> str:
    return variant(ABTests([ABTestSpec.model_validate(TEST)]), f"session:{session}")


async def test_requests_of_the_label_go_to_the_session_variant_and_are_tagged(tmp_path: Path) -> None:
    pipeline = make_pipeline(tmp_path, [TEST])
    for session in sessions(20, seed=4):
        ctx = claude_code_request(session)
        await pipeline.run(ctx)
        model = expected_variant(session)
        # `sonnet` is an alias of `default`: routing follows it to the entry that serves it.
        assert ctx.routed_model == {"opus": "opus", "sonnet": "default"}[model]
        assert ctx.variant == f"opus-vs-sonnet:{model}"
        assert ctx.route_reason == f"A/B test opus-vs-sonnet: {model} (label default)"


async def test_other_labels_and_disabled_tests_are_left_alone(tmp_path: Path) -> None:
    pipeline = make_pipeline(tmp_path, [{**TEST, "enabled": False}])
    ctx = claude_code_request("s-1")
    await pipeline.run(ctx)
    assert (ctx.routed_model, ctx.variant) == ("claude-opus-4-5", None)

    pipeline = make_pipeline(tmp_path, [{**TEST, "label": "background"}])
    ctx = claude_code_request("s-1")
    await pipeline.run(ctx)
    assert (ctx.routed_model, ctx.variant) == ("claude-opus-4-5", None)
    background = claude_code_request("s-1", model="claude-haiku-4-5")
    await pipeline.run(background)
    assert background.label == "background"
    assert background.variant is not None and background.variant.startswith("opus-vs-sonnet:")


@pytest.mark.parametrize("force_all", [False, True])
async def test_the_quick_model_switch_wins_and_the_request_is_not_in_the_test(
    tmp_path: Path, force_all: bool
) -> None:
    pipeline = make_pipeline(tmp_path, [TEST], override=lambda: ModelChoice("haiku", force_all))
    ctx = claude_code_request("s-1")
    await pipeline.run(ctx)
    assert (ctx.routed_model, ctx.variant) == ("haiku", None)


async def test_a_fallback_try_goes_to_the_fallback_model_and_is_not_in_the_test(tmp_path: Path) -> None:
    pipeline = make_pipeline(tmp_path, [TEST])
    ctx = claude_code_request("s-1")
    ctx.forced_model = "haiku"
    await pipeline.run(ctx)
    assert (ctx.routed_model, ctx.route_reason, ctx.variant) == ("haiku", "fallback", None)


async def test_without_a_session_the_user_then_the_request_decides(tmp_path: Path) -> None:
    pipeline = make_pipeline(tmp_path, [TEST])
    by_user = set()
    for i in range(20):
        ctx = claude_code_request(None, user="alice", request_id=f"req-{i}")
        await pipeline.run(ctx)
        by_user.add(ctx.variant)
    assert len(by_user) == 1  # sticky per user
    by_request = set()
    for i in range(40):
        ctx = claude_code_request(None, request_id=f"req-{i}")
        await pipeline.run(ctx)
        by_request.add(ctx.variant)
    assert by_request == {"opus-vs-sonnet:opus", "opus-vs-sonnet:sonnet"}  # each request on its own


# --- validation ----------------------------------------------------------------------------------------


def config_errors(tmp_path: Path, ab_tests: list[dict[str, Any]]) -> list[str]:
    with pytest.raises(ConfigInvalid) as caught:
        make_pipeline(tmp_path, ab_tests)
    return [str(issue).split("ccproxy.yaml:", 1)[1] for issue in caught.value.issues]


def variants(*models: str, weight: float = 1.0) -> list[dict[str, Any]]:
    return [{"model": m, "weight": weight} for m in models]


# In the written file `ab_tests:` is line 12; its first test's `name:` line 13, `label:` 14, `variants:` 15,
# the variants' `model:`/`weight:` 16-19, then the next key (20).
@pytest.mark.parametrize(
    ("ab_tests", "expected"),
    [
        pytest.param(
            [{"name": "t", "label": "nope", "variants": variants("opus", "sonnet")}],
            ["14: ccproxy.ab_tests[0].label: no rule named 'nope' (labels: background, default)"],
            id="unknown-label",
        ),
        pytest.param(
            [{"name": "t", "label": "default", "variants": variants("opus", "gpt-9")}],
            ["18: ccproxy.ab_tests[0].variants[1].model: no model named 'gpt-9' in config.yaml"],
            id="unknown-model",
        ),
        pytest.param(
            [
                {"name": "t", "label": "default", "variants": variants("opus", "sonnet")},
                {"name": "t", "label": "background", "variants": variants("opus", "sonnet")},
            ],
            ["20: ccproxy.ab_tests[1].name: A/B test name 't' is used more than once"],
            id="duplicate-name",
        ),
        pytest.param(
            [
                {"name": "a", "label": "default", "variants": variants("opus", "sonnet")},
                {"name": "b", "label": "default", "variants": variants("opus", "haiku")},
            ],
            [
                "21: ccproxy.ab_tests[1].label: label 'default' already has the enabled A/B test 'a'; "
                "disable one (enabled: false)"
            ],
            id="two-active-on-one-label",
        ),
        pytest.param(
            [{"name": "t", "label": "default", "variants": variants("opus", "sonnet", weight=0)}],
            [
                "17: ccproxy.ab_tests[0].variants[0].weight: Input should be greater than 0",
                "19: ccproxy.ab_tests[0].variants[1].weight: Input should be greater than 0",
            ],
            id="zero-weight",
        ),
        pytest.param(
            [{"name": "t", "label": "default", "variants": variants("opus")}],
            [
                "15: ccproxy.ab_tests[0].variants: Value error, an A/B test needs at least two "
                "variants with different models"
            ],
            id="one-variant",
        ),
        pytest.param(
            [{"name": "t", "label": "default", "variants": variants("opus", "sonnet", "opus")}],
            [
                "15: ccproxy.ab_tests[0].variants: Value error, each model may appear only once among the "
                "variants"
            ],
            id="repeated-model",
        ),
        pytest.param(
            [{"name": "a:b", "label": "default", "variants": variants("opus", "sonnet")}],
            [
                "13: ccproxy.ab_tests[0].name: Value error, a test name can't contain ':' "
                "(the ledger tags requests '<test>:<model>')"
            ],
            id="colon-in-name",
        ),
        pytest.param(
            [{"name": "t", "label": "default", "variants": variants("opus", "sonnet"), "min_samples": 3}],
            ["20: ccproxy.ab_tests[0].min_samples: Input should be greater than or equal to 10"],
            id="min-samples",
        ),
    ],
)
def test_invalid_ab_tests_are_refused_with_file_line_and_key(
    tmp_path: Path, ab_tests: list[dict[str, Any]], expected: list[str]
) -> None:
    assert config_errors(tmp_path, ab_tests) == expected


async def test_a_disabled_test_may_share_a_label_and_a_wildcard_model_serves_a_variant(
    tmp_path: Path,
) -> None:
    pipeline = make_pipeline(
        tmp_path,
        [
            {"name": "old", "label": "default", "variants": variants("opus", "sonnet"), "enabled": False},
            {"name": "new", "label": "default", "variants": variants("opus", "claude-opus-4-1")},
        ],
    )
    seen = set()
    for session in sessions(20, seed=5):
        ctx = claude_code_request(session)
        await pipeline.run(ctx)
        seen.add((ctx.routed_model, ctx.variant))
    assert seen == {("opus", "new:opus"), ("claude-opus-4-1", "new:claude-opus-4-1")}


@pytest.mark.parametrize(
    ("hooks", "warned"),
    [
        (None, False),  # the default hook list extracts the session first
        (HOOKS, False),
        (["rule_evaluator", "model_router"], True),
        (["rule_evaluator", "model_router", "extract_session_id"], True),
    ],
)
def test_a_warning_when_no_session_id_is_known_before_routing(
    tmp_path: Path, hooks: list[str] | None, warned: bool
) -> None:
    paths = ConfigPaths(tmp_path / "config")
    paths.config_dir.mkdir()
    section: dict[str, Any] = {"rules": RULES, "ab_tests": [TEST]}
    if hooks is not None:
        section["hooks"] = hooks
    paths.ccproxy_yaml.write_text(yaml.safe_dump({"ccproxy": section}, sort_keys=False))
    paths.litellm_yaml.write_text(MODELS)
    _, warnings = build_pipeline(load_settings(paths), _NoCount())
    expected = (
        "ccproxy.ab_tests: warning: no hook sets the session id before model_router (add extract_session_id "
        "before it): A/B test variants are chosen per user or per request, not per session"
    )
    assert any(str(w).endswith(expected) for w in warnings) == warned
