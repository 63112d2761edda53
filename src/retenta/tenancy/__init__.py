"""Workspaces, API keys and UI users."""
