"""Web push subscriptions (table from migration 0017) and the workspace's VAPID key.

The VAPID private key is a secret of the ``webpush`` channel settings (sealed at rest,
``settings_store.py``); keys that migration 0017 kept in clear are moved there at start-up.

Every write goes through the single writer (``db.write``); every query is bound to one
workspace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from retenta.messaging.channels.base import SendResult
from retenta.messaging.channels.webpush import Subscription, VapidKey, WebPushResult
from retenta.messaging.channels.webpush_config import DEFAULT_NAME
from retenta.messaging.channels.webpush_config import Config as WebPushConfig
from retenta.messaging.settings_store import ChannelSettingsStore
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


def vapid_key(settings: ChannelSettingsStore, workspace_id: str) -> VapidKey:
    """The workspace's VAPID key, made and stored (sealed) on first use; stable afterwards."""
    config = webpush_config(settings, workspace_id)
    return config.key()


def webpush_config(settings: ChannelSettingsStore, workspace_id: str) -> WebPushConfig:
    """The workspace's web push config; created with a fresh VAPID key when absent."""
    found = settings.get(workspace_id, "webpush", DEFAULT_NAME)
    if isinstance(found, WebPushConfig) and found.vapid_private_key_pem is not None:
        return found
    base = found if isinstance(found, WebPushConfig) else WebPushConfig()
    fresh = VapidKey.generate().private_pem().decode("ascii")
    config = base.model_copy(update={"vapid_private_key_pem": SecretStr(fresh)})
    settings.create(workspace_id, "webpush", DEFAULT_NAME, config, replace_if=found is not None)
    stored = settings.get(workspace_id, "webpush", DEFAULT_NAME)
    assert isinstance(stored, WebPushConfig)
    return stored


def migrate_clear_vapid_keys(db: Database, settings: ChannelSettingsStore) -> int:
    """Move VAPID keys kept in clear (``push_vapid_keys``, migration 0017) into the sealed
    channel settings, and delete the clear rows; the count moved. Runs at start-up."""
    with db.read() as cur:
        rows = cur.execute("SELECT workspace_id, private_pem FROM push_vapid_keys").fetchall()
    for workspace_id, pem in rows:
        existing = settings.get(workspace_id, "webpush", DEFAULT_NAME)
        if not (isinstance(existing, WebPushConfig) and existing.vapid_private_key_pem):
            base = existing if isinstance(existing, WebPushConfig) else WebPushConfig()
            config = base.model_copy(update={"vapid_private_key_pem": SecretStr(str(pem))})
            settings.put(workspace_id, "webpush", DEFAULT_NAME, config)
        db.write(_delete_clear_key(workspace_id))
    return len(rows)


def _delete_clear_key(workspace_id: str) -> Callable[[Any], None]:
    def work(conn: Any) -> None:
        conn.execute("DELETE FROM push_vapid_keys WHERE workspace_id = ?", [workspace_id])

    return work
