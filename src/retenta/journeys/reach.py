"""Can a contact receive a message on a channel now? (the cascade node's skip rule)

The same answer the send path would give, asked before sending: an address for the channel
(an email, a phone, a live browser subscription or device token), not suppressed, and the
consent of ``messaging/consent.py`` (``may_send``) read through ``messaging/gate.py``'s
``current_consents`` — so a skipped channel is one the dispatcher would have refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from retenta.messaging.consent import may_send
from retenta.messaging.email.mime import Category
from retenta.messaging.gate import current_consents
from retenta.messaging.suppression import Kind, reasons_for

ADDRESS_TYPES = {"email": "email", "sms": "phone", "viber": "phone"}
PUSH_TARGETS_SQL = """
SELECT 1 FROM push_subscriptions WHERE workspace_id = $ws AND expired_at IS NULL
  AND contact_id IN (SELECT unnest($ids::BIGINT[]))
UNION ALL
SELECT 1 FROM identities i
LEFT JOIN retired_push_tokens r ON r.workspace_id = i.workspace_id AND r.token = i.value
WHERE i.workspace_id = $ws AND i.type = 'push_token'
  AND i.contact_id IN (SELECT unnest($ids::BIGINT[]))
  AND (r.token IS NULL OR i.last_seen > r.retired_at)
LIMIT 1
"""


def can_receive(
    cur: Any,
    workspace_id: str,
    contact_ids: Sequence[int],
    channel: str,
    category: str,
    topic: str | None,
) -> tuple[bool, str]:
    """``(allowed, why)``; ``contact_ids``: the live contact first, then those merged into it."""
    if channel == "inapp":
        return True, "in-app inbox"
    address, why = _address(cur, workspace_id, contact_ids, channel)
    if address is None:
        return False, why
    suppression = None
    if channel in ADDRESS_TYPES:
        kind: Kind = "email" if channel == "email" else "phone"
        suppression = reasons_for(cur, workspace_id, kind, [address]).get(address)
    consents = current_consents(cur, workspace_id, [contact_ids[0]], channel)
    decision = may_send(
        consents.get(contact_ids[0], {}),
        channel=channel,
        topic=topic,
        category=Category.TRANSACTIONAL if category == "transactional" else Category.MARKETING,
        suppression=suppression,
    )
    return decision.allowed, decision.reason


def _address(
    cur: Any, workspace_id: str, contact_ids: Sequence[int], channel: str
) -> tuple[str | None, str]:
    if channel == "push":
        row = cur.execute(PUSH_TARGETS_SQL, {"ws": workspace_id, "ids": list(contact_ids)})
        found = row.fetchone() is not None
        return ("push", "push target") if found else (None, "no push subscription or device")
    id_type = ADDRESS_TYPES.get(channel)
    if id_type is None:
        return None, f"unknown channel {channel!r}"
    row = cur.execute(
        "SELECT value FROM identities WHERE workspace_id = ? AND type = ?"
        " AND contact_id IN (SELECT unnest(?::BIGINT[])) ORDER BY last_seen DESC LIMIT 1",
        [workspace_id, id_type, list(contact_ids)],
    ).fetchone()
    if row is None:
        return None, f"no {id_type}"
    return str(row[0]), id_type
