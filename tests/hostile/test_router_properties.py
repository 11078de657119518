"""The router on any model list, alias graph (cycles included), label, requested model and switch."""

from __future__ import annotations

from collections.abc import Collection

from hypothesis import example, given
from hypothesis import strategies as st

from ccproxy_desktop.pipeline.router import CatalogUnavailable, ModelChoice, ModelRouter, StaticCatalog

_names = st.sampled_from(["default", "background", "think", "claude-*", "*", "gpt-?", "[a-", ""]) | st.text(
    max_size=12
)


class FlakyCatalog:
    """A live model list that is unavailable for the first `failures` reads (LiteLLM still starting)."""

    def __init__(self, names: tuple[str, ...], failures: int) -> None:
        self.names = names
        self.failures = failures

    def model_names(self) -> Collection[str]:
        if self.failures > 0:
            self.failures -= 1
            raise CatalogUnavailable("starting")
        return self.names


@given(
    names=st.lists(_names, max_size=6),
    aliases=st.dictionaries(_names, _names, max_size=5),
    label=st.none() | _names,
    requested=_names,
    passthrough=st.booleans(),
    override=st.none() | st.builds(ModelChoice, _names, st.booleans()),
    failures=st.integers(0, 2),
)
@example(
    names=["a", "b"],
    aliases={"default": "a", "a": "b", "b": "default"},
    label="a",
    requested="x",
    passthrough=False,
    override=None,
    failures=0,
)
@example(names=["[a-"], aliases={}, label="[a-", requested="[a-", passthrough=True, override=None, failures=0)
def test_route_is_always_a_served_model_or_the_requested_one(
    names: list[str],
    aliases: dict[str, str],
    label: str | None,
    requested: str,
    passthrough: bool,
    override: ModelChoice | None,
    failures: int,
) -> None:
    catalog = FlakyCatalog(tuple(names), failures) if failures else StaticCatalog(tuple(names))
    router = ModelRouter(catalog, aliases, clock=lambda: 0.0, reload_cooldown=0.0)
    for _ in range(failures + 1):
        route = router.route(label, requested, passthrough, override)
        assert route.reason
        assert route.model == requested or router.knows(route.model)
    # The requested model is kept as such only when nothing else applies: passthrough, or no default served.
    if route.reason in ("passthrough", "unknown"):
        assert passthrough or not router.knows("default")
