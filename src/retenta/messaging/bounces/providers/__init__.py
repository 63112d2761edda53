"""Email service providers' event webhooks, each verified as its provider documents.

Every adapter is ``parse(body, headers, config) -> list[Feedback]`` and raises
:class:`WebhookRejectedError` for a request that fails verification or is malformed, so a
forged request can never suppress an address or unsubscribe anybody.
"""

from __future__ import annotations

import re

from retenta.messaging.bounces.mail import OUR_MESSAGE_ID
from retenta.messaging.signing import SEND_ID

BARE_MESSAGE_ID = re.compile(r"(snd_[a-z0-9]{1,40})(?:\.[0-9a-f]+)?@", re.I)
SEND_TAG = "retenta_send"  # the custom argument / tag / user variable carrying the send id


class WebhookRejectedError(Exception):
    """The request is not a genuine, well-formed provider event (HTTP 400/401)."""

    def __init__(self, reason: str, *, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def send_id_from(*candidates: object) -> str | None:
    """The first candidate that is a send id or one of our Message-IDs.

    >>> send_id_from(None, "<snd_01ab.ff00@shop.example>"), send_id_from("snd_x1")
    ('snd_01ab', 'snd_x1')
    >>> send_id_from("snd_01ab@shop.example")
    'snd_01ab'
    >>> send_id_from("not-ours@x.example") is None
    True
    """
    for value in candidates:
        if not isinstance(value, str) or not value:
            continue
        text = value.strip().lower()
        if SEND_ID.fullmatch(text):
            return text
        match = OUR_MESSAGE_ID.search(text) or BARE_MESSAGE_ID.search(text)
        if match:
            return match.group(1).lower()
    return None
