"""Events stored but not applied (the appliers failed, or the process died between the two
commits of a staged unit) are applied from the event log at the next start, once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from retenta.app import Container, build_container
from retenta.core.messages import Message
from retenta.ingest.pipeline import ApplyError
from retenta.settings import Settings
from tests.conftest import make_workspace

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def order(ws: str, n: int, *, user: str = "u1") -> list[Message]:
    """A cart change, then the order that converts it: the appliers must see them in order."""
    added = Message(ws, f"add-{n}", "track", AT, AT, event="Product Added", user_id=user,
                    properties={"sku": f"S{n}", "price": 5, "quantity": 2})  # fmt: skip
    completed = Message(ws, f"ord-{n}", "track", AT, AT, event="Order Completed", user_id=user,
                        properties={"order_id": f"o{n}", "total": 10, "currency": "EUR",
                                    "products": [{"sku": f"S{n}", "price": 5, "quantity": 2}]},
                        context={"locale": "uk-UA"})  # fmt: skip
    return [added, completed]


def query(container: Container, sql: str) -> list[tuple[Any, ...]]:
    with container.db.read() as cur:
        return cur.execute(sql).fetchall()


def start_and_stop(container: Container) -> None:
    async def run() -> None:
        await container.ingest.start()
        await container.ingest.stop()

    asyncio.run(run())


def test_failed_appliers_leave_the_events_stored_and_pending_until_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path / "data", background_workers=False)
    first = build_container(settings)
    try:
        ws = make_workspace(first).id
        first.ingest.ingest_sync(order(ws, 1))

        def broken(conn: Any, messages: Any) -> None:
            raise RuntimeError("disk full")

        monkeypatch.setattr(first.commerce, "apply", broken)
        with pytest.raises(ApplyError) as failed:
            first.ingest.ingest_sync(order(ws, 2))
        assert failed.value.status == 500
        assert "applied again" in failed.value.message
        assert query(first, "SELECT count(*) FROM all_events WHERE message_id = 'ord-2'") == [(1,)]
        pending = query(first, "SELECT message_id FROM apply_pending ORDER BY position")
        assert pending == [("add-2",), ("ord-2",)]
        assert query(first, "SELECT order_id FROM orders") == [("o1",)]
        monkeypatch.undo()
        again = first.ingest.ingest_sync(order(ws, 2))  # a client's retry: already stored
        assert (again.stored, again.duplicates) == (0, 2)
    finally:
        first.close()

    second = build_container(settings)
    try:
        start_and_stop(second)
        orders = query(second, "SELECT order_id, total, contact_id FROM orders ORDER BY order_id")
        assert [(o, t) for o, t, _ in orders] == [
            ("o1", Decimal("10.00")),
            ("o2", Decimal("10.00")),
        ]
        assert orders[0][2] == orders[1][2]  # the contact the event was stored with
        assert query(second, "SELECT count(*) FROM apply_pending") == [(0,)]
        carts = "SELECT status FROM current_carts ORDER BY created_at"
        assert query(second, carts) == [("converted",), ("converted",)]  # order kept
        start_and_stop(second)  # nothing left: applied once
        assert query(second, "SELECT count(*) FROM orders") == [(2,)]
    finally:
        second.close()


def test_a_unit_that_fails_again_stays_pending_and_the_server_still_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its rows keep their unit number; units after the restart are numbered past it, so
    applying them never deletes its rows."""
    settings = Settings(data_dir=tmp_path / "data", background_workers=False)

    def broken(conn: Any, messages: Any) -> None:
        raise RuntimeError("still broken")

    first = build_container(settings)
    try:
        ws = make_workspace(first).id
        monkeypatch.setattr(first.commerce, "apply", broken)
        with pytest.raises(ApplyError):
            first.ingest.ingest_sync(order(ws, 1))
    finally:
        first.close()
    second = build_container(settings)
    try:
        monkeypatch.setattr(second.commerce, "apply", broken)
        start_and_stop(second)  # recovery fails again: logged, the start goes on
        monkeypatch.undo()
        second.ingest.ingest_sync(order(ws, 2))
        pending = query(second, "SELECT message_id FROM apply_pending ORDER BY position")
        assert pending == [("add-1",), ("ord-1",)]
        start_and_stop(second)
        assert query(second, "SELECT order_id FROM orders ORDER BY 1") == [("o1",), ("o2",)]
    finally:
        second.close()


def test_without_the_lane_a_failed_apply_stores_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ingest_apply_lane=False``: the appliers run in the events' own transaction, so
    their failure rolls the events back (and leaves nothing pending)."""
    settings = Settings(
        data_dir=tmp_path / "data", background_workers=False, ingest_apply_lane=False
    )
    c = build_container(settings)
    try:
        ws = make_workspace(c).id
        c.ingest.ingest_sync(order(ws, 1))

        def broken(conn: Any, messages: Any) -> None:
            raise RuntimeError("disk full")

        monkeypatch.setattr(c.commerce, "apply", broken)
        with pytest.raises(RuntimeError, match="disk full"):
            c.ingest.ingest_sync(order(ws, 2))
        assert query(c, "SELECT count(*) FROM all_events WHERE message_id LIKE '%-2'") == [(0,)]
        monkeypatch.undo()
        assert c.ingest.ingest_sync(order(ws, 2)).stored == 2
        assert query(c, "SELECT order_id FROM orders ORDER BY 1") == [("o1",), ("o2",)]
        assert query(c, "SELECT count(*) FROM apply_pending") == [(0,)]
    finally:
        c.close()
