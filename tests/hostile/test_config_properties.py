"""The config loader on hostile files: any text and any YAML structure in either file gives complete
`Settings` or `ConfigInvalid` whose every issue names file, line and key, never another exception. The
same holds for building the pipeline from what loaded (import paths, rule and hook params)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from ccproxy_desktop.config.loader import ConfigInvalid, install_defaults, load_settings
from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.pipeline.pipeline import build_pipeline
from ccproxy_desktop.pipeline.tokens import TokenCounter
from ccproxy_desktop.testing.strategies import mutated, yaml_values

ISSUE_LINE = re.compile(r"^(?P<file>/.+\.yaml):(?P<line>\d+): (?P<key>.+?): (?P<message>.+)$", re.S)
COUNTER = TokenCounter()

BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)
HOSTILE_TEXTS = [
    "1: x\nfoo: y\n",  # non-string and unknown top-level keys (sorted() used to raise TypeError)
    "a: &a [*a]\n",  # a list that contains itself (used to raise RecursionError)
    "ccproxy: &c {rules: *c}\n",
    "[" * 5000 + "]" * 5000,  # deeper than PyYAML's recursive composer (used to raise RecursionError)
    BILLION_LAUGHS,  # 9**9 paths when aliases are expanded (used to walk them all)
    "\x00",
    "!!python/object/apply:os.system [echo hi]\n",
    "ccproxy:\n  hooks: [{hook: capture_headers, params: {headers: 5}}]\n",
    "ccproxy:\n  hooks: [':x', '.x', 'x.', '..']\n",
    "ccproxy:\n  rules: [{name: a, rule: ':Rule'}, {name: b, rule: '.x.Y'}]\n",
]


@pytest.fixture(scope="module")
def defaults(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    paths = ConfigPaths(tmp_path_factory.mktemp("defaults"))
    install_defaults(paths)
    return yaml.safe_load(paths.ccproxy_yaml.read_text()), yaml.safe_load(paths.litellm_yaml.read_text())


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> ConfigPaths:
    paths = ConfigPaths(tmp_path_factory.mktemp("cfg"))
    install_defaults(paths)
    return paths


def _load_and_build(paths: ConfigPaths) -> None:
    """What `ccproxy validate` and the proxy's start do; only ConfigInvalid may come out."""
    try:
        build_pipeline(load_settings(paths), COUNTER)
    except ConfigInvalid as exc:
        assert exc.issues
        for issue in exc.issues:
            text = str(issue)
            assert ISSUE_LINE.match(text), text
            assert issue.file in (paths.ccproxy_yaml, paths.litellm_yaml) and issue.line >= 1


def _write(paths: ConfigPaths, ccproxy: str | None = None, litellm: str | None = None) -> None:
    install_defaults(paths, force=True)
    if ccproxy is not None:
        paths.ccproxy_yaml.write_text(ccproxy, encoding="utf-8")
    if litellm is not None:
        paths.litellm_yaml.write_text(litellm, encoding="utf-8")


@pytest.mark.parametrize("text", HOSTILE_TEXTS, ids=range(len(HOSTILE_TEXTS)))
@pytest.mark.parametrize("which", ["ccproxy", "litellm"])
def test_hostile_files_are_reported_as_config_issues(paths: ConfigPaths, which: str, text: str) -> None:
    _write(paths, **{which: text})
    with pytest.raises(ConfigInvalid):
        _load_and_build(paths)
        raise ConfigInvalid([])  # loading must not succeed on any of these


@given(text=st.text(max_size=300), which=st.sampled_from(["ccproxy", "litellm"]))
@example(text="ccproxy: {oat_sources: {anthropic: {command: ''}}}", which="ccproxy")
@example(text="? [a, b]\n: c\n", which="litellm")
def test_any_text_loads_or_is_refused_with_issues(paths: ConfigPaths, text: str, which: str) -> None:
    _write(paths, **{which: text})
    _load_and_build(paths)


@given(ccproxy=yaml_values, litellm=st.none() | yaml_values)
def test_any_yaml_structure_loads_or_is_refused_with_issues(
    paths: ConfigPaths, ccproxy: Any, litellm: Any
) -> None:
    _write(paths, yaml.safe_dump(ccproxy), None if litellm is None else yaml.safe_dump(litellm))
    _load_and_build(paths)


@given(data=st.data())
def test_defaults_with_junk_anywhere_load_or_are_refused_with_issues(
    paths: ConfigPaths, defaults: tuple[Any, Any], data: st.DataObject
) -> None:
    ccproxy, litellm = defaults
    if data.draw(st.booleans()):
        ccproxy = data.draw(mutated(ccproxy))
    else:
        litellm = data.draw(mutated(litellm))
    _write(paths, yaml.safe_dump(ccproxy), yaml.safe_dump(litellm))
    _load_and_build(paths)


def test_yaml_anchors_and_merge_keys_still_load(paths: ConfigPaths, defaults: tuple[Any, Any]) -> None:
    """Sharing a node through an alias (and `<<:` merges) is ordinary YAML that configs use."""
    litellm = (
        "common: &common {api_base: 'http://127.0.0.1:9', api_key: k}\n"
        "model_list:\n"
        "  - model_name: default\n"
        "    litellm_params: {<<: *common, model: anthropic/a}\n"
        "  - model_name: other\n"
        "    litellm_params: {<<: *common, model: anthropic/b}\n"
    )
    _write(paths, litellm=litellm)
    settings = load_settings(paths)
    assert [m.litellm_params["api_base"] for m in settings.litellm.model_list] == ["http://127.0.0.1:9"] * 2
