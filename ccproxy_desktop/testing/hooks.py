"""Hooks for tests of the pipeline's error funnel (importable by a proxy subprocess)."""

from __future__ import annotations

from ..pipeline.context import Reject, RequestContext

__all__ = ["append_alert", "explode_on_header", "refuse_on_header"]


def explode_on_header(ctx: RequestContext) -> None:
    """Raises RuntimeError when the request has the header `x-test-explode`: the request must still succeed."""
    if "x-test-explode" in ctx.headers:
        raise RuntimeError("this test hook always fails")


def refuse_on_header(ctx: RequestContext) -> None:
    """Refuses the request (403 permission_error) when it has the header `x-test-refuse`."""
    if "x-test-refuse" in ctx.headers:
        raise Reject(403, "permission_error", "refused by the test hook")


def append_alert(alert: object) -> None:
    """An alert callback for tests: appends the alert's message as a JSON line to $CCPROXY_TEST_ALERT_FILE."""
    import json
    import os

    path = os.environ.get("CCPROXY_TEST_ALERT_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(
                json.dumps(
                    {"budget": getattr(alert, "budget", None), "fraction": getattr(alert, "fraction", None)}
                )
                + "\n"
            )
