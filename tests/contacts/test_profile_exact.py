"""The profile, the lookups and the timeline answer exactly what the read code of
``fc6aa38`` answered (``profile_oracle.py``, frozen verbatim), byte for byte, on a store
with every state those reads tell apart: orders with returns, cancellations, lines without
a category (the product's), an order without lines; consents with late and tied changes;
events in every tier with and without a viewed category; merges (a chain, a reverted one,
a winner with more contacts merged in than the prepared statements cover); erased
contacts; another workspace; unknown ids."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import orjson
import pyarrow as pa
import pytest
from fastapi.encoders import jsonable_encoder

from retenta.app import Container
from retenta.contacts.consent import record_consent
from retenta.contacts.queries import MAX_PREPARED_BRANCHES
from retenta.contacts.traits import (
    computed_traits,
    consent_state,
    decode_event_cursor,
    encode_event_cursor,
    order_summary,
)
from retenta.errors import ApiError
from retenta.storage.duckdb.events import EVENT_SCHEMA
from tests.conftest import Workspace
from tests.contacts import profile_oracle as old
from tests.contacts.seed import T0, add_events, add_order, count_read_together, merge, new_contact

EVENTS = ("Product Viewed", "Product Added", "Order Completed", "Email Opened")
CATEGORIES = ("Shoes", "Bags", None, "Hats")


def events(ws: str, cid: int, n: int, *, prefix: str, start_h: int) -> pa.Table:
    """``n`` events of mixed kinds (some viewed products without a category), with
    repeated timestamps so the page order falls back to the message id."""
    times = [T0 + timedelta(hours=start_h, minutes=(i // 2) * 7) for i in range(n)]
    props = [
        {"sku": f"s{i % 5}", **({"category": c} if (c := CATEGORIES[i % 4]) else {})}
        for i in range(n)
    ]
    cols: dict[str, list[Any]] = {
        "workspace_id": [ws] * n,
        "message_id": [f"{prefix}-{cid}-{i:04d}" for i in range(n)],
        "contact_id": [cid] * n,
        "type": ["track" if i % 7 else "page" for i in range(n)],
        "event": [EVENTS[(i * 3 + cid) % 4] for i in range(n)],
        "user_id": [None] * n,
        "anonymous_id": [f"anon-{cid}"] * n,
        "timestamp": times,
        "original_timestamp": times,
        "sent_at": times,
        "received_at": [t + timedelta(seconds=1) for t in times],
        "properties": [orjson.dumps(p).decode() for p in props],
        "traits": [None if i % 3 else '{"plan": "pro"}' for i in range(n)],
        "context": ['{"ip": "10.0.0.1"}'] * n,
        "source": ["api"] * n,
    }
    return pa.table(cols, schema=EVENT_SCHEMA)


def old_profile(container: Container, ws: str, contact_id: int) -> dict[str, Any] | None:
    """``ContactService.profile`` at ``fc6aa38``."""
    with container.db.read() as cur:
        found = old.read_profile(cur, ws, contact_id, container.identity.timeline_contact_ids)
    if found is None:
        return None
    figures, bought = order_summary(found.orders, found.lines)
    return {
        **found.head.row,
        "identifiers": found.identifiers,
        "consents": {"current": consent_state(found.consents), "history": found.consents},
        "traits": computed_traits(figures, bought, found.viewed, found.last_activity),
        "merged_from": found.ids[1:],
    }


def old_lookup(container: Container, ws: str, id_type: str, value: str) -> Any:
    with container.db.read() as cur:
        found = old.holder_of(cur, ws, id_type, value)
    return None if found is None else old_profile(container, ws, found)


def old_timeline(
    container: Container, ws: str, contact_id: int, limit: int, cursor: str | None
) -> dict[str, Any] | None:
    """``ContactService.timeline`` at ``fc6aa38``."""
    before = decode_event_cursor(cursor) if cursor else None
    with container.db.read() as cur:
        exists, merged_into, merged_in = old.liveness(cur, ws, contact_id)
        if exists and merged_into is None and not merged_in:
            ids = [contact_id]
        else:
            live = old.live_contact_id(cur, ws, contact_id) if exists else None
            if live is None:
                return None
            ids = [live]
            if old.has_merged_in(cur, ws, live):
                merged = container.identity.timeline_contact_ids(cur, ws, live)
                ids += sorted(i for i in set(merged) if i != live)
        items = old.timeline(cur, ws, ids, limit=limit + 1, before=before)
    last = items[limit - 1] if len(items) > limit else None
    next_cursor = encode_event_cursor(last["timestamp"], last["message_id"]) if last else None
    return {"items": items[:limit], "next_cursor": next_cursor}


def answer(fn: Any, *args: Any, **kwargs: Any) -> bytes | int | None:
    """``fn``'s answer as its repr and the JSON bytes a client gets (None: not found; an
    ``ApiError``: its status)."""
    try:
        found = fn(*args, **kwargs)
    except ApiError as exc:
        return None if exc.status == 404 else exc.status
    if found is None:
        return None
    return repr(found).encode() + b"\n" + orjson.dumps(jsonable_encoder(found))


@pytest.fixture
def store(container: Container, ws: Workspace, other_ws: Workspace) -> dict[str, Any]:
    """Contacts in every state, their identifiers, orders, consents and events."""
    ids: dict[str, int] = {}
    for n in range(14):
        name = f"c{n}"
        ident = [("email", f"{name}@example.com"), ("phone", f"+3806700000{n:02d}")]
        ident += [("external_id", f"ext-{n}")] if n % 2 else []
        attributes = {"first_name": f"Name{n}", "plan": "pro"} if n % 3 else {}
        ids[name] = new_contact(
            container, ws.id, identities=ident, attributes=attributes, created_at=T0
        )
    # events in every tier (L2, L1, L0; the summary follows the bulk appends)
    for n, cid in enumerate(ids.values()):
        add_events(container, events(ws.id, cid, 5 + n, prefix="l2", start_h=n), "events")
        if n % 2:
            add_events(container, events(ws.id, cid, 3, prefix="l1", start_h=40), "events_l1")
        if n % 3:
            add_events(container, events(ws.id, cid, 2 + n % 4, prefix="l0", start_h=80))
    # orders: paid with a return, cancelled, lines without a category, an order without lines
    lines = [("s1", "Shoes", 2, 50.0, 1), ("s2", None, 1, 30.0, 0)]
    add_order(container, ws.id, ids["c1"], "o1", lines)
    later = T0 + timedelta(days=2)
    add_order(container, ws.id, ids["c1"], "o2", [("s3", None, 3, 20.0, 0)], placed_at=later)
    add_order(container, ws.id, ids["c2"], "o3", [("s1", "Bags", 1, 10.0, 0)], status="cancelled")
    add_order(container, ws.id, ids["c3"], "o4", [])
    add_order(container, ws.id, ids["c4"], "o5", [("s4", "Hats", 1, 15.0, 1)])
    for k in range(MAX_PREPARED_BRANCHES + 2):  # more orders than a prepared lines statement
        add_order(container, ws.id, ids["c5"], f"o6-{k}", [(f"s{k}", None, 1, 5.0 + k, 0)])

    def products(cur: Any) -> None:
        for sku, path in (("s2", ["Home", "Bags"]), ("s3", ["Kids", "Toys"]), ("s0", ["X"])):
            cur.execute(
                "INSERT INTO products (workspace_id, sku, category_path, created_at, updated_at)"
                " VALUES (?, ?, ?, now(), now())",
                [ws.id, sku, path],
            )

    container.db.write(products)

    # consents: several channels, a late older change, two changes at the same time
    def consents(conn: Any) -> None:
        for cid, channel, status, hours in (
            (ids["c1"], "email", "subscribed", 1),
            (ids["c1"], "email", "unsubscribed", 5),
            (ids["c1"], "email", "subscribed", 3),  # late, older: stays in the history only
            (ids["c1"], "sms", "pending", 2),
            (ids["c1"], "sms", "subscribed", 2),  # same time: the one recorded last wins
            (ids["c6"], "email", "subscribed", 1),
            (ids["c8"], "viber", "unsubscribed", 4),
        ):
            record_consent(
                conn, workspace_id=ws.id, contact_id=cid, channel=channel, status=status,
                source="test", changed_at=T0 + timedelta(hours=hours),
            )  # fmt: skip

    container.db.write(consents)
    # merges: c7 <- c8 <- c9 (a chain), c10 <- c11 reverted, c12 <- c0, c2..c6 (5 merged in)
    merge(container, ws.id, winner=ids["c8"], loser=ids["c9"])
    merge(container, ws.id, winner=ids["c7"], loser=ids["c8"])
    merge(container, ws.id, winner=ids["c10"], loser=ids["c11"])
    for name in ("c0", "c2", "c3", "c4", "c6"):
        merge(container, ws.id, winner=ids["c12"], loser=ids[name])

    def revert(cur: Any) -> None:
        cur.execute("UPDATE merges SET reverted_at = now() WHERE winner_id = ?", [ids["c10"]])
        cur.execute("UPDATE contacts SET merged_into = NULL WHERE id = ?", [ids["c11"]])
        cur.execute("UPDATE identities SET contact_id = ? WHERE value LIKE 'c11@%'", [ids["c11"]])

    container.db.write(revert)
    # erased: c13 through the real erasure
    asyncio.run(
        container.contacts.erase(workspace_id=ws.id, contact_id=ids["c13"], requested_by="test")
    )
    # another workspace: a contact with the same identifiers as c1
    ids["elsewhere"] = new_contact(container, other_ws.id, identities=[("email", "c1@example.com")])
    add_events(container, events(other_ws.id, ids["elsewhere"], 4, prefix="x", start_h=1))
    return ids


def test_profiles_and_lookups_equal_the_old_reads(
    container: Container, ws: Workspace, store: dict[str, Any]
) -> None:
    service = container.contacts
    checked = 0
    for cid in [*store.values(), 10**9, -1, 0]:
        new = answer(service.profile, workspace_id=ws.id, contact_id=cid)
        assert new == answer(old_profile, container, ws.id, cid), cid
        checked += new is not None
    assert checked == 13  # 14 contacts, one erased (merged-away ids answer the live one)
    merged = orjson.loads(
        orjson.dumps(jsonable_encoder(service.profile(workspace_id=ws.id, contact_id=store["c2"])))
    )
    assert merged["id"] == store["c12"]
    assert len(merged["merged_from"]) > MAX_PREPARED_BRANCHES
    for n in range(15):
        for id_type, value in (
            ("email", f"c{n}@example.com"),
            ("phone", f"+3806700000{n:02d}"),
            ("external_id", f"ext-{n}"),
        ):
            new = answer(service.lookup, workspace_id=ws.id, id_type=id_type, value=value)
            want = answer(old_lookup, container, ws.id, id_type, value)
            assert new == want, (id_type, value)


@pytest.mark.parametrize("limit", [100, 4])
def test_timeline_pages_equal_the_old_reads(
    container: Container, ws: Workspace, store: dict[str, Any], limit: int
) -> None:
    service = container.contacts
    pages = 0
    for cid in [*store.values(), 10**9]:
        cursor: str | None = None
        while True:
            new = answer(
                service.timeline, workspace_id=ws.id, contact_id=cid, limit=limit, cursor=cursor
            )
            assert new == answer(old_timeline, container, ws.id, cid, limit, cursor)
            if new is None:
                break
            pages += 1
            found = service.timeline(workspace_id=ws.id, contact_id=cid, limit=limit, cursor=cursor)
            cursor = found["next_cursor"]
            if cursor is None:
                break
    assert pages >= (12 if limit == 100 else 40)


def test_a_plain_profile_is_read_in_two_halves_side_by_side(
    container: Container, ws: Workspace, store: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """c1 (orders, consents, events in every tier, nothing merged) is read through
    ``read_together`` as two statements, and answers what the old reads answered."""
    calls = count_read_together(container, monkeypatch)
    cid = store["c1"]
    new = answer(container.contacts.profile, workspace_id=ws.id, contact_id=cid)
    assert new is not None
    assert new == answer(old_profile, container, ws.id, cid)
    assert calls == [2]
