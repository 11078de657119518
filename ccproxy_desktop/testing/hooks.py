"""Hooks for tests of the pipeline's error funnel (importable by a proxy subprocess)."""

from __future__ import annotations

from ..pipeline.context import Reject, RequestContext

__all__ = ["explode_on_header", "refuse_on_header"]


def explode_on_header(ctx: RequestContext) -> None:
    """Raises RuntimeError when the request has the header `x-test-explode`: the request must still succeed."""
    if "x-test-explode" in ctx.headers:
        raise RuntimeError("this test hook always fails")


def refuse_on_header(ctx: RequestContext) -> None:
    """Refuses the request (403 permission_error) when it has the header `x-test-refuse`."""
    if "x-test-refuse" in ctx.headers:
        raise Reject(403, "permission_error", "refused by the test hook")
