"""The web UI, served by the same server."""
