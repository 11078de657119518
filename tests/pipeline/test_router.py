"""Which model_name serves a request, and how the live model list is (re)read."""

from __future__ import annotations

from collections.abc import Collection

import pytest

from ccproxy_desktop.pipeline.router import CatalogUnavailable, ModelChoice, ModelRouter, Route, StaticCatalog

# The default template's model list.
DEFAULT_NAMES = StaticCatalog(("default", "background", "think", "token_count", "web_search", "claude-*"))
# Upstream's README model list: three names that only rename the entries holding the endpoints.
README_NAMES = StaticCatalog(
    (
        "default",
        "think",
        "background",
        "claude-sonnet-4-5-20250929",
        "claude-opus-4-5-20251101",
        "claude-3-5-haiku-20241022",
    )
)
README_ALIASES = {
    "default": "claude-sonnet-4-5-20250929",
    "think": "claude-opus-4-5-20251101",
    "background": "claude-3-5-haiku-20241022",
}
NO_DEFAULT = StaticCatalog(("think", "claude-*"))


@pytest.mark.parametrize(
    ("catalog", "aliases", "label", "requested", "passthrough", "override", "expected"),
    [
        pytest.param(
            DEFAULT_NAMES,
            {},
            "think",
            "claude-sonnet-4-5",
            True,
            None,
            Route("think", "rule think"),
            id="rule-model",
        ),
        pytest.param(
            StaticCatalog(("default", "think")),
            {},
            "web_search",
            "claude-sonnet-4-5",
            True,
            None,
            Route("default", "rule web_search (no model 'web_search'; default)"),
            id="rule-without-model-goes-default",
        ),
        pytest.param(
            NO_DEFAULT,
            {},
            "web_search",
            "claude-sonnet-4-5",
            False,
            None,
            Route("claude-sonnet-4-5", "passthrough"),
            id="rule-without-model-nor-default-keeps-requested",
        ),
        pytest.param(
            DEFAULT_NAMES,
            {},
            "default",
            "claude-sonnet-4-5-20250929",
            True,
            None,
            Route("claude-sonnet-4-5-20250929", "passthrough"),
            id="passthrough-via-wildcard",
        ),
        pytest.param(
            DEFAULT_NAMES,
            {},
            None,
            "claude-opus-4-1",
            True,
            None,
            Route("claude-opus-4-1", "passthrough"),
            id="no-label-passthrough",
        ),
        pytest.param(
            DEFAULT_NAMES,
            {},
            "default",
            "claude-sonnet-4-5-20250929",
            False,
            None,
            Route("default", "default"),
            id="passthrough-off",
        ),
        pytest.param(
            DEFAULT_NAMES, {}, "default", "gpt-5", True, None, Route("gpt-5", "unknown"), id="unknown-model"
        ),
        pytest.param(
            NO_DEFAULT,
            {},
            "default",
            "gpt-5",
            False,
            None,
            Route("gpt-5", "unknown"),
            id="unknown-without-default",
        ),
        pytest.param(
            DEFAULT_NAMES,
            {},
            "default",
            "claude-sonnet-4-5",
            True,
            "think",
            Route("think", "override think", by_override=True),
            id="override-serves-unmatched",
        ),
        pytest.param(
            DEFAULT_NAMES,
            {},
            "background",
            "claude-haiku-4-5",
            True,
            "think",
            Route("background", "rule background"),
            id="rule-beats-override",
        ),
        pytest.param(
            DEFAULT_NAMES,
            {},
            "default",
            "claude-sonnet-4-5",
            True,
            "removed-model",
            Route("claude-sonnet-4-5", "passthrough"),
            id="override-of-a-missing-model-ignored",
        ),
        pytest.param(
            README_NAMES,
            README_ALIASES,
            "think",
            "claude-sonnet-4-5-20250929",
            True,
            None,
            Route("claude-opus-4-5-20251101", "rule think"),
            id="alias-rule",
        ),
        pytest.param(
            README_NAMES,
            README_ALIASES,
            "default",
            "claude-3-5-haiku-20241022",
            False,
            None,
            Route("claude-sonnet-4-5-20250929", "default"),
            id="alias-default",
        ),
        pytest.param(
            README_NAMES,
            README_ALIASES,
            "token_count",
            "claude-opus-4-5-20251101",
            True,
            None,
            Route("claude-sonnet-4-5-20250929", "rule token_count (no model 'token_count'; default)"),
            id="alias-default-for-rule-without-model",
        ),
        pytest.param(
            README_NAMES,
            README_ALIASES,
            "default",
            "claude-3-5-haiku-20241022",
            True,
            "think",
            Route("claude-opus-4-5-20251101", "override think", by_override=True),
            id="alias-override",
        ),
        pytest.param(
            StaticCatalog(("default", "claude-*")),
            {"default": "anthropic/claude-sonnet-4-5"},
            "default",
            "gpt-4o",
            False,
            None,
            Route("default", "default"),
            id="alias-target-not-served-stays",
        ),
        pytest.param(
            StaticCatalog(("default", "fast", "slow")),
            {"default": "fast", "fast": "slow", "slow": "fast"},
            "default",
            "gpt-4o",
            False,
            None,
            Route("slow", "default"),
            id="alias-cycle-stops",
        ),
    ],
)
def test_route_table(
    catalog: StaticCatalog,
    aliases: dict[str, str],
    label: str | None,
    requested: str,
    passthrough: bool,
    override: str | None,
    expected: Route,
) -> None:
    router = ModelRouter(catalog, aliases)

    choice = ModelChoice(override) if override is not None else None
    assert router.route(label, requested, passthrough, choice) == expected


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ScriptedCatalog:
    """A live model list whose reads return (or raise) the scripted answers in turn; the last one repeats."""

    def __init__(self, *answers: Collection[str] | Exception) -> None:
        self.answers = list(answers)
        self.reads = 0

    def model_names(self) -> Collection[str]:
        self.reads += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


STARTING = CatalogUnavailable("router not ready")

# Each step: (seconds since start, model asked about, known?, catalog reads so far, list loaded?)
Step = tuple[float, str, bool, int, bool]


@pytest.mark.parametrize(
    ("answers", "steps"),
    [
        pytest.param(
            [STARTING, STARTING, ("default", "think")],
            [
                (0.0, "default", False, 1, False),
                (1.0, "default", False, 1, False),
                (4.9, "default", False, 1, False),
                (5.0, "default", False, 2, False),
                (10.0, "default", True, 3, True),
                (11.0, "think", True, 3, True),
            ],
            id="unavailable-then-ready",
        ),
        pytest.param(
            [(), ("default",)],
            [
                (0.0, "default", False, 1, False),
                (3.0, "default", False, 1, False),
                (5.0, "default", True, 2, True),
            ],
            id="empty-list-is-not-loaded",
        ),
        pytest.param(
            [("default",), ("default", "claude-opus-4-5")],
            [
                (0.0, "default", True, 1, True),
                (1.0, "claude-opus-4-5", False, 1, True),
                (2.0, "default", True, 1, True),
                (5.0, "claude-opus-4-5", True, 2, True),
                (6.0, "claude-opus-4-5", True, 2, True),
            ],
            id="miss-reloads-after-cooldown",
        ),
        pytest.param(
            [("default",), STARTING],
            [
                (0.0, "default", True, 1, True),
                (6.0, "gpt-4o", False, 2, True),
                (7.0, "default", True, 2, True),
            ],
            id="failed-reload-keeps-known-list",
        ),
    ],
)
def test_model_list_is_reread_at_most_every_five_seconds(
    answers: list[Collection[str] | Exception], steps: list[Step]
) -> None:
    clock = FakeClock()
    catalog = ScriptedCatalog(*answers)
    router = ModelRouter(catalog, clock=clock)
    start = clock.now

    observed = []
    for at, name, *_ in steps:
        clock.now = start + at
        known = router.knows(name)
        observed.append((at, name, known, catalog.reads, router.loaded))

    assert observed == [tuple(step) for step in steps]


def test_route_while_the_model_list_is_unavailable_keeps_the_requested_model() -> None:
    router = ModelRouter(ScriptedCatalog(STARTING), clock=FakeClock())

    assert router.route("think", "claude-sonnet-4-5", False) == Route("claude-sonnet-4-5", "unknown")
    assert router.names() == []


def test_names_lists_the_served_models_sorted() -> None:
    router = ModelRouter(DEFAULT_NAMES)

    assert list(router.names()) == ["background", "claude-*", "default", "think", "token_count", "web_search"]


@pytest.mark.parametrize(
    ("label", "force_all", "expected"),
    [
        ("background", False, Route("background", "rule background")),
        ("background", True, Route("think", "override think (all requests)", by_override=True)),
        ("default", True, Route("think", "override think (all requests)", by_override=True)),
    ],
)
def test_force_all_overrides_rule_routes_too(label: str, force_all: bool, expected: Route) -> None:
    router = ModelRouter(DEFAULT_NAMES)
    assert router.route(label, "claude-haiku-4-5", True, ModelChoice("think", force_all)) == expected
