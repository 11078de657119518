"""Desktop integration: the tray app and what it sets up on the user's machine (shell integration)."""
