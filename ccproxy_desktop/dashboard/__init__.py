"""The local dashboard: served by the running proxy under `/ccproxy/dashboard/` (see docs/dashboard.md)."""

PREFIX = "/ccproxy/dashboard"
