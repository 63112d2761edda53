"""Where a contact's mobile push tokens are, and how a dead one is retired.

Tokens arrive today through identity (not changed here): an ``identify`` / ``track`` whose
``context.device.token`` is set stores an ``identities`` row of type ``push_token`` on the
contact (a newly logged-in user on a shared device takes the token over). The provider is
not stored there, so it is told from the token: an APNs device token is hexadecimal (32
octets today), an FCM registration token is not (it holds ``:``, ``-``, ``_``, letters).

A token FCM or APNs called dead (``detail="token_invalid"``) is written to
``retired_push_tokens``; it is skipped from then on unless identity sees it again later
(``identities.last_seen`` after the retirement: the app registered it anew).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from retenta.messaging.channels.base import SendResult
from retenta.messaging.channels.mobile_push import TOKEN_INVALID, MobilePushResult
from retenta.messaging.inbox.store import FAMILY_SQL
from retenta.storage.base import Database

Provider = Literal["apns", "fcm"]
_APNS = re.compile(r"^[0-9a-fA-F]{64}([0-9a-fA-F]{2})*$")

TOKENS_SQL = f"""
WITH fam AS ({FAMILY_SQL})
SELECT fam.root, i.value, i.last_seen
FROM identities i JOIN fam ON i.contact_id = fam.id
LEFT JOIN retired_push_tokens r ON r.workspace_id = i.workspace_id AND r.token = i.value
WHERE i.workspace_id = ? AND i.type = 'push_token'
  AND (r.token IS NULL OR i.last_seen > r.retired_at)
ORDER BY fam.root, i.last_seen DESC, i.value
"""


@dataclass(frozen=True, slots=True)
class DeviceToken:
    token: str
    provider: Provider
    last_seen: datetime


def provider_of(token: str) -> Provider:
    """APNs for a hexadecimal device token, FCM otherwise.

    >>> provider_of("a1" * 32), provider_of("cX9k2:APA91bH-abc_def")
    ('apns', 'fcm')
    """
    return "apns" if _APNS.match(token) else "fcm"


def tokens_for(
    db: Database, workspace_id: str, contact_ids: Sequence[int]
) -> dict[int, list[DeviceToken]]:
    """The live push tokens of each contact (merged-in contacts' too), newest first."""
    ids = sorted(set(contact_ids))
    out: dict[int, list[DeviceToken]] = {}
    if not ids:
        return out
    with db.read() as cur:
        rows = cur.execute(TOKENS_SQL, [ids, workspace_id, workspace_id]).fetchall()
    for root, token, last_seen in rows:
        out.setdefault(int(root), []).append(DeviceToken(token, provider_of(token), last_seen))
    return out


def dead_tokens(results: Iterable[SendResult]) -> list[tuple[str, str]]:
    """``(token, send_id)`` of every result that says its token is dead."""
    return [
        (r.token, r.send_id)
        for r in results
        if isinstance(r, MobilePushResult) and r.detail == TOKEN_INVALID and r.token
    ]


async def retire(
    db: Database,
    workspace_id: str,
    results: Iterable[SendResult],
    *,
    now: datetime | None = None,
) -> int:
    """Retire the tokens FCM / APNs called dead in ``results``; the count newly retired.

    The SENDS worker calls this with each batch's results (any channel's: only mobile push
    results with ``detail="token_invalid"`` count).
    """
    found = dead_tokens(results)
    return await retire_tokens(db, workspace_id, found, now=now) if found else 0


async def retire_tokens(
    db: Database,
    workspace_id: str,
    tokens: Sequence[tuple[str, str | None]],
    *,
    reason: str = TOKEN_INVALID,
    now: datetime | None = None,
) -> int:
    """Retire ``(token, send_id)`` pairs; a token retired again keeps its newest time."""
    moment = now or datetime.now(UTC)
    unique = list(dict(tokens).items())

    def work(conn: Any) -> int:
        rows = conn.execute(
            "INSERT INTO retired_push_tokens (workspace_id, token, reason, send_id, retired_at)"
            " SELECT ?, t.token, ?, t.send_id, ? FROM (SELECT unnest(?::VARCHAR[]) AS token,"
            " unnest(?::VARCHAR[]) AS send_id) t"
            " ON CONFLICT (workspace_id, token) DO UPDATE SET retired_at = excluded.retired_at,"
            " reason = excluded.reason, send_id = excluded.send_id RETURNING token",
            [workspace_id, reason, moment, [t for t, _ in unique], [s for _, s in unique]],
        ).fetchall()
        return len(rows)

    return await db.awrite(work)
