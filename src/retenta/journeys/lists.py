"""Contacts' lists and tags (table ``contact_lists``, migration 0028): joins and leaves as
history rows; the current members are the rows with ``left_at IS NULL``.

The write functions run inside a writer unit (``conn``), so a journey's ``list`` node and
the API change membership the same way and at most one current row exists per
(contact, kind, name).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

KINDS = ("list", "tag")
MAX_NAME = 100


def check_name(kind: str, name: str) -> str | None:
    """Why ``kind``/``name`` cannot be a list or tag, or None.

    >>> check_name("list", "vip"), check_name("tag", " vip"), check_name("group", "x")
    (None, 'a name has no leading or trailing spaces', "kind must be 'list' or 'tag'")
    """
    if kind not in KINDS:
        return "kind must be 'list' or 'tag'"
    if not name or len(name) > MAX_NAME:
        return f"a name is 1-{MAX_NAME} characters"
    if name != name.strip():
        return "a name has no leading or trailing spaces"
    if any(ord(c) < 32 for c in name):
        return "a name has no control characters"
    return None


def join(conn: Any, workspace_id: str, contact_id: int, kind: str, name: str, *, source: str,
         at: datetime) -> bool:  # fmt: skip
    """Add the contact (a no-op when it is a member already); True when it joined."""
    if is_member(conn, workspace_id, contact_id, kind, name):
        return False
    conn.execute(
        "INSERT INTO contact_lists VALUES (?, ?, ?, ?, ?, NULL, ?)",
        [workspace_id, contact_id, kind, name, at, source],
    )
    return True


def leave(conn: Any, workspace_id: str, contact_id: int, kind: str, name: str, *,
          at: datetime) -> bool:  # fmt: skip
    """Remove the contact (a no-op when it is not a member); True when it left."""
    if not is_member(conn, workspace_id, contact_id, kind, name):
        return False
    conn.execute(
        "UPDATE contact_lists SET left_at = ? WHERE workspace_id = ? AND contact_id = ?"
        " AND kind = ? AND name = ? AND left_at IS NULL",
        [at, workspace_id, contact_id, kind, name],
    )
    return True


def is_member(cur: Any, workspace_id: str, contact_id: int, kind: str, name: str) -> bool:
    row = cur.execute(
        "SELECT 1 FROM contact_lists WHERE workspace_id = ? AND contact_id = ? AND kind = ?"
        " AND name = ? AND left_at IS NULL LIMIT 1",
        [workspace_id, contact_id, kind, name],
    ).fetchone()
    return row is not None


def memberships(cur: Any, workspace_id: str, contact_id: int, *, history: bool = False
                ) -> list[dict[str, Any]]:  # fmt: skip
    """The contact's current lists and tags (with ``history``: every stay), newest first."""
    rows = cur.execute(
        "SELECT kind, name, joined_at, left_at, source FROM contact_lists"
        " WHERE workspace_id = ? AND contact_id = ? AND (? OR left_at IS NULL)"
        " ORDER BY joined_at DESC, kind, name",
        [workspace_id, contact_id, history],
    ).fetchall()
    return [
        {"kind": k, "name": n, "joined_at": j.isoformat(),
         "left_at": left.isoformat() if left else None, "source": s}
        for k, n, j, left, s in rows
    ]  # fmt: skip


__all__ = ["KINDS", "check_name", "is_member", "join", "leave", "memberships"]
