"""``retenta demo``: a workspace, a realistic generated store, the server and a live trickle."""

from __future__ import annotations


def demo() -> None:
    """Create a demo workspace and store, then serve it with live events flowing."""
    raise SystemExit("retenta demo is not built yet")
