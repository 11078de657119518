"""Local time for periods (day/week/month) in the user's timezone, daylight saving included."""

from __future__ import annotations

from datetime import datetime, tzinfo

__all__ = ["local_now", "local_zone"]


def local_zone() -> tzinfo:
    """The machine's IANA zone (a `zoneinfo.ZoneInfo`, so day lengths follow DST), else its fixed offset."""
    try:
        import tzlocal

        zone: tzinfo = tzlocal.get_localzone()
        return zone
    except (ImportError, LookupError, ValueError):
        fixed = datetime.now().astimezone().tzinfo
        assert fixed is not None
        return fixed


def local_now() -> datetime:
    return datetime.now(local_zone())
