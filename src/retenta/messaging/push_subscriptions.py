"""Web push subscriptions and VAPID keys (tables from migration 0017).

Every write goes through the single writer (``db.write``); every query is bound to one
workspace.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from retenta.messaging.channels.base import SendResult
from retenta.messaging.channels.webpush import Subscription, VapidKey, WebPushResult
from retenta.storage.base import Database


@dataclass(frozen=True, slots=True)
class StoredSubscription:
    subscription: Subscription
    contact_id: int | None
    anonymous_id: str | None
    user_id: str | None


def upsert(
    db: Database,
    workspace_id: str,
    subscription: Subscription,
    *,
    contact_id: int | None = None,
    anonymous_id: str | None = None,
    user_id: str | None = None,
    user_agent: str | None = None,
    at: datetime | None = None,
) -> bool:
    """Store a subscription (a known endpoint is refreshed and live again); True if new."""
    moment = at or datetime.now(UTC)

    def work(conn: Any) -> bool:
        existing = conn.execute(
            "SELECT 1 FROM push_subscriptions WHERE workspace_id = ? AND endpoint = ?",
            [workspace_id, subscription.endpoint],
        ).fetchone()
        params = [subscription.p256dh, subscription.auth, contact_id, anonymous_id, user_id,
                  user_agent]  # fmt: skip
        if existing is None:
            conn.execute(
                "INSERT INTO push_subscriptions (workspace_id, endpoint, p256dh, auth,"
                " contact_id, anonymous_id, user_id, user_agent, created_at, last_ok_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [workspace_id, subscription.endpoint, *params, moment, moment],
            )
            return True
        conn.execute(
            "UPDATE push_subscriptions SET p256dh = ?, auth = ?,"
            " contact_id = coalesce(?, contact_id), anonymous_id = coalesce(?, anonymous_id),"
            " user_id = coalesce(?, user_id), user_agent = coalesce(?, user_agent),"
            " last_ok_at = ?, expired_at = NULL WHERE workspace_id = ? AND endpoint = ?",
            [*params, moment, workspace_id, subscription.endpoint],
        )
        return False

    return db.write(work)


def live_for_contacts(
    db: Database, workspace_id: str, contact_ids: Iterable[int]
) -> dict[int, list[StoredSubscription]]:
    """The live (not expired) subscriptions of these contacts, by contact."""
    ids = sorted(set(contact_ids))
    out: dict[int, list[StoredSubscription]] = {}
    if not ids:
        return out
    with db.read() as cur:
        rows = cur.execute(
            "SELECT endpoint, p256dh, auth, contact_id, anonymous_id, user_id"
            " FROM push_subscriptions WHERE workspace_id = ? AND expired_at IS NULL"
            " AND list_contains(?, contact_id) ORDER BY contact_id, created_at, endpoint",
            [workspace_id, ids],
        ).fetchall()
    for endpoint, p256dh, auth, contact_id, anonymous_id, user_id in rows:
        out.setdefault(contact_id, []).append(
            StoredSubscription(
                Subscription(endpoint, p256dh, auth), contact_id, anonymous_id, user_id
            )
        )
    return out


def get(db: Database, workspace_id: str, endpoint: str) -> dict[str, Any] | None:
    """One subscription row as a dict (None if this workspace has no such endpoint)."""
    with db.read() as cur:
        cur.execute(
            "SELECT endpoint, p256dh, auth, contact_id, anonymous_id, user_id, user_agent,"
            " created_at, last_ok_at, expired_at FROM push_subscriptions"
            " WHERE workspace_id = ? AND endpoint = ?",
            [workspace_id, endpoint],
        )
        row = cur.fetchone()
        names = [d[0] for d in cur.description]
    return dict(zip(names, row, strict=True)) if row is not None else None


def mark_expired(
    db: Database, workspace_id: str, endpoints: Iterable[str], *, at: datetime | None = None
) -> int:
    """Set ``expired_at`` on these endpoints of this workspace; the count newly expired."""
    wanted = sorted(set(endpoints))
    if not wanted:
        return 0
    moment = at or datetime.now(UTC)

    def work(conn: Any) -> int:
        rows = conn.execute(
            "UPDATE push_subscriptions SET expired_at = ? WHERE workspace_id = ?"
            " AND expired_at IS NULL AND list_contains(?, endpoint) RETURNING endpoint",
            [moment, workspace_id, wanted],
        ).fetchall()
        return len(rows)

    return db.write(work)


def expire_subscriptions(db: Database, workspace_id: str, results: Iterable[SendResult]) -> int:
    """Mark the subscriptions whose send came back ``expired`` (404/410); the count marked."""
    endpoints = [
        r.endpoint
        for r in results
        if isinstance(r, WebPushResult) and r.expired and r.endpoint is not None
    ]
    return mark_expired(db, workspace_id, endpoints)


def vapid_key(db: Database, workspace_id: str) -> VapidKey:
    """The workspace's VAPID key, generated and stored on first use (stable afterwards)."""
    with db.read() as cur:
        row = cur.execute(
            "SELECT private_pem FROM push_vapid_keys WHERE workspace_id = ?", [workspace_id]
        ).fetchone()
    if row is not None:
        return VapidKey.from_pem(str(row[0]).encode("ascii"))
    fresh = VapidKey.generate().private_pem().decode("ascii")

    def work(conn: Any) -> str:
        conn.execute(
            "INSERT INTO push_vapid_keys (workspace_id, private_pem, created_at)"
            " VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [workspace_id, fresh, datetime.now(UTC)],
        )
        stored = conn.execute(
            "SELECT private_pem FROM push_vapid_keys WHERE workspace_id = ?", [workspace_id]
        ).fetchone()
        return str(stored[0])

    return VapidKey.from_pem(db.write(work).encode("ascii"))
