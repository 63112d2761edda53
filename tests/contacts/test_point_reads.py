"""The point reads behind lookups and timelines (``contacts/queries.py``): the statements
that filter by the indexed key alone and check workspace, erasure and reverts in Python
must answer exactly what the plainly filtered SQL answers, in every state a contact can
be in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from retenta.app import Container
from retenta.contacts import queries as q
from tests.conftest import Workspace
from tests.contacts.seed import T0, add_events, add_order, event_table, merge, new_contact

BASE = "/api/v1/contacts"


def reference(cur: Any, ws: str, contact_id: int) -> tuple[bool, int | None, bool]:
    """``(exists, merged_into, has_merged_in)`` with every condition in SQL."""
    row = cur.execute(
        "SELECT merged_into FROM contacts WHERE id = ? AND workspace_id = ? AND erased_at IS NULL",
        [contact_id, ws],
    ).fetchone()
    merged_in = cur.execute(
        "SELECT count(*) FROM merges WHERE workspace_id = ? AND winner_id = ?"
        " AND reverted_at IS NULL",
        [ws, contact_id],
    ).fetchone()[0]
    return row is not None, (row[0] if row else None), bool(merged_in)


@pytest.fixture
def states(container: Container, ws: Workspace, other_ws: Workspace) -> dict[str, int]:
    """One contact in each state the reads must tell apart."""
    c = {
        name: new_contact(container, ws.id, identities=[("email", f"{name}@example.com")])
        for name in ("live", "winner", "loser", "reverted_winner", "reverted_loser", "erased")
    }
    merge(container, ws.id, winner=c["winner"], loser=c["loser"])
    merge(container, ws.id, winner=c["reverted_winner"], loser=c["reverted_loser"])

    def settle(cur: Any) -> None:
        cur.execute(
            "UPDATE merges SET reverted_at = ? WHERE winner_id = ?",
            [datetime.now(UTC), c["reverted_winner"]],
        )
        cur.execute("UPDATE contacts SET merged_into = NULL WHERE id = ?", [c["reverted_loser"]])
        cur.execute(
            "UPDATE contacts SET erased_at = ? WHERE id = ?", [datetime.now(UTC), c["erased"]]
        )
        container.db.tier_members.note_all(cur)  # written by hand: the point reads' bitmaps

    container.db.write(settle)
    c["elsewhere"] = new_contact(container, other_ws.id, identities=[("email", "live@example.com")])
    return c


def test_liveness_equals_the_filtered_sql_in_every_state(
    container: Container, ws: Workspace, states: dict[str, int]
) -> None:
    with container.db.read() as cur:
        for name, cid in [*states.items(), ("unknown", 10**9)]:
            assert q.liveness(cur, ws.id, cid) == reference(cur, ws.id, cid), name
        assert q.liveness(cur, ws.id, states["winner"]) == (True, None, True)
        assert q.liveness(cur, ws.id, states["loser"]) == (True, states["winner"], False)
        assert q.liveness(cur, ws.id, states["reverted_winner"]) == (True, None, False)
        assert q.liveness(cur, ws.id, states["erased"])[0] is False
        assert q.liveness(cur, ws.id, states["elsewhere"])[0] is False


def test_live_contact_and_holder_follow_workspace_merges_and_erasure(
    container: Container, ws: Workspace, other_ws: Workspace, states: dict[str, int]
) -> None:
    with container.db.read() as cur:
        assert q.live_contact_id(cur, ws.id, states["loser"]) == states["winner"]
        assert q.live_contact_id(cur, ws.id, states["live"]) == states["live"]
        assert q.live_contact_id(cur, ws.id, states["erased"]) is None
        assert q.live_contact_id(cur, ws.id, states["elsewhere"]) is None
        assert q.live_contact_id(cur, other_ws.id, states["elsewhere"]) == states["elsewhere"]
        # the same value held in two workspaces: each sees its own contact, by type only
        assert q.holder_of(cur, ws.id, "email", "live@example.com") == states["live"]
        assert q.holder_of(cur, other_ws.id, "email", "live@example.com") == states["elsewhere"]
        assert q.holder_of(cur, ws.id, "phone", "live@example.com") is None
        assert q.holder_of(cur, ws.id, "email", "nobody@example.com") is None
        # identities moved to the winner at the merge; find follows the contact row
        assert q.find_contact(cur, ws.id, "email", "loser@example.com") == states["winner"]


def test_timeline_answers_by_state(
    client: TestClient, container: Container, ws: Workspace, states: dict[str, int]
) -> None:
    for name in ("live", "winner", "loser", "reverted_winner", "reverted_loser"):
        add_events(container, event_table(ws.id, states[name], 3, prefix=name))

    def page(cid: int) -> tuple[int, list[str]]:
        resp = client.get(f"{BASE}/{cid}/events", headers=ws.api_headers)
        items = resp.json().get("items", []) if resp.status_code == 200 else []
        return resp.status_code, sorted(i["message_id"].split("-")[0] for i in items)

    assert page(states["live"]) == (200, ["live"] * 3)
    both = sorted(["loser"] * 3 + ["winner"] * 3)
    assert page(states["winner"]) == (200, both)
    assert page(states["loser"]) == (200, both)  # a merged-away id reads the live contact
    assert page(states["reverted_winner"]) == (200, ["reverted_winner"] * 3)
    assert page(states["reverted_loser"]) == (200, ["reverted_loser"] * 3)
    assert page(states["erased"])[0] == 404
    assert page(states["elsewhere"])[0] == 404
    assert page(10**9)[0] == 404


def test_order_lines_take_the_product_category_only_when_they_have_none(
    container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    ann = new_contact(container, ws.id)
    add_order(container, ws.id, ann, "o1", [("s1", "Shoes", 2, 50.0, 1), ("s2", None, 1, 30.0, 0)])
    add_order(container, ws.id, ann, "o2", [("s3", None, 1, 20.0, 0)])
    # the same order id and skus in another workspace must not leak in
    add_order(container, other_ws.id, new_contact(container, other_ws.id), "o1",
              [("s2", "Elsewhere", 5, 1.0, 0)])  # fmt: skip

    def products(cur: Any) -> None:
        for w, sku, path in ((ws.id, "s1", ["Women", "Boots"]), (ws.id, "s2", ["Home", "Bags"]),
                             (other_ws.id, "s3", ["Other"])):  # fmt: skip
            cur.execute(
                "INSERT INTO products (workspace_id, sku, category_path, created_at, updated_at)"
                " VALUES (?, ?, ?, now(), now())",
                [w, sku, path],
            )

    container.db.write(products)
    with container.db.read() as cur:
        got = q.lines_of(cur, ws.id, ["o1", "o2"])
        want = cur.execute(
            "SELECT i.order_id, coalesce(i.category, p.category_path[-1]), i.quantity, i.price,"
            " i.returned_quantity FROM order_items i LEFT JOIN products p"
            " ON p.workspace_id = i.workspace_id AND p.sku = i.sku"
            " WHERE i.workspace_id = ? AND i.order_id IN ('o1', 'o2')",
            [ws.id],
        ).fetchall()
    keys = ("order_id", "category", "quantity", "price", "returned_quantity")
    assert sorted(tuple(line[k] for k in keys) for line in got) == sorted(want)
    assert sorted((line["order_id"], line["category"]) for line in got) == [
        ("o1", "Bags"),  # no category on the line: the product's last one
        ("o1", "Shoes"),  # the line's own, not the product's
        ("o2", None),  # no product in this workspace
    ]
    with container.db.read() as cur:
        assert q.lines_of(cur, ws.id, []) == []


def test_timeline_never_shows_another_workspaces_rows_under_the_same_contact_id(
    container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    """Contact ids are unique across workspaces, so this cannot happen through ingestion;
    written by hand, such rows make the page be read again with the workspace filter."""
    ann = new_contact(container, ws.id)
    add_events(container, event_table(ws.id, ann, 5, prefix="mine"))
    later = T0 + timedelta(hours=1)  # theirs are the newest: a page without the check shows them
    add_events(container, event_table(other_ws.id, ann, 5, prefix="theirs", start=later))
    with container.db.read() as cur:
        page = q.timeline(cur, ws.id, [ann], limit=3)
        assert [e["message_id"].split("-")[0] for e in page] == ["mine"] * 3
        assert len(q.timeline(cur, ws.id, [ann], limit=100)) == 5
        assert len(q.timeline(cur, other_ws.id, [ann], limit=100)) == 5


def test_point_reads_answer_the_bytes_fastapi_sends_for_a_dict(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    """The GET routes build their JSON themselves (one threadpool hop fewer); the bytes
    must be those of FastAPI's own ``dict[str, Any]`` answer (pydantic's serializer)."""
    ann = new_contact(container, ws.id, identities=[("email", "ann@example.com")])
    add_events(container, event_table(ws.id, ann, 4))
    add_order(container, ws.id, ann, "o1", [("s1", "Shoes", 2, 12.5, 1)])
    adapter = TypeAdapter(dict[str, Any])
    service = container.contacts
    for path, params, data in (
        (f"{BASE}/{ann}", {}, service.profile(workspace_id=ws.id, contact_id=ann)),
        (
            f"{BASE}/lookup",
            {"email": "ann@example.com"},
            service.lookup(workspace_id=ws.id, id_type="email", value="ann@example.com"),
        ),
        (
            f"{BASE}/{ann}/events",
            {"limit": 3},
            service.timeline(workspace_id=ws.id, contact_id=ann, limit=3, cursor=None),
        ),
    ):
        resp = client.get(path, params=params, headers=ws.api_headers)
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "application/json"
        assert resp.content == adapter.dump_json(adapter.validate_python(data)), path
    assert b'"revenue":12.5' in client.get(f"{BASE}/{ann}", headers=ws.api_headers).content
    schema = client.get("/openapi.json").json()["paths"][f"{BASE}/{{contact_id}}/events"]
    assert schema["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "additionalProperties": True,
        "type": "object",
        "title": "Response Contact Events Api V1 Contacts  Contact Id  Events Get",
    }


def test_holders_of_equals_one_holder_of_per_identifier(
    container: Container, ws: Workspace, other_ws: Workspace, states: dict[str, int]
) -> None:
    wanted = [
        ("email", "winner@example.com"),
        ("phone", "live@example.com"),  # no such phone
        ("email", "live@example.com"),  # also held in the other workspace
        ("email", "loser@example.com"),  # moved to the winner at the merge
        ("external_id", "nobody"),
    ]
    with container.db.read() as cur:
        one_by_one = [q.holder_of(cur, ws.id, t, v) for t, v in wanted]
        assert q.holders_of(cur, ws.id, wanted) == [c for c in one_by_one if c is not None]
        winner, live = states["winner"], states["live"]
        assert q.holders_of(cur, ws.id, wanted) == [winner, live, winner]
        assert q.holders_of(cur, other_ws.id, wanted) == [states["elsewhere"]]


def test_timeline_times_and_order_are_the_stored_ones(container: Container, ws: Workspace) -> None:
    """Every time of a page equals (and serializes like) the stored one, in every tier, and
    the page is in the plain ``ORDER BY timestamp DESC, message_id DESC`` order (ties, times
    before the epoch and far ahead included): a guard for any read of the page
    that does not hand DuckDB's own datetimes through (session 8 measured one)."""
    ann = new_contact(container, ws.id)
    odd = [
        datetime(1969, 12, 31, 23, 59, 59, 500_001, tzinfo=UTC),  # before the epoch
        datetime(2025, 3, 1, 10, 11, 12, 123_456, tzinfo=UTC),
        datetime(2025, 3, 1, 10, 11, 12, 123_456, tzinfo=UTC),  # a tie: message_id decides
        datetime(2262, 4, 11, 23, 47, 16, 854_775, tzinfo=UTC),
    ]
    for n, tier in enumerate(("events", "events_l1", "events_recent")):
        table = event_table(ws.id, ann, len(odd), prefix=f"t{n}")
        table = table.set_column(table.schema.get_field_index("timestamp"), "timestamp",
                                 pa.array(odd, pa.timestamp("us", tz="UTC")))  # fmt: skip
        received = odd[::-1]  # its own times, so a swapped column would show
        table = table.set_column(table.schema.get_field_index("received_at"), "received_at",
                                 pa.array(received, pa.timestamp("us", tz="UTC")))  # fmt: skip
        add_events(container, table, target=tier)
    adapter = TypeAdapter(Any)
    with container.db.read() as cur:
        page = q.timeline(cur, ws.id, [ann], limit=100)
        plain = cur.execute(
            "SELECT message_id, timestamp, received_at FROM all_events WHERE contact_id = ?"
            " ORDER BY timestamp DESC, message_id DESC",
            [ann],
        ).fetchall()
    assert [(e["message_id"], e["timestamp"], e["received_at"]) for e in page] == plain
    for event, (_, ts, received) in zip(page, plain, strict=True):
        assert adapter.dump_json(event["timestamp"]) == adapter.dump_json(ts)
        assert adapter.dump_json(event["received_at"]) == adapter.dump_json(received)
        assert event["timestamp"].utcoffset() == timedelta(0)
