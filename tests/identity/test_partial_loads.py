"""A known contact's traits are compared on its row alone; identities are read only when
the rules need them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from retenta.app import Container, build_container
from retenta.identity import store
from retenta.identity.resolver import BatchResolver
from retenta.settings import Settings
from tests.conftest import make_workspace
from tests.identity.helpers import T0, contact_row, full_state, identities, msg, resolve


@pytest.fixture
def restarted(settings: Settings) -> Iterator[tuple[Container, str, int]]:
    """Ann (u1, a1, ann@x.io), and a restarted writer that knows nothing of her profile."""
    c = build_container(settings)
    ws = make_workspace(c).id
    (m,) = resolve(c, [msg(ws, "identify", user="u1", anon="a1",
                           traits={"email": "ann@x.io", "name": "Ann"})])  # fmt: skip
    c.close()
    c = build_container(settings)
    yield c, ws, m.contact_id or 0
    c.close()


@pytest.fixture
def identity_reads(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    seen: list[list[int]] = []
    real = store.load_identities

    def counting(cur: Any, states: Any) -> None:
        seen.append(sorted(s.id for s in states))
        real(cur, states)

    monkeypatch.setattr(store, "load_identities", counting)
    return seen


def _last_seen(c: Container, ws: str) -> dict[tuple[str, str], datetime]:
    with c.db.read() as cur:
        rows = cur.execute(
            "SELECT type, value, last_seen FROM identities WHERE workspace_id = ?", [ws]
        ).fetchall()
    return {(t, v): at.astimezone(UTC) for t, v, at in rows}


def test_changed_traits_of_a_known_contact_read_its_row_alone(
    restarted: tuple[Container, str, int], identity_reads: list[list[int]]
) -> None:
    c, ws, cid = restarted
    before = full_state(c, cid)
    resolve(c, [msg(ws, "identify", user="u1", anon="a1", traits={"plan": "pro"}, minutes=5)])
    assert identity_reads == []
    row = contact_row(c, cid)
    assert row["attributes"] == {"email": "ann@x.io", "name": "Ann", "plan": "pro"}
    assert row["last_seen_at"].astimezone(UTC) > before["contact"]["last_seen_at"]
    c.db.write(c.identity.flush)  # identities' last-seen times are written behind
    seen = _last_seen(c, ws)
    at = T0.replace(minute=5)
    assert seen[("external_id", "u1")] == seen[("anonymous_id", "a1")] == at
    assert seen[("email", "ann@x.io")] < at  # not on this event
    assert identities(c, cid) == {("external_id", "u1"), ("anonymous_id", "a1"),
                                  ("email", "ann@x.io")}  # fmt: skip


def test_a_row_loaded_alone_gets_its_identities_when_the_rules_need_them(
    restarted: tuple[Container, str, int],
) -> None:
    c, ws, cid = restarted
    m = msg(ws, "identify", user="u1", traits={"plan": "pro"}, minutes=5)

    def work(cur: Any) -> tuple[dict[Any, Any], dict[Any, Any]]:
        batch = BatchResolver(c.identity, cur, datetime.now(UTC))
        state = batch.profile_state(cid)
        assert state.partial
        assert state.identities == {}
        full = batch.state(cid)
        assert full is state
        assert not full.partial
        batch.run([m])  # and the batch still resolves with it
        return dict(full.identities), dict(store.load_contacts(cur, [cid])[cid].identities)

    held, stored = c.db.write(work)
    assert set(held) == set(stored) == {("external_id", "u1"), ("anonymous_id", "a1"),
                                        ("email", "ann@x.io")}  # fmt: skip
    assert m.contact_id == cid


def test_a_partial_contact_never_reaches_the_rules(restarted: tuple[Container, str, int]) -> None:
    c, _, cid = restarted
    with c.db.read() as cur:
        state = store.load_rows(cur, [cid])[cid]
    with pytest.raises(AssertionError):
        state.view()
    with pytest.raises(AssertionError):
        state.snapshot()


def test_merging_into_a_contact_whose_traits_changed_in_the_same_batch(
    restarted: tuple[Container, str, int], identity_reads: list[list[int]]
) -> None:
    c, ws, cid = restarted
    resolve(c, [msg(ws, "page", anon="a7", minutes=1)])
    c.close()
    c2 = build_container(c.settings)
    try:
        (m1, m2) = resolve(c2, [
            msg(ws, "identify", user="u1", traits={"plan": "pro"}, minutes=2),
            msg(ws, "identify", user="u1", anon="a7", minutes=3),
        ])  # fmt: skip
        assert m1.contact_id == m2.contact_id == cid
        assert identities(c2, cid) >= {("anonymous_id", "a7"), ("anonymous_id", "a1")}
        assert contact_row(c2, cid)["attributes"]["plan"] == "pro"
        assert any(cid in ids for ids in identity_reads)  # the merge read them
    finally:
        c2.close()


def test_forget_profiles_drops_known_no_ops_and_keeps_the_identifier_map(
    restarted: tuple[Container, str, int],
) -> None:
    """Traits changed behind identity's back (a journey's update_contact node) must not be
    shadowed by a remembered no-op; the identifiers stay mapped (no scan of the map)."""
    c, ws, cid = restarted
    ann = {"email": "ann@x.io", "name": "Ann"}
    resolve(c, [msg(ws, "identify", user="u1", traits=ann, minutes=1)])  # remembered no-op
    changed = '{"email": "ann@x.io", "name": "Changed"}'
    c.db.write(  # what journeys.effects.update_traits does, in the writer
        lambda cur: cur.execute(
            "UPDATE contacts SET attributes = ? WHERE id = ?", [changed, cid]
        ).fetchall()
    )
    resolve(c, [msg(ws, "identify", user="u1", traits=ann, minutes=2)])
    assert contact_row(c, cid)["attributes"]["name"] == "Changed"  # the no-op shadowed it
    entries = len(c.identity.cache.owners)
    c.identity.forget_profiles(ws, [cid])
    resolve(c, [msg(ws, "identify", user="u1", traits=ann, minutes=3)])
    assert contact_row(c, cid)["attributes"]["name"] == "Ann"
    assert len(c.identity.cache.owners) == entries


def test_a_loaded_contact_that_was_only_seen_is_not_rewritten(
    restarted: tuple[Container, str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An identify that changes nothing loads the row (to compare the traits) but writes
    no row: its last-seen time goes behind, like a contact that was not loaded."""
    c, ws, cid = restarted
    written: list[list[int]] = []
    real = store.update_contacts

    def counting(cur: Any, states: Any, **kw: Any) -> None:
        written.append([s.id for s in states])
        real(cur, states, **kw)

    monkeypatch.setattr(store, "update_contacts", counting)
    before = contact_row(c, cid)
    resolve(c, [msg(ws, "identify", user="u1", traits={"name": "Ann"}, minutes=7)])
    assert [ids for ids in written if ids] == []
    assert contact_row(c, cid)["updated_at"] == before["updated_at"]
    c.db.write(c.identity.flush)
    assert contact_row(c, cid)["last_seen_at"].astimezone(UTC) == T0.replace(minute=7)
    resolve(c, [msg(ws, "identify", user="u1", traits={"name": "Anna"}, minutes=8)])
    assert [ids for ids in written if ids] == [[cid]]  # a real change is written at once
    assert contact_row(c, cid)["attributes"]["name"] == "Anna"


@pytest.fixture
def row_reads(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    seen: list[list[int]] = []
    real = store.load_rows

    def counting(cur: Any, ids: Any) -> Any:
        wanted = sorted(set(ids))
        seen.append(wanted)
        return real(cur, wanted)

    monkeypatch.setattr(store, "load_rows", counting)
    return seen


def test_known_people_on_new_devices_are_loaded_together_before_the_unit(
    settings: Settings, row_reads: list[list[int]], identity_reads: list[list[int]]
) -> None:
    """Each known person arrives with an anonymous id never seen: attaching it takes the
    rules' slow path, which needs the contact with its identities. The unit loads them all
    in one read of the rows and one of the identities, before its loop, not two reads per
    message (at 1M contacts each was milliseconds: units of ~6,000 such events took 4-7 s)."""
    c = build_container(settings)
    ws = make_workspace(c).id
    people = resolve(c, [msg(ws, "identify", user=f"u{i}", anon=f"a{i}") for i in range(30)])
    c.close()
    c = build_container(settings)  # the writer knows the owners (warm cache), no contact
    try:
        row_reads.clear()
        identity_reads.clear()
        unit = resolve(c, [msg(ws, user=f"u{i}", anon=f"new-{i}", minutes=3) for i in range(30)])
        owners = [m.contact_id for m in people]
        assert [m.contact_id for m in unit] == owners
        assert len(row_reads) == 1
        assert row_reads[0] == sorted(owners)
        assert identity_reads == [sorted(owners)]
        for i, m in enumerate(people):
            assert ("anonymous_id", f"new-{i}") in identities(c, m.contact_id or 0)
    finally:
        c.close()
