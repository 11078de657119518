"""Loading ccproxy.yaml + config.yaml: defaults, upstream ccproxy files, and what a broken config says."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from ccproxy_desktop.config.loader import ConfigInvalid, Settings, install_defaults, load_settings
from ccproxy_desktop.config.paths import ConfigPaths, create_private_file
from ccproxy_desktop.pipeline.context import RequestContext
from ccproxy_desktop.pipeline.pipeline import Pipeline, build_pipeline
from ccproxy_desktop.pipeline.rules import MatchModelRule, MatchToolRule, ThinkingRule, TokenCountRule


class FixedTokenCount:
    """A token counter that reports the same count for every request."""

    def __init__(self, count: int = 0) -> None:
        self.count = count

    def exceeds(self, system: Any, tools: Any, messages: Any, threshold: int) -> bool:
        return self.count > threshold

    async def exceeds_async(self, system: Any, tools: Any, messages: Any, threshold: int) -> bool:
        return self.count > threshold


# Upstream ccproxy's README (v1.2) pair, verbatim.
README_CCPROXY = """\
ccproxy:
  debug: true
  oat_sources:
    anthropic: "jq -r '.claudeAiOauth.accessToken' ~/.claude/.credentials.json"
  hooks:
    - ccproxy.hooks.rule_evaluator
    - ccproxy.hooks.model_router
    - ccproxy.hooks.forward_oauth
    - ccproxy.hooks.extract_session_id
  rules:
    - name: token_count
      rule: ccproxy.rules.TokenCountRule
      params:
        - threshold: 60000
    - name: web_search
      rule: ccproxy.rules.MatchToolRule
      params:
        - tool_name: WebSearch
    - name: background
      rule: ccproxy.rules.MatchModelRule
      params:
        - model_name: claude-3-5-haiku-20241022
    - name: think
      rule: ccproxy.rules.ThinkingRule
litellm:
  host: 127.0.0.1
  port: 4000
  num_workers: 4
  debug: true
  detailed_debug: true
"""

README_CONFIG = """\
model_list:
  - model_name: default
    litellm_params:
      model: claude-sonnet-4-5-20250929
  - model_name: think
    litellm_params:
      model: claude-opus-4-5-20251101
  - model_name: background
    litellm_params:
      model: claude-3-5-haiku-20241022
  - model_name: claude-sonnet-4-5-20250929
    litellm_params:
      model: anthropic/claude-sonnet-4-5-20250929
      api_base: https://api.anthropic.com
  - model_name: claude-opus-4-5-20251101
    litellm_params:
      model: anthropic/claude-opus-4-5-20251101
      api_base: https://api.anthropic.com
  - model_name: claude-3-5-haiku-20241022
    litellm_params:
      model: anthropic/claude-3-5-haiku-20241022
      api_base: https://api.anthropic.com
litellm_settings:
  callbacks:
    - ccproxy.handler
general_settings:
  forward_client_headers_to_llm_api: true
"""

# The oldest upstream form: rules named by `label:`, the callback given as a plain string.
E1_CCPROXY = """\
ccproxy:
  debug: false
  hooks:
    - ccproxy.hooks.rule_evaluator
    - ccproxy.hooks.model_router
  rules:
    - label: background
      rule: ccproxy.rules.MatchModelRule
      params:
        - model_name: claude-3-5-haiku
    - label: think
      rule: ccproxy.rules.ThinkingRule
litellm:
  port: 4000
"""

E1_CONFIG = """\
model_list:
  - model_name: default
    litellm_params:
      model: anthropic/claude-sonnet-4-5-20250929
  - model_name: background
    litellm_params:
      model: anthropic/claude-3-5-haiku-20241022
  - model_name: think
    litellm_params:
      model: anthropic/claude-opus-4-5-20251101
litellm_settings:
  callbacks: ccproxy.handler
"""

# Upstream's later template: hook dicts with params, oat_sources objects, keys for features we don't have.
E3_CCPROXY = """\
ccproxy:
  debug: true
  handler: "ccproxy.handler:CCProxyHandler"
  oauth_ttl: 28800
  oauth_refresh_buffer: 0.1
  oat_sources:
    anthropic:
      command: "jq -r '.claudeAiOauth.accessToken' ~/.claude/.credentials.json"
      user_agent: "claude-cli/2.0.14 (external, cli)"
      destinations:
        - "api.anthropic.com"
    gemini:
      command: "jq -r '.access_token' ~/.gemini/oauth_creds.json"
  hooks:
    - ccproxy.hooks.rule_evaluator
    - ccproxy.hooks.model_router
    - hook: ccproxy.hooks.capture_headers
      params:
        headers: [user-agent]
    - ccproxy.hooks.forward_oauth
    - ccproxy.hooks.add_beta_headers
    - ccproxy.hooks.inject_claude_code_identity
  default_model_passthrough: true
  rules:
    - name: think
      rule: ccproxy.rules.ThinkingRule
    - name: background
      rule: ccproxy.rules.MatchModelRule
      params:
        - model_name: haiku
  inspector:
    port: 8083
    capture_bodies: true
  statusline:
    format: "{model}"
litellm:
  host: 127.0.0.1
  port: 4000
  num_workers: 4
"""

SMALL_CONFIG = """\
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
"""


def yaml_lines(*lines: str) -> str:
    return "".join(f"{line}\n" for line in lines)


def write_config(
    config_dir: Path, ccproxy_yaml: str | None, config_yaml: str | None = SMALL_CONFIG
) -> ConfigPaths:
    paths = ConfigPaths(config_dir)
    config_dir.mkdir(parents=True, exist_ok=True)
    if ccproxy_yaml is not None:
        paths.ccproxy_yaml.write_text(ccproxy_yaml, encoding="utf-8")
    if config_yaml is not None:
        paths.litellm_yaml.write_text(config_yaml, encoding="utf-8")
    return paths


def load_and_build(paths: ConfigPaths, count: int = 0) -> tuple[Settings, Pipeline, list[str]]:
    settings = load_settings(paths)
    pipeline, warnings = build_pipeline(settings, FixedTokenCount(count))
    return settings, pipeline, [str(w).removeprefix(f"{paths.config_dir}{os.sep}") for w in warnings]


def rule_table(
    pipeline: Pipeline, expected: list[tuple[str, type, dict[str, Any]]]
) -> list[tuple[str, type, dict[str, Any]]]:
    """The pipeline's rules as (name, class, the params `expected` lists with their values)."""
    assert len(pipeline.env.rules) == len(expected)
    return [
        (name, type(rule), {key: getattr(rule, key, "<missing>") for key in params})
        for (name, rule), (_, _, params) in zip(pipeline.env.rules, expected, strict=True)
    ]


def request(model: str, **fields: Any) -> RequestContext:
    return RequestContext(
        request_id="req-1",
        call_type="anthropic_messages",
        model=model,
        messages=[{"role": "user", "content": "hello"}],
        **fields,
    )


# --- templates and upstream files -----------------------------------------------------------------


def test_default_templates_load_and_build_without_warnings(tmp_path: Path) -> None:
    paths = ConfigPaths(tmp_path / "ccproxy")

    written = install_defaults(paths)
    settings, pipeline, warnings = load_and_build(paths)

    assert written == [paths.ccproxy_yaml, paths.litellm_yaml]
    assert warnings == []
    assert pipeline.hook_names == ("extract_session_id", "rule_evaluator", "model_router", "add_beta_headers")
    assert [name for name, _ in pipeline.env.rules] == ["token_count", "background", "think", "web_search"]
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 4000)
    assert stat.S_IMODE(paths.config_dir.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    ("force", "expected_written", "expected_backup"),
    [
        (False, [], None),
        (True, ["ccproxy.yaml", "config.yaml"], "# my own settings\n"),
    ],
)
def test_install_defaults_keeps_user_files_unless_forced(
    tmp_path: Path, force: bool, expected_written: list[str], expected_backup: str | None
) -> None:
    paths = write_config(tmp_path, "# my own settings\n", "# my models\n")

    written = install_defaults(paths, force=force)

    assert [p.name for p in written] == expected_written
    assert (paths.ccproxy_yaml.read_text() == "# my own settings\n") is (not force)
    backup = paths.ccproxy_yaml.with_name("ccproxy.yaml.bak")
    assert (backup.read_text() if backup.exists() else None) == expected_backup


def test_readme_pair_loads_with_its_rules_hooks_and_server_settings(tmp_path: Path) -> None:
    paths = write_config(tmp_path, README_CCPROXY, README_CONFIG)

    settings, pipeline, warnings = load_and_build(paths)

    expected_rules = [
        ("token_count", TokenCountRule, {"threshold": 60000}),
        ("web_search", MatchToolRule, {"tool_name": "WebSearch"}),
        ("background", MatchModelRule, {"model_name": "claude-3-5-haiku-20241022"}),
        ("think", ThinkingRule, {}),
    ]
    assert rule_table(pipeline, expected_rules) == expected_rules
    assert pipeline.hook_names == ("rule_evaluator", "model_router", "forward_oauth", "extract_session_id")
    assert settings.ccproxy.debug is True
    assert settings.ccproxy.oat_sources["anthropic"].command == (
        "jq -r '.claudeAiOauth.accessToken' ~/.claude/.credentials.json"
    )
    assert (settings.server.num_workers, settings.server.debug, settings.server.detailed_debug) == (
        4,
        True,
        True,
    )
    assert settings.litellm.general_settings == {"forward_client_headers_to_llm_api": True}
    # Two rules have no model of their name: the user is told where their requests go instead.
    assert warnings == [
        "ccproxy.yaml:11: ccproxy.rules[0].name: warning: no model named 'token_count' in config.yaml;"
        " requests it matches go to the `default` model",
        "ccproxy.yaml:15: ccproxy.rules[1].name: warning: no model named 'web_search' in config.yaml;"
        " requests it matches go to the `default` model",
    ]


@pytest.mark.parametrize(
    ("model", "thinking", "expected_label", "expected_model"),
    [
        ("claude-3-5-haiku-20241022", None, "background", "claude-3-5-haiku-20241022"),
        (
            "claude-sonnet-4-5-20250929",
            {"type": "enabled", "budget_tokens": 2048},
            "think",
            "claude-opus-4-5-20251101",
        ),
        ("claude-sonnet-4-5-20250929", None, "default", "claude-sonnet-4-5-20250929"),
    ],
)
async def test_readme_pair_routes_through_its_aliases(
    tmp_path: Path, model: str, thinking: dict[str, Any] | None, expected_label: str, expected_model: str
) -> None:
    paths = write_config(tmp_path, README_CCPROXY, README_CONFIG)
    _, pipeline, _ = load_and_build(paths)
    ctx = request(model, thinking=thinking)

    await pipeline.run(ctx)

    assert (ctx.label, ctx.routed_model) == (expected_label, expected_model)


async def test_e1_form_with_labels_and_string_callback_loads(tmp_path: Path) -> None:
    paths = write_config(tmp_path, E1_CCPROXY, E1_CONFIG)

    settings, pipeline, warnings = load_and_build(paths)
    ctx = request("claude-3-5-haiku-20241022")
    await pipeline.run(ctx)

    assert warnings == []
    expected_rules = [
        ("background", MatchModelRule, {"model_name": "claude-3-5-haiku"}),
        ("think", ThinkingRule, {}),
    ]
    assert rule_table(pipeline, expected_rules) == expected_rules
    assert (ctx.label, ctx.routed_model) == ("background", "background")
    assert settings.litellm.litellm_settings["callbacks"] == "ccproxy.handler"


async def test_e3_template_form_loads_and_reports_ignored_upstream_keys(tmp_path: Path) -> None:
    paths = write_config(tmp_path, E3_CCPROXY)

    settings, pipeline, warnings = load_and_build(paths)
    ctx = request(
        "claude-haiku-4-5", headers={"user-agent": "claude-cli/2.0.14", "x-api-key": "sk-ant-api03-x"}
    )
    await pipeline.run(ctx)

    assert pipeline.hook_names == (
        "rule_evaluator",
        "model_router",
        "capture_headers",
        "forward_oauth",
        "add_beta_headers",
        "inject_claude_code_identity",
    )
    expected_rules = [
        ("think", ThinkingRule, {}),
        ("background", MatchModelRule, {"model_name": "haiku"}),
    ]
    assert rule_table(pipeline, expected_rules) == expected_rules
    anthropic = settings.ccproxy.oat_sources["anthropic"]
    assert (anthropic.user_agent, anthropic.destinations) == (
        "claude-cli/2.0.14 (external, cli)",
        ("api.anthropic.com",),
    )
    assert (
        settings.ccproxy.oat_sources["gemini"].command == "jq -r '.access_token' ~/.gemini/oauth_creds.json"
    )
    assert settings.ccproxy.handler == "ccproxy_desktop.proxy.handler:CCProxyHandler"
    assert settings.ccproxy.ignored_upstream_keys == (
        "inspector",
        "oauth_refresh_buffer",
        "oauth_ttl",
        "statusline",
    )
    # capture_headers kept only the header its params name.
    assert ctx.captured_headers == {"user-agent": "claude-cli/2.0.14"}
    ignored = "warning: upstream key with no meaning in ccproxy-desktop; ignored"
    assert warnings == [
        f"ccproxy.yaml:31: ccproxy.inspector: {ignored}",
        f"ccproxy.yaml:5: ccproxy.oauth_refresh_buffer: {ignored}",
        f"ccproxy.yaml:4: ccproxy.oauth_ttl: {ignored}",
        f"ccproxy.yaml:34: ccproxy.statusline: {ignored}",
    ]


@pytest.mark.parametrize(
    ("section", "expected_command", "expected_warning"),
    [
        (
            "ccproxy:\n  debug: false\n  credentials: cat ~/.anthropic-token\n",
            "cat ~/.anthropic-token",
            "3: ccproxy.credentials: warning: deprecated; use oat_sources.anthropic (same meaning)",
        ),
        (
            "ccproxy:\n  oat_sources:\n    anthropic: cat ~/new-token\n  credentials: cat ~/old-token\n",
            "cat ~/new-token",
            "4: ccproxy.credentials: warning: deprecated; ignored because oat_sources.anthropic is set",
        ),
    ],
)
def test_deprecated_credentials_key_maps_to_oat_sources(
    tmp_path: Path, section: str, expected_command: str, expected_warning: str
) -> None:
    paths = write_config(tmp_path, section)

    settings, _, warnings = load_and_build(paths)

    assert settings.ccproxy.oat_sources["anthropic"].command == expected_command
    assert warnings == [f"ccproxy.yaml:{expected_warning}"]


V2_CCPROXY = """\
ccproxy:
  hooks:
    inbound:
      - ccproxy.hooks.extract_session_id
      - ccproxy.hooks.rule_evaluator
      - ccproxy.hooks.verbose_mode
      - ccproxy.hooks.model_router
    outbound:
      - ccproxy.hooks.forward_oauth
      - ccproxy.hooks.inject_mcp_notifications
"""


def test_v2_inbound_outbound_hooks_run_as_one_list_without_unsupported_hooks(tmp_path: Path) -> None:
    paths = write_config(tmp_path, V2_CCPROXY)

    _, pipeline, warnings = load_and_build(paths)

    assert pipeline.hook_names == ("extract_session_id", "rule_evaluator", "model_router", "forward_oauth")
    assert warnings == [
        "ccproxy.yaml:2: ccproxy.hooks: warning: inbound/outbound hook lists are run as one list, in order",
        "ccproxy.yaml:6: ccproxy.hooks.inbound[2]: warning: upstream hook ccproxy.hooks.verbose_mode "
        "has no equivalent here and is skipped",
        "ccproxy.yaml:10: ccproxy.hooks.outbound[1]: warning: upstream hook "
        "ccproxy.hooks.inject_mcp_notifications has no equivalent here and is skipped",
    ]


@pytest.mark.parametrize(
    ("section", "expected_where"),
    [
        pytest.param(
            yaml_lines(
                "ccproxy:",
                "  hooks:",
                "    inbound:",
                "      - ccproxy.hooks.verbose_mode",
                "      - ccproxy.hooks.model_router",
                "    outbound:",
                "      - ccproxy.hooks.rule_evaluator",
            ),
            (5, "ccproxy.hooks.inbound[1]"),
            id="v2-lists",
        ),
        pytest.param(
            yaml_lines(
                "ccproxy:",
                "  hooks:",
                "    - ccproxy.hooks.verbose_mode",
                "    - model_router",
                "    - rule_evaluator",
            ),
            (4, "ccproxy.hooks[1]"),
            id="after-a-skipped-hook",
        ),
    ],
)
def test_hook_errors_point_at_the_hook_as_written_after_upstream_rewrites(
    tmp_path: Path, section: str, expected_where: tuple[int, str]
) -> None:
    paths = write_config(tmp_path, section)

    with pytest.raises(ConfigInvalid) as caught:
        load_and_build(paths)

    line, key = expected_where
    assert [str(i) for i in caught.value.issues] == [
        f"{paths.ccproxy_yaml}:{line}: {key}: hook model_router needs 'classify' first:"
        " move it after rule_evaluator"
    ]


# --- errors -----------------------------------------------------------------------------------------


BAD_CONFIGS = [
    pytest.param(
        yaml_lines(
            "ccproxy:",
            "  debug: true",
            "  rules:",
            "    - name: think",
            "      rule: ThinkingRule",
            "     params: {}",
        ),
        SMALL_CONFIG,
        [
            (
                "ccproxy.yaml",
                6,
                "(top level)",
                "invalid YAML: expected <block end>, but found '<block mapping start>'",
            )
        ],
        id="yaml-syntax",
    ),
    pytest.param(
        yaml_lines("ccproxy:", "  hooks: [rule_evaluator, model_router", "litellm:", "  port: 4000"),
        SMALL_CONFIG,
        [("ccproxy.yaml", 3, "(top level)", "invalid YAML: expected ',' or ']', but got ':'")],
        id="yaml-unclosed-list",
    ),
    pytest.param(
        yaml_lines("ccproxy:", "  debug: true", "  defualt_model_passthrough: false"),
        SMALL_CONFIG,
        [
            (
                "ccproxy.yaml",
                3,
                "ccproxy.defualt_model_passthrough",
                "unknown key (did you mean 'default_model_passthrough'?)",
            )
        ],
        id="typo-did-you-mean",
    ),
    pytest.param(
        yaml_lines("litellm:", "  host: 127.0.0.1", '  port: "abc"', "ccproxy: {}"),
        SMALL_CONFIG,
        [
            (
                "ccproxy.yaml",
                3,
                "litellm.port",
                "Input should be a valid integer, unable to parse string as an integer",
            )
        ],
        id="wrong-type",
    ),
    pytest.param(
        yaml_lines("ccproxy: {}", "litelm:", "  port: 4000"),
        SMALL_CONFIG,
        [("ccproxy.yaml", 2, "litelm", "unknown section (did you mean 'litellm'?)")],
        id="unknown-section",
    ),
    pytest.param(
        yaml_lines("ccproxy:", "  budgets:", "    - name: daily", "      limt_usd: 5"),
        SMALL_CONFIG,
        [
            ("ccproxy.yaml", 3, "ccproxy.budgets[0].limit_usd", "required key is missing"),
            ("ccproxy.yaml", 4, "ccproxy.budgets[0].limt_usd", "unknown key (did you mean 'limit_usd'?)"),
        ],
        id="nested-typo",
    ),
    pytest.param(
        yaml_lines(
            "litellm:", "  port: 0", "  num_worker: 2", "ccproxy:", "  defualt_model_passthrough: false"
        ),
        SMALL_CONFIG,
        [
            ("ccproxy.yaml", 2, "litellm.port", "Input should be greater than or equal to 1"),
            ("ccproxy.yaml", 3, "litellm.num_worker", "unknown key (did you mean 'num_workers'?)"),
            (
                "ccproxy.yaml",
                5,
                "ccproxy.defualt_model_passthrough",
                "unknown key (did you mean 'default_model_passthrough'?)",
            ),
        ],
        id="every-issue-at-once",
    ),
    pytest.param(
        yaml_lines("ccproxy:", "  rules:", "    - name: think", "      rule: my_rules.LongContextRule"),
        SMALL_CONFIG,
        [
            (
                "ccproxy.yaml",
                4,
                "ccproxy.rules[0].rule",
                "can't import module 'my_rules': No module named 'my_rules'",
            )
        ],
        id="rule-module-missing",
    ),
    pytest.param(
        yaml_lines("ccproxy:", "  rules:", "    - name: think", "      rule: ccproxy.rules.ThinkRule"),
        SMALL_CONFIG,
        [
            (
                "ccproxy.yaml",
                4,
                "ccproxy.rules[0].rule",
                "module 'ccproxy_desktop.pipeline.rules' has no attribute 'ThinkRule'",
            )
        ],
        id="rule-class-missing",
    ),
    pytest.param(
        yaml_lines("ccproxy:", "  rules:", "    - name: think", "      rule: Thinking"),
        SMALL_CONFIG,
        [
            (
                "ccproxy.yaml",
                4,
                "ccproxy.rules[0].rule",
                "no built-in named 'Thinking' "
                "(built-ins: DefaultRule, MatchModelRule, MatchToolRule, ThinkingRule, TokenCountRule)",
            )
        ],
        id="rule-builtin-missing",
    ),
    pytest.param(
        yaml_lines("ccproxy:", "  rules:", "    - name: think"),
        SMALL_CONFIG,
        [("ccproxy.yaml", 3, "ccproxy.rules[0].rule", "required key is missing")],
        id="rule-without-class",
    ),
    pytest.param(
        yaml_lines(
            "ccproxy:",
            "  rules:",
            "    - name: think",
            "      rule: TokenCountRule",
            "      params:",
            "        - limit: 3",
        ),
        SMALL_CONFIG,
        [
            (
                "ccproxy.yaml",
                5,
                "ccproxy.rules[0].params",
                "params don't fit (missing a required argument: 'threshold'); expected: threshold",
            )
        ],
        id="threshold-missing",
    ),
    pytest.param(
        yaml_lines(
            "ccproxy:",
            "  rules:",
            "    - name: think",
            "      rule: TokenCountRule",
            "      params:",
            "        - threshold: 5",
            "        - limit: 3",
        ),
        SMALL_CONFIG,
        [
            (
                "ccproxy.yaml",
                5,
                "ccproxy.rules[0].params",
                "params don't fit (got an unexpected keyword argument 'limit'); expected: threshold",
            )
        ],
        id="unknown-param",
    ),
    pytest.param(
        yaml_lines(
            "ccproxy:",
            "  rules:",
            "    - name: think",
            "      rule: TokenCountRule",
            "      params:",
            "        - threshold: -5",
        ),
        SMALL_CONFIG,
        [("ccproxy.yaml", 5, "ccproxy.rules[0].params", "threshold must be a non-negative integer, got -5")],
        id="param-value-refused-by-rule",
    ),
    pytest.param(
        yaml_lines(
            "ccproxy:",
            "  rules:",
            "    - name: think",
            "      rule: ThinkingRule",
            "    - name: think",
            "      rule: ThinkingRule",
        ),
        SMALL_CONFIG,
        [("ccproxy.yaml", 5, "ccproxy.rules[1].name", "rule name 'think' is used more than once")],
        id="duplicate-rule-name",
    ),
    pytest.param(
        yaml_lines(
            "ccproxy:",
            "  rules:",
            "    - label: think",
            "      rule: ThinkingRule",
            "    - label: think",
            "      rule: ThinkingRule",
        ),
        SMALL_CONFIG,
        [("ccproxy.yaml", 5, "ccproxy.rules[1].label", "rule name 'think' is used more than once")],
        id="duplicate-rule-label",
    ),
    pytest.param(
        yaml_lines("ccproxy:", "  hooks:", "    - rule_evaluator", "    - ccproxy.hooks.route_by_moon_phase"),
        SMALL_CONFIG,
        [
            (
                "ccproxy.yaml",
                4,
                "ccproxy.hooks[1]",
                "module 'ccproxy_desktop.pipeline.hooks' has no attribute 'route_by_moon_phase'",
            )
        ],
        id="hook-missing",
    ),
    pytest.param(
        yaml_lines(
            "ccproxy:",
            "  hooks:",
            "    - hook: capture_headers",
            "      params:",
            "        only: [user-agent]",
        ),
        SMALL_CONFIG,
        [
            (
                "ccproxy.yaml",
                4,
                "ccproxy.hooks[0].params",
                "params don't fit (got an unexpected keyword argument 'only'); expected: headers",
            )
        ],
        id="hook-params",
    ),
    pytest.param(
        yaml_lines(
            "ccproxy:", "  hooks:", "    - extract_session_id", "    - model_router", "    - rule_evaluator"
        ),
        SMALL_CONFIG,
        [
            (
                "ccproxy.yaml",
                4,
                "ccproxy.hooks[1]",
                "hook model_router needs 'classify' first: move it after rule_evaluator",
            )
        ],
        id="hook-order",
    ),
    pytest.param(
        yaml_lines(
            "ccproxy:",
            "  hooks:",
            "    - rule_evaluator",
            "    - model_router",
            "    - inject_claude_code_identity",
        ),
        SMALL_CONFIG,
        [
            (
                "ccproxy.yaml",
                5,
                "ccproxy.hooks[2]",
                "hook inject_claude_code_identity needs 'credentials' first: "
                "add a hook that provides it (e.g. forward_oauth)",
            )
        ],
        id="hook-requirement-never-provided",
    ),
    pytest.param(
        yaml_lines("ccproxy:", "  oat_sources:", "    anthropic:", "      command: '  '"),
        SMALL_CONFIG,
        [("ccproxy.yaml", 3, "ccproxy.oat_sources.anthropic", "Value error, command is empty")],
        id="empty-oat-command",
    ),
    pytest.param(
        yaml_lines("ccproxy:", "  debug: false", "  credentials: ''"),
        SMALL_CONFIG,
        [("ccproxy.yaml", 3, "ccproxy.credentials", "Value error, command is empty")],
        id="empty-deprecated-credentials",
    ),
    pytest.param(
        yaml_lines("ccproxy:", "  retry_enabled: true", "  retry_fallback_model: claude-backup"),
        SMALL_CONFIG,
        [
            (
                "ccproxy.yaml",
                3,
                "ccproxy.retry_fallback_model",
                "no model named 'claude-backup' in config.yaml",
            )
        ],
        id="fallback-model-missing",
    ),
    pytest.param(
        yaml_lines("ccproxy: {}"),
        yaml_lines("litellm_settings:", "  drop_params: true"),
        [("config.yaml", 1, "model_list", "no models: add at least one model_list entry")],
        id="no-model-list",
    ),
    pytest.param(
        yaml_lines("ccproxy: {}"),
        yaml_lines("model_list:", "  - litellm_params:", "      model: anthropic/claude-sonnet-4-5"),
        [("config.yaml", 2, "model_list[0].model_name", "required key is missing")],
        id="model-without-name",
    ),
    pytest.param(
        yaml_lines("- ccproxy", "- litellm"),
        SMALL_CONFIG,
        [
            (
                "ccproxy.yaml",
                1,
                "(top level)",
                "the file must be a mapping with `ccproxy:` and `litellm:` sections",
            )
        ],
        id="not-a-mapping",
    ),
    pytest.param(
        None,
        SMALL_CONFIG,
        [("ccproxy.yaml", 1, "(top level)", "file not found (run `ccproxy install`)")],
        id="missing-ccproxy-yaml",
    ),
    pytest.param(
        yaml_lines("ccproxy: {}"),
        None,
        [("config.yaml", 1, "(top level)", "file not found (run `ccproxy install`)")],
        id="missing-config-yaml",
    ),
]


@pytest.mark.parametrize(("ccproxy_yaml", "config_yaml", "expected"), BAD_CONFIGS)
def test_broken_config_is_refused_naming_file_line_and_key(
    tmp_path: Path,
    ccproxy_yaml: str | None,
    config_yaml: str | None,
    expected: list[tuple[str, int, str, str]],
) -> None:
    paths = write_config(tmp_path, ccproxy_yaml, config_yaml)

    with pytest.raises(ConfigInvalid) as caught:
        load_and_build(paths)

    wanted = [f"{tmp_path / file}:{line}: {key}: {message}" for file, line, key, message in expected]
    assert [str(issue) for issue in caught.value.issues] == wanted
    assert str(caught.value) == "\n".join(wanted)


@pytest.mark.parametrize(
    ("config_yaml", "expected_destination"),
    [
        (SMALL_CONFIG, "the `default` model"),
        (
            SMALL_CONFIG.replace("model_name: default", "model_name: sonnet"),
            "the requested model (no `default` model)",
        ),
    ],
)
def test_rule_without_a_model_is_a_warning_saying_where_requests_go(
    tmp_path: Path, config_yaml: str, expected_destination: str
) -> None:
    section = (
        "ccproxy:\n  rules:\n    - name: think\n      rule: ThinkingRule\n    - name: web_search\n"
        "      rule: MatchToolRule\n      params:\n        - tool_name: WebSearch\n"
    )
    paths = write_config(tmp_path, section, config_yaml)

    _, pipeline, warnings = load_and_build(paths)

    assert [name for name, _ in pipeline.env.rules] == ["think", "web_search"]
    assert warnings == [
        "ccproxy.yaml:5: ccproxy.rules[1].name: warning: no model named 'web_search' in config.yaml;"
        f" requests it matches go to {expected_destination}"
    ]


def test_rule_named_like_a_wildcard_model_has_no_warning(tmp_path: Path) -> None:
    config_yaml = (
        SMALL_CONFIG + '  - model_name: "claude-*"\n    litellm_params:\n      model: "anthropic/claude-*"\n'
    )
    section = "ccproxy:\n  rules:\n    - name: claude-opus-4-5\n      rule: ThinkingRule\n"
    paths = write_config(tmp_path, section, config_yaml)

    _, _, warnings = load_and_build(paths)

    assert warnings == []


# --- paths ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "{home}/.ccproxy"),
        ({"CCPROXY_CONFIG_DIR": ""}, "{home}/.ccproxy"),
        ({"CCPROXY_CONFIG_DIR": "~/work/proxy-config"}, "{home}/work/proxy-config"),
        ({"CCPROXY_CONFIG_DIR": "/srv/ccproxy"}, "/srv/ccproxy"),
    ],
)
def test_config_dir_comes_from_environment_or_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, environ: dict[str, str], expected: str
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))

    paths = ConfigPaths.from_env(environ)

    assert paths.config_dir == Path(expected.format(home=tmp_path))
    assert paths.ccproxy_yaml == paths.config_dir / "ccproxy.yaml"
    assert paths.litellm_yaml == paths.config_dir / "config.yaml"


@pytest.mark.parametrize("existing_mode", [None, 0o644, 0o666])
def test_create_private_file_is_readable_only_by_its_owner(tmp_path: Path, existing_mode: int | None) -> None:
    target = tmp_path / "private" / "master.key"
    if existing_mode is not None:
        target.parent.mkdir()
        target.write_text("old secret")
        target.chmod(existing_mode)

    create_private_file(target, "sk-proxy-secret")

    assert target.read_text() == "sk-proxy-secret"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["master.key"]
