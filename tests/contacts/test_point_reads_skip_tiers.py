"""Point reads skip L0 and L1 for contacts with nothing there (``storage/duckdb/tier_members``)
and still answer exactly what every tier holds — also when a unit commits mid-read."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.contacts import profile_sql as ps
from retenta.contacts import queries as q
from retenta.storage.duckdb import compaction as cp
from retenta.storage.duckdb.tier_members import L0_TIER, L1_TIER, MERGES
from tests.conftest import Workspace
from tests.contacts.seed import (
    T0,
    add_events,
    count_read_together,
    event_table,
    merge,
    new_contact,
)
from tests.contacts.test_end_to_end import send


def page_ids(container: Container, ws: str, contact_id: int, limit: int = 100) -> list[str]:
    page = container.contacts.timeline(
        workspace_id=ws, contact_id=contact_id, limit=limit, cursor=None
    )
    return [e["message_id"] for e in page["items"]]


def stored_ids(container: Container, contact_ids: list[int], limit: int = 100) -> list[str]:
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT message_id FROM all_events WHERE list_contains(?, contact_id)"
            " ORDER BY timestamp DESC, message_id DESC LIMIT ?",
            [contact_ids, limit],
        ).fetchall()
    return [r[0] for r in rows]


def flush(container: Container) -> None:
    container.db.write(lambda c: cp.flush(c, max_rows=100_000))


def test_pages_equal_the_stored_events_through_every_tier_move(
    container: Container, ws: Workspace
) -> None:
    ann, bob, cy = (new_contact(container, ws.id) for _ in range(3))
    add_events(container, event_table(ws.id, ann, 5, prefix="old"), target="events")
    add_events(container, event_table(ws.id, bob, 4, prefix="a"))
    flush(container)  # bob → L1
    add_events(container, event_table(ws.id, cy, 3, prefix="c"))  # cy stays in L0
    assert L1_TIER in container.db.probe_event_tiers([ann]).absent
    assert L1_TIER not in container.db.probe_event_tiers([bob]).absent
    assert L1_TIER in container.db.probe_event_tiers([cy]).absent
    for who in (ann, bob, cy):
        assert page_ids(container, ws.id, who) == stored_ids(container, [who]) != []
    container.db.write(lambda c: cp.start_pass(c, cp.L2, step_rows=1_000))
    while container.db.write(cp.pass_in_progress) is not None:
        container.db.write(lambda c: cp.pass_step(c, cp.L2))
    assert L1_TIER in container.db.probe_event_tiers([bob]).absent  # moved on to L2
    for who in (ann, bob, cy):
        assert page_ids(container, ws.id, who) == stored_ids(container, [who])


def test_a_contact_in_l1_has_l1_read_beside_the_rest_and_gets_the_newest(
    container: Container, ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events interleaved in time across L2, L1 and L0; each page of any size equals the
    plain read, though L1's newest and the rest's newest come from two statements."""
    ann = new_contact(container, ws.id)
    add_events(container, event_table(ws.id, ann, 4, prefix="two"), target="events")
    add_events(
        container, event_table(ws.id, ann, 4, start=T0 + timedelta(seconds=30), prefix="one")
    )
    flush(container)
    add_events(
        container, event_table(ws.id, ann, 3, start=T0 + timedelta(seconds=45), prefix="zero")
    )
    assert container.db.probe_event_tiers([ann]).absent == {MERGES}  # in every event tier
    fanned = count_read_together(container, monkeypatch)
    for limit in (1, 2, 5, 100):
        assert page_ids(container, ws.id, ann, limit) == stored_ids(container, [ann], limit)
    assert fanned == [2, 2, 2, 2]
    assert len(page_ids(container, ws.id, ann, 100)) == 11


def test_merged_contacts_and_later_pages_read_l1_when_any_of_them_is_there(
    container: Container, ws: Workspace
) -> None:
    winner, loser = new_contact(container, ws.id), new_contact(container, ws.id)
    add_events(container, event_table(ws.id, winner, 3, prefix="w"), target="events")
    add_events(container, event_table(ws.id, loser, 3, prefix="l"))
    flush(container)  # the loser's events → L1
    merge(container, ws.id, winner=winner, loser=loser)
    first = container.contacts.timeline(workspace_id=ws.id, contact_id=winner, limit=4, cursor=None)
    rest = container.contacts.timeline(
        workspace_id=ws.id, contact_id=winner, limit=4, cursor=first["next_cursor"]
    )
    got = [e["message_id"] for e in first["items"] + rest["items"]]
    assert got == stored_ids(container, [winner, loser])
    assert len(got) == 6


def test_a_flush_committed_during_the_read_makes_it_read_again(
    container: Container, ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe said "not in L1" (the events were in L0); before the page's statement ran,
    a flush committed and moved them to L1. The statement skipping L1 saw none of them; the
    probe no longer holds, so the page is read again from every tier."""
    ann = new_contact(container, ws.id)
    add_events(container, event_table(ws.id, ann, 6, prefix="r"))
    real = q.live_first_page
    skipped: list[frozenset[str]] = []

    def flush_first(cur: Any, *args: Any, skip: frozenset[str] = frozenset(), **kw: Any) -> Any:
        skipped.append(skip)
        if len(skipped) == 1:
            flush(container)
            assert real(cur, *args, skip=skip, **kw) == []  # what a trusted probe would give
        return real(cur, *args, skip=skip, **kw)

    monkeypatch.setattr(q, "live_first_page", flush_first)
    assert page_ids(container, ws.id, ann) == stored_ids(container, [ann])
    assert len(stored_ids(container, [ann])) == 6
    assert skipped == [frozenset({L1_TIER, MERGES}), frozenset()]


def test_the_profile_reads_l0_again_when_events_landed_during_the_read(
    container: Container, ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe said "not in L0"; before the profile's halves ran, a unit committed the
    contact's first events into L0. The halves without L0 missed them; the probe no
    longer holds, so they are read again with L0."""
    ann = new_contact(container, ws.id)
    assert L0_TIER in container.db.probe_event_tiers([ann]).absent
    real = ps._halves
    calls: list[bool] = []

    def append_first(together: Any, args: list[Any], *, skip_l0: bool) -> Any:
        calls.append(skip_l0)
        if len(calls) == 1:
            add_events(container, event_table(ws.id, ann, 2, prefix="late"))
        return real(together, args, skip_l0=skip_l0)

    monkeypatch.setattr(ps, "_halves", append_first)
    profile = container.contacts.profile(workspace_id=ws.id, contact_id=ann)
    assert calls == [True, False]
    assert profile["traits"]["last_activity_at"] is not None  # from the late events
    assert profile["traits"]["favourite_category"] == "Shoes"


def test_a_merge_by_identity_resolution_marks_both_and_the_page_shows_both(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    """The merge goes through identity's own write (``insert_merges``), which marks the
    winner and the loser: the winner's first page is read with its merged contact's events."""
    send(client, ws, "track", {"messageId": "b-1", "anonymousId": "dev-2", "event": "Viewed",
                               "timestamp": "2026-01-01T10:00:00Z"})  # fmt: skip
    send(client, ws, "identify", {"messageId": "a-1", "userId": "u-1",
                                  "traits": {"email": "ana@example.com"},
                                  "timestamp": "2026-01-01T10:01:00Z"})  # fmt: skip
    with container.db.read() as cur:
        assert cur.execute("SELECT count(*) FROM merges").fetchone() == (0,)
    winner = container.contacts.find(workspace_id=ws.id, id_type="external_id", value="u-1")
    loser = container.contacts.find(workspace_id=ws.id, id_type="anonymous_id", value="dev-2")
    assert None not in (winner, loser)
    assert winner != loser
    assert MERGES in container.db.probe_event_tiers([winner]).absent  # plain, so far
    send(client, ws, "identify", {"messageId": "a-2", "userId": "u-1", "anonymousId": "dev-2",
                                  "timestamp": "2026-01-01T10:02:00Z"})  # fmt: skip
    with container.db.read() as cur:
        merged = cur.execute("SELECT winner_id, loser_id FROM merges").fetchall()
    assert len(merged) == 1
    for contact_id in merged[0]:
        assert MERGES not in container.db.probe_event_tiers([contact_id]).absent
    page = client.get(f"/api/v1/contacts/{merged[0][0]}/events", headers=ws.api_headers).json()
    assert [e["message_id"] for e in page["items"]] == ["a-2", "a-1", "b-1"]


def test_a_plain_contact_without_events_or_of_another_workspace_is_still_checked(
    client: TestClient, container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    quiet = new_contact(container, ws.id)
    busy = new_contact(container, ws.id)
    add_events(container, event_table(ws.id, busy, 2, prefix="q"), target="events")
    for contact_id in (quiet, busy):
        assert MERGES in container.db.probe_event_tiers([contact_id]).absent
    assert page_ids(container, ws.id, quiet) == []  # the liveness read: it exists, no events
    assert len(page_ids(container, ws.id, busy)) == 2
    for contact_id in (quiet, busy, 10**9):
        resp = client.get(f"/api/v1/contacts/{contact_id}/events", headers=other_ws.api_headers)
        assert resp.status_code == 404, (contact_id, resp.text)


def test_a_merge_committed_during_a_plain_read_makes_it_read_again(
    container: Container, ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe said the contact was plain; before its page was read, another contact was
    merged into it. The page without liveness rows shows the winner's events only; the
    probe no longer holds, so the page is read again the general way, with the loser's."""
    winner, loser = new_contact(container, ws.id), new_contact(container, ws.id)
    add_events(container, event_table(ws.id, winner, 2, prefix="w"), target="events")
    add_events(container, event_table(ws.id, loser, 2, prefix="l"), target="events")
    real = q._live_page_rows
    calls: list[bool] = []

    def merge_first(*args: Any, liveness: bool = True) -> Any:
        calls.append(liveness)
        if len(calls) == 1:
            merge(container, ws.id, winner=winner, loser=loser)
        return real(*args, liveness=liveness)

    monkeypatch.setattr(q, "_live_page_rows", merge_first)
    assert page_ids(container, ws.id, winner) == stored_ids(container, [winner, loser])
    assert len(stored_ids(container, [winner, loser])) == 4
    assert calls[0] is False  # read as plain first
