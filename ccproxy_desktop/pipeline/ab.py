"""A/B tests: which variant model serves a request, sticky per Claude Code session, with no stored state.

A test (`ab_tests:` in ccproxy.yaml) names a rule label and weighted variants (model_names of config.yaml).
A request with that label is assigned by hashing (test name, stickiness key) to a number in [0, 1) and picking
the variant whose cumulative weight share covers it. The hash is SHA-256, not Python's salted `hash()`, so
every worker and every restart assigns a session to the same variant.

The stickiness key is the session id (set by `extract_session_id`); without one, the user; without one, the
request id (each such request is assigned on its own: not sticky).

Pure: no I/O; `check_ab_tests` reports config problems through the settings' issue mechanism.
"""

from __future__ import annotations

import bisect
import fnmatch
import hashlib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..config.loader import Settings
from ..config.schema import ABTestSpec, ABVariantSpec
from ..config.yamlsrc import ConfigIssue
from .context import RequestContext
from .router import ModelRouter, Route

__all__ = ["ABTests", "Assignment", "bucket", "check_ab_tests", "stickiness_key"]


@dataclass(frozen=True)
class Assignment:
    """The variant of one request: test name and model_name. `tag` is what the ledger stores."""

    test: str
    model: str

    @property
    def tag(self) -> str:
        return f"{self.test}:{self.model}"


def bucket(test: str, key: str) -> float:
    """A number in [0, 1), uniform over keys, the same for (test, key) in every process."""
    digest = hashlib.sha256(f"{test}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _edges(variants: Sequence[ABVariantSpec]) -> tuple[float, ...]:
    """The right ends of the variants' shares of [0, 1), in order, proportional to the weights."""
    total = sum(v.weight for v in variants)
    return tuple(itertools.accumulate(v.weight / total for v in variants))


def _index(edges: Sequence[float], point: float) -> int:
    # min(): rounding may leave the last edge slightly below 1.
    return min(bisect.bisect_right(edges, point), len(edges) - 1)


def stickiness_key(session_id: str | None, user: str | None, request_id: str) -> str:
    """What a request's variant is keyed on: its session, else its user, else the request itself."""
    if session_id:
        return f"session:{session_id}"
    if user:
        return f"user:{user}"
    return f"request:{request_id}"


class ABTests:
    """The enabled tests of one config load, by label (validation allows at most one per label)."""

    def __init__(self, specs: Sequence[ABTestSpec] = ()) -> None:
        # label -> (test name, variant models, their share edges), computed once per config load.
        self._by_label: Mapping[str, tuple[str, tuple[str, ...], tuple[float, ...]]] = {
            s.label: (s.name, tuple(v.model for v in s.variants), _edges(s.variants))
            for s in specs
            if s.enabled
        }

    def assign(self, label: str, key: str) -> Assignment | None:
        """The variant for a request labelled `label` with stickiness `key`; None when no test covers it."""
        test = self._by_label.get(label)
        if test is None:
            return None
        name, models, edges = test
        return Assignment(name, models[_index(edges, bucket(name, key))])

    def apply(self, ctx: RequestContext, route: Route, router: ModelRouter) -> None:
        """After routing: if a test covers the request's label, send it to its variant and tag it.

        A route chosen by the quick model switch is left alone: the user's manual choice wins and the request
        is not part of the test.
        """
        if route.by_override or not self._by_label:
            return
        key = stickiness_key(ctx.session_id, ctx.user, ctx.request_id)
        assignment = self.assign(ctx.label or "default", key)
        if assignment is None:
            return
        ctx.routed_model = router.resolve(assignment.model) or assignment.model
        ctx.variant = assignment.tag
        ctx.route_reason = f"A/B test {assignment.test}: {assignment.model} (label {ctx.label or 'default'})"


def _served(name: str, models: Sequence[str]) -> bool:
    return name in models or any("*" in m and fnmatch.fnmatchcase(name, m) for m in models)


def check_ab_tests(settings: Settings, issues: list[ConfigIssue], sessions: bool = True) -> None:
    """Test names are unique; each label is a rule name or `default` and has at most one enabled test;
    every variant model is served by config.yaml. `sessions`: a hook sets the session id before routing
    (a warning otherwise: assignments can't be per session)."""
    labels = {"default", *(r.name for r in settings.ccproxy.rules)}
    models = settings.litellm.model_names()
    tests = settings.ccproxy.ab_tests
    issues += settings.duplicate_names("ab_tests", [t.name for t in tests], "A/B test")
    if not sessions and any(t.enabled for t in tests):
        issues.append(
            settings.ccproxy_issue(
                ("ccproxy", "ab_tests"),
                "no hook sets the session id before model_router (add extract_session_id before it): "
                "A/B test variants are chosen per user or per request, not per session",
                "warning",
            )
        )
    active: dict[str, str] = {}
    for index, test in enumerate(tests):
        where = ("ccproxy", "ab_tests", index)
        if test.label not in labels:
            issues.append(
                settings.ccproxy_issue(
                    (*where, "label"),
                    f"no rule named {test.label!r} (labels: {', '.join(sorted(labels))})",
                )
            )
        if test.enabled and test.label in active:
            issues.append(
                settings.ccproxy_issue(
                    (*where, "label"),
                    f"label {test.label!r} already has the enabled A/B test {active[test.label]!r}; "
                    "disable one (enabled: false)",
                )
            )
        elif test.enabled:
            active[test.label] = test.name
        for v_index, variant in enumerate(test.variants):
            if not _served(variant.model, models):
                issues.append(
                    settings.ccproxy_issue(
                        (*where, "variants", v_index, "model"),
                        f"no model named {variant.model!r} in {settings.paths.litellm_yaml.name}",
                    )
                )
