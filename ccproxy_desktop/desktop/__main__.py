"""`python -m ccproxy_desktop.desktop`: the tray process (`ccproxy tray` hands over to it)."""

import sys

# httpx imports its command-line client (click, rich, pygments: 7.5 MB resident) whenever those are installed,
# and falls back to a stub when that import fails. The tray never runs httpx's CLI: a None entry in
# sys.modules makes exactly that import fail. Must come before anything imports httpx.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

from .launch import main  # noqa: E402  (after the line above, on purpose)

sys.exit(main())
