"""ccproxy-desktop: a local LLM proxy for Claude Code with rule-based routing, run from the tray or the CLI."""

__version__ = "0.1.0"
