"""The writer's unit outcomes settle the pending overlay: no ``status`` statement a unit.

With a database that reports outcomes (``DuckDatabase.outcome_listeners``) a committed
unit's changes reach the map as it ends and a rolled-back one clears it; without, the next
batch asks the database (``store.status``) as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from retenta.app import Container
from retenta.identity import store
from retenta.identity.service import IdentityService
from tests.conftest import Workspace
from tests.identity.helpers import msg


def _count_status(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = store.status

    def counting(cur: Any, probe: Any) -> tuple[int, bool, int]:
        calls.append(1)
        return real(cur, probe)

    monkeypatch.setattr(store, "status", counting)
    return calls


def _failing(svc: IdentityService, messages: list[Any]) -> Callable[[Any], None]:
    def work(cur: Any) -> None:
        svc.resolve(cur, messages)
        raise RuntimeError("an applier failed")

    return work


def test_outcomes_settle_the_overlay_without_a_statement(
    container: Container, ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_status(monkeypatch)
    svc, db = container.identity, container.db
    (ann,) = [msg(ws.id, "identify", user="ann", anon="a1")]
    db.write(lambda cur: svc.resolve(cur, [ann]))
    assert svc.pending is None  # applied as the unit committed
    assert svc.cache.owners.get((ws.id, "external_id", "ann")) == ann.contact_id
    with pytest.raises(RuntimeError):
        db.write(_failing(svc, [msg(ws.id, "identify", user="ghost", anon="g1")]))
    assert svc.pending is None
    assert svc.cache.owners.get((ws.id, "external_id", "ghost")) is None  # cleared
    (again,) = [msg(ws.id, user="ghost", anon="g1")]
    (bo,) = [msg(ws.id, "identify", user="bo", anon="b1")]
    db.write(lambda cur: svc.resolve(cur, [again, bo]))
    assert calls == []
    with db.read() as cur:
        owners = dict(cur.execute("SELECT value, contact_id FROM identities").fetchall())
    assert owners == {"ann": ann.contact_id, "a1": ann.contact_id, "ghost": again.contact_id,
                      "g1": again.contact_id, "bo": bo.contact_id, "b1": bo.contact_id}  # fmt: skip


class Silent:
    """The container's database without outcome reports (another backend's shape)."""

    def __init__(self, db: Any) -> None:
        self.db = db

    def write(self, work: Any) -> Any:
        return self.db.write(work)

    def read(self) -> Any:
        return self.db.read()


def test_without_outcome_reports_the_next_batch_asks_the_database(
    container: Container, ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_status(monkeypatch)
    db = Silent(container.db)
    svc = IdentityService(db=db, settings=container.settings.identity)  # type: ignore[arg-type]
    (ann,) = [msg(ws.id, "identify", user="ann", anon="a1")]
    db.write(lambda cur: svc.resolve(cur, [ann]))
    assert svc.pending is not None  # nobody told it how the unit ended
    with pytest.raises(RuntimeError):
        db.write(_failing(svc, [msg(ws.id, "identify", user="ghost", anon="g1")]))
    (again,) = [msg(ws.id, user="ghost", anon="g2")]
    db.write(lambda cur: svc.resolve(cur, [again]))
    assert len(calls) == 2  # asked before each later batch
    assert again.contact_id is not None
    assert svc.lookup(workspace_id=ws.id, id_type="external_id", value="ann") == ann.contact_id
    assert svc.lookup(workspace_id=ws.id, id_type="anonymous_id", value="g1") is None


def _count_identities(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = store.identity_count

    def counting(cur: Any) -> int:
        calls.append(1)
        return real(cur)

    monkeypatch.setattr(store, "identity_count", counting)
    return calls


def test_identities_are_counted_again_only_after_a_unit_identity_did_not_resolve(
    container: Container, ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``KnownIdentifiers.sync`` needs the stored count: once, then ``known.added`` keeps it
    while only committed units that identity resolved in end; after any other unit (which
    may have written identities behind it) or a rollback it is counted again."""
    calls = _count_identities(monkeypatch)
    svc, db = container.identity, container.db
    visitors = [msg(ws.id, anon=f"new-{i}") for i in range(3)]
    for m in visitors:  # each meets an identifier the map lacks
        db.write(lambda cur, m=m: svc.resolve(cur, [m]))
    assert len(calls) == 1

    def bulk_load(cur: Any) -> None:  # a unit identity does not resolve in
        cur.execute(
            "INSERT INTO contacts (workspace_id, id, created_at, updated_at)"
            " VALUES (?, 900001, now(), now())",
            [ws.id],
        )
        cur.execute(
            "INSERT INTO identities VALUES (?, 'external_id', 'loaded', 900001, now(), now())",
            [ws.id],
        )

    db.write(bulk_load)
    (loaded,) = [msg(ws.id, user="loaded", anon="fresh")]
    db.write(lambda cur: svc.resolve(cur, [loaded]))
    assert len(calls) == 2
    assert loaded.contact_id == 900001  # found, not taken for a new identifier
    db.write(lambda cur: svc.resolve(cur, [msg(ws.id, anon="new-3")]))
    assert len(calls) == 2
    with pytest.raises(RuntimeError):
        db.write(_failing(svc, [msg(ws.id, anon="ghost")]))
    assert len(calls) == 2
    (late,) = [msg(ws.id, anon="new-4")]
    db.write(lambda cur: svc.resolve(cur, [late]))
    assert len(calls) == 3  # the rollback made it count again
    with db.read() as cur:
        stored = cur.execute("SELECT count(*) FROM identities").fetchone()
    assert stored is not None
    assert svc.known.expected_rows == stored[0] == 7
    assert svc.lookup(workspace_id=ws.id, id_type="anonymous_id", value="new-4") == late.contact_id
