"""A few events the tracking API refuses, as a real shop's site sends now and then.

A misconfigured tag, a checkout page that sends its step as text, a form that identifies
nobody: each one is checked by the API's own validator (``ingest.schemas.to_message``) and
kept as the dead letter the API would have kept, with the validator's reasons, so the UI's
Dead letters room and the dashboard have something true to show and to fix.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from retenta.ingest.deadletters import DeadLetter
from retenta.ingest.schemas import Defaults, InvalidEventError, to_message

# (endpoint, payload, how long before the demo's start it arrived)
REFUSED: tuple[tuple[str, dict[str, Any], timedelta], ...] = (
    ("track", {"anonymousId": "tag-7f3e21", "properties": {"sku": "SKU-00042"},
               "context": {"page": {"url": "https://shop.example/p/42"}}}, timedelta(minutes=12)),
    ("track", {"userId": "c-1001", "event": "Checkout Step Viewed", "properties": {"step": 2},
               "timestamp": "yesterday 14:00"}, timedelta(minutes=41)),
    ("identify", {"traits": {"email": "newsletter@shop.example", "source": "footer form"}},
     timedelta(hours=5)),
    ("page", {"anonymousId": "tag-9a0b44", "name": "Home", "properties": "home page"},
     timedelta(hours=26)),
    ("batch", {"type": "track", "userId": "c-1002", "event": "",
               "properties": {"order_id": "W-1007"}}, timedelta(days=2, hours=3)),
)  # fmt: skip


def refused_letters(workspace_id: str, now: datetime) -> list[DeadLetter]:
    """The dead letters of ``REFUSED`` in ``workspace_id``, each with the validator's reasons."""
    letters = []
    for endpoint, payload, ago in REFUSED:
        received = now - ago
        defaults = Defaults(workspace_id=workspace_id, received_at=received)
        kind = None if endpoint == "batch" else endpoint
        try:
            to_message(payload, defaults, type_=kind)
        except InvalidEventError as exc:
            errors = [e.as_dict() for e in exc.errors]
            letters.append(DeadLetter(workspace_id, received, endpoint, payload, errors))
    return letters
