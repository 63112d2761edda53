"""Order traits read through ``order_summary`` give the same members and figures as the
``contact_traits`` view — with merges, returns, orders without lines and lines without an
order — and the sync check refuses a summary that missed a write."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retenta.app import Container, build_container
from retenta.contacts.privacy import delete_person_rows
from retenta.core.messages import Message
from retenta.segments import order_summary
from retenta.segments.compiler import compile_segment
from retenta.segments.evaluate import Draft, members_sql
from retenta.segments.views import with_views
from retenta.settings import Settings
from retenta.storage.duckdb import event_facts
from tests.conftest import make_workspace
from tests.segments.test_equivalence_data import (
    NOW,
    SKUS,
    duckdb_members,
    load_duckdb,
    make_dataset,
    read_view,
)

FIGURES = "contact_id, orders, revenue, average_order_value, first_order_at, last_order_at"
Store = tuple[Container, str, list[int]]


def _shape(conn: Any, ws: str, ids: list[int]) -> None:
    """Merges, a returned line, an order without lines and a line without an order."""
    conn.execute("UPDATE contacts SET merged_into = ? WHERE workspace_id = ? AND id = ?",
                 [ids[1], ws, ids[0]])  # fmt: skip
    conn.execute("UPDATE contacts SET merged_into = ? WHERE workspace_id = ? AND id = ?",
                 [ids[2], ws, ids[1]])  # fmt: skip
    conn.execute("UPDATE order_items SET returned_quantity = 1, fp = NULL WHERE workspace_id = ?"
                 " AND line_no = 1 AND hash(order_id) % 4 = 0", [ws])  # fmt: skip
    conn.execute("DELETE FROM order_items WHERE workspace_id = ? AND hash(order_id) % 5 = 0", [ws])
    conn.execute("INSERT INTO order_items (workspace_id, order_id, line_no, sku, quantity, price)"
                 " VALUES (?, 'o-missing', 1, 'sku-1', 2, 10.00)", [ws])  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    base = tmp_path_factory.mktemp("order-summary")
    container = build_container(Settings(data_dir=base / "data", background_workers=False))
    ws = make_workspace(container).id
    data = make_dataset(seed=11, contacts=60)
    load_duckdb(container, ws, data)
    buyers = sorted({o["contact_id"] for o in data.orders})
    container.db.write(lambda conn: _shape(conn, ws, buyers))
    container.db.write(lambda conn: order_summary.rebuild(conn, ws))
    yield container, ws, buyers
    container.close()


def synced(store: Store) -> bool:
    container, ws, _ = store
    with container.db.read() as cur:
        return order_summary.in_sync(cur, ws)


def delta_contacts(store: Store) -> set[int]:
    """The contacts the last sync check on this thread recomputed (its TEMP delta)."""
    container = store[0]
    with container.db.read() as cur:
        found = cur.execute("SELECT contact_id FROM temp.main.order_summary_delta").fetchall()
    return {int(r[0]) for r in found}


def figures(store: Store, view: str) -> list[dict[str, Any]]:
    container, ws, _ = store
    return read_view(container, ws, f"SELECT {FIGURES} FROM {view} ORDER BY contact_id")


def members(store: Store, root: dict[str, Any], *, summary: bool) -> set[int]:
    container, ws, _ = store
    sql = compile_segment({"root": root}, workspace_id=ws, now=NOW, order_summary=summary).sql
    assert ("order_summary" in sql) == summary
    return duckdb_members(container, sql)


def test_the_summary_gives_the_traits_views_figures(store: Store) -> None:
    assert synced(store)
    expected = figures(store, "contact_traits")
    assert figures(store, "_order_traits") == expected
    merged_into = store[2][2]
    assert next(r for r in expected if r["contact_id"] == merged_into)["orders"] > 0
    assert all(r["contact_id"] not in store[2][:2] for r in expected)  # merged away


class _Undo(Exception):
    """Raised to roll a writer unit back."""


def test_merges_into_a_buyer_sum_both_rows_on_every_path(store: Store) -> None:
    """A contact merged into another buyer: the target's own summary row and the merged
    one's add up (the views pass a row through as is only for contacts no merge touches)."""
    container, ws, _ = store
    views = "_order_traits", "_order_traits_plain", "contact_traits"
    sql = {v: with_views(sqlglot.parse_one(f"SELECT {FIGURES} FROM {v} ORDER BY contact_id"),
                         ws).sql("duckdb") for v in views}  # fmt: skip
    seen: dict[str, list[Any]] = {}

    def work(conn: Any) -> None:
        pair = conn.execute(
            "SELECT s.contact_id FROM order_summary AS s JOIN contacts AS c ON c.id = s.contact_id"
            " WHERE s.workspace_id = $ws AND c.workspace_id = $ws AND s.orders > 0"
            " AND c.merged_into IS NULL AND c.id NOT IN (SELECT merged_into FROM contacts"
            " WHERE workspace_id = $ws AND merged_into IS NOT NULL) ORDER BY 1 LIMIT 3",
            {"ws": ws},
        ).fetchall()
        (a,), (b,), (c,) = pair
        conn.execute("UPDATE contacts SET merged_into = $b WHERE workspace_id = $ws AND id = $a",
                     {"a": a, "b": b, "ws": ws})  # fmt: skip
        seen["ids"] = [a, b, c]
        for v, q in sql.items():
            seen[v] = conn.execute(q).fetchall()
        raise _Undo

    with pytest.raises(_Undo):
        container.db.write(work)
    a, b, c = seen["ids"]
    expected = seen["contact_traits"]
    assert a not in {r[0] for r in expected}
    row_b = next(r for r in expected if r[0] == b)
    row_c = next(r for r in expected if r[0] == c)
    assert row_b[1] > 0
    assert row_c[1] > 0
    assert seen["_order_traits"] == expected
    assert seen["_order_traits_plain"] == expected
    assert synced(store)  # rolled back: the store is as the other tests expect


TRAITS = st.one_of(
    st.builds(lambda op, v: {"type": "trait", "trait": "orders", "op": op, "value": v},
              st.sampled_from(["gte", "lt", "equals"]), st.integers(0, 4)),
    st.builds(lambda t, op, v: {"type": "trait", "trait": t, "op": op, "value": v},
              st.sampled_from(["revenue", "average_order_value"]),
              st.sampled_from(["gt", "lte", "equals"]), st.sampled_from([0, 120.5, 350, 999.99])),
    st.builds(lambda t, v: {"type": "trait", "trait": t, "op": "in_last", "value": v},
              st.sampled_from(["first_order_at", "last_order_at"]), st.sampled_from([30, 180])),
)  # fmt: skip


SLOW_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@settings(max_examples=40, deadline=None, suppress_health_check=SLOW_OK)
@given(leaf=TRAITS, negate=st.booleans())
def test_trait_conditions_have_the_same_members(
    store: Store, leaf: dict[str, Any], negate: bool
) -> None:
    root = {"type": "not", "condition": leaf} if negate else leaf
    assert members(store, root, summary=True) == members(store, root, summary=False)


def test_a_write_the_summary_missed_is_refused_and_a_refresh_catches_up(
    tmp_path: Any,
) -> None:
    container = build_container(Settings(data_dir=tmp_path / "data", background_workers=False))
    try:
        ws = make_workspace(container).id
        data = make_dataset(seed=5, contacts=40)
        load_duckdb(container, ws, data)
        store = (container, ws, [])
        assert not synced(store)  # never built (and orders exist)
        container.db.write(lambda conn: order_summary.rebuild(conn, ws))
        assert synced(store)
        kept = next(o for o in data.orders if o["status"] != "cancelled")
        writes = [
            ("UPDATE order_items SET returned_quantity = 1, fp = NULL WHERE workspace_id = ?"
             " AND order_id = ? AND line_no = 1", [ws, kept["order_id"]]),
            ("UPDATE orders SET status = 'cancelled', fp = NULL WHERE workspace_id = ?"
             " AND order_id = ?",
             [ws, kept["order_id"]]),
            ("INSERT INTO orders (workspace_id, order_id, contact_id, status, total, placed_at,"
             " updated_at) VALUES (?, 'o-new', ?, 'paid', 10.5, now(), now())",
             [ws, kept["contact_id"]]),
        ]  # fmt: skip
        for sql, args in writes:
            container.db.write(lambda conn, s=sql, a=args: conn.execute(s, a))
            assert not synced(store), sql
            refreshed = container.db.write(
                lambda conn: order_summary.refresh(conn, ws, [kept["order_id"], "o-new"])
            )
            assert refreshed == 1
            assert synced(store), sql
            assert figures(store, "_order_traits") == figures(store, "contact_traits")
    finally:
        container.close()


def test_an_erasure_keeps_the_summary_in_sync(tmp_path: Any) -> None:
    container = build_container(Settings(data_dir=tmp_path / "data", background_workers=False))
    try:
        ws = make_workspace(container).id
        data = make_dataset(seed=3, contacts=30)
        load_duckdb(container, ws, data)
        container.db.write(lambda conn: order_summary.rebuild(conn, ws))
        victim = data.orders[0]["contact_id"]
        container.db.write(lambda conn: delete_person_rows(conn, ws, [victim]))
        store = (container, ws, [])
        assert synced(store)
        assert figures(store, "_order_traits") == figures(store, "contact_traits")
    finally:
        container.close()


def test_the_builder_reads_the_summary_only_in_sync(store: Store) -> None:
    container, ws, _ = store
    draft = Draft(ws, "rules", {"root": {"type": "trait", "trait": "average_order_value",
                                          "op": "gte", "value": 100}})  # fmt: skip
    with container.db.read() as cur, event_facts.snapshot(cur) as facts:
        assert "order_summary" in members_sql(
            cur, draft, now=NOW, event_facts=facts, in_snapshot=True
        )
    other = Draft(ws, "rules", {"root": {"type": "trait", "trait": "favourite_category",
                                          "op": "equals", "value": "shoes"}})  # fmt: skip
    with container.db.read() as cur, event_facts.snapshot(cur) as facts:
        assert "order_summary" not in members_sql(
            cur, other, now=NOW, event_facts=facts, in_snapshot=True
        )
    repriced = (
        "UPDATE order_items SET price = price + 1, fp = NULL WHERE workspace_id = ? AND line_no = 2"
    )
    container.db.write(lambda conn: conn.execute(repriced, [ws]))
    with container.db.read() as cur, event_facts.snapshot(cur) as facts:
        assert "order_summary" not in members_sql(
            cur, draft, now=NOW, event_facts=facts, in_snapshot=True
        )
    container.db.write(lambda conn: order_summary.rebuild(conn, ws))


def _contact(client: Any, ws: Any, email: str) -> int:
    made = client.post("/api/v1/contacts", headers=ws.api_headers,
                       json={"identifiers": {"email": email}})  # fmt: skip
    return int(made.json()["id"])


def _order(contact: int, order_id: str, *lines: tuple[str, float, int]) -> dict[str, Any]:
    return {"order_id": order_id, "contact_id": contact, "status": "paid",
            "items": [{"sku": s, "price": p, "quantity": q} for s, p, q in lines]}  # fmt: skip


def test_the_commerce_writer_marks_and_compaction_folds(
    client: Any, container: Container, ws: Any, other_ws: Any
) -> None:
    """Orders through the real API are marked in their transaction; the compaction step
    folds the marks once old enough, and the summary is in sync again with the same figures;
    a workspace without a summary gets one built by its first fold."""
    from datetime import UTC, datetime, timedelta

    from retenta.storage.duckdb.compaction import Compactor

    ann, bob = _contact(client, ws, "ann@example.net"), _contact(client, ws, "bob@example.net")
    first = [_order(ann, "A-1", ("SKU-1", 40.0, 2)), _order(bob, "B-1", ("SKU-2", 15.5, 1))]
    posted = client.post("/api/v1/orders", headers=ws.api_headers, json={"orders": first})
    assert posted.status_code == 200, posted.text
    container.db.write(lambda conn: order_summary.rebuild(conn, ws.id))
    store = (container, ws.id, [])
    assert synced(store)
    more = client.post("/api/v1/orders", headers=ws.api_headers, json={"orders": [
        _order(ann, "A-2", ("SKU-3", 99.0, 1))]})  # fmt: skip
    assert more.status_code == 200, more.text
    returned = client.post("/api/v1/orders/B-1/status", headers=ws.api_headers,
                           json={"status": "returned"})  # fmt: skip
    assert returned.status_code == 200, returned.text
    assert synced(store)  # the marked orders' owners read through the delta until the fold
    assert delta_contacts(store) == {ann, bob}
    assert figures(store, "_order_traits") == figures(store, "contact_traits")
    assert container.db.write(lambda conn: order_summary.fold(conn)) == 0  # too fresh
    container.db.write(lambda conn: conn.execute(
        "UPDATE order_summary_dirty SET marked_at = marked_at - INTERVAL 1 MINUTE"))  # fmt: skip
    container.db.write(Compactor().step)
    assert synced(store)
    assert delta_contacts(store) == set()  # folded: the summary alone
    rows = {r["contact_id"]: r for r in figures(store, "_order_traits")}
    assert (rows[ann]["orders"], rows[ann]["revenue"]) == (2, 179.0)
    assert (rows[bob]["orders"], rows[bob]["revenue"]) == (1, 0.0)  # returned: worth nothing
    assert figures(store, "_order_traits") == figures(store, "contact_traits")

    carl = _contact(client, other_ws, "carl@example.net")
    client.post("/api/v1/orders", headers=other_ws.api_headers,
                json={"orders": [_order(carl, "C-1", ("SKU-1", 5.0, 1))]})  # fmt: skip
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert container.db.write(lambda conn: order_summary.fold(conn, now=later)) == 1
    with container.db.read() as cur:
        built = cur.execute("SELECT count(*) FROM order_summary WHERE workspace_id = ?",
                            [other_ws.id]).fetchone()  # fmt: skip
        assert order_summary.in_sync(cur, other_ws.id)
    assert built == (1,)  # the first fold built the workspace's summary (carl's row)


# --- summary + exact delta: writes since the last fold ------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A built summary that then receives orders through the commerce writer (marked, not
    folded), so counts read the summary plus the delta."""
    base = tmp_path_factory.mktemp("order-summary-delta")
    container = build_container(Settings(data_dir=base / "data", background_workers=False))
    ws = make_workspace(container).id
    data = make_dataset(seed=23, contacts=50)
    load_duckdb(container, ws, data)
    buyers = sorted({o["contact_id"] for o in data.orders})
    container.db.write(lambda conn: _shape(conn, ws, buyers))
    container.db.write(lambda conn: order_summary.rebuild(conn, ws))
    yield container, ws, buyers
    container.close()


_seq = itertools.count(1)


def _message(ws: str, contact: int, event: str, props: dict[str, Any]) -> Message:
    n = next(_seq)
    at = NOW - timedelta(days=n % 50, minutes=n)
    return Message(workspace_id=ws, message_id=f"delta-{n}", type="track", timestamp=at,
                   received_at=at, event=event, properties=props, contact_id=contact)  # fmt: skip


def _apply(store: Store, *messages: Message) -> None:
    container = store[0]
    container.db.write(lambda conn: container.commerce.apply(conn, list(messages)))


def _new_order(store: Store, contact: int, order_id: str, price: float, lines: int) -> None:
    products = [{"sku": f"SKU-{k}", "price": price + k, "quantity": 1 + k} for k in range(lines)]
    props = {"order_id": order_id, "total": price * 3, "products": products}
    _apply(store, _message(store[1], contact, "Order Completed", props))


def _orders_of(store: Store) -> list[tuple[str, int]]:
    container, ws, _ = store
    with container.db.read() as cur:
        got = cur.execute("SELECT order_id, contact_id FROM orders WHERE workspace_id = ?"
                          " ORDER BY order_id", [ws]).fetchall()  # fmt: skip
    return [(str(o), int(c)) for o, c in got]


def _same_members(store: Store, root: dict[str, Any]) -> None:
    """The summary + delta path and the traits view agree, checked in one snapshot."""
    container, ws, _ = store
    fast = compile_segment({"root": root}, workspace_id=ws, now=NOW, order_summary=True).sql
    slow = compile_segment({"root": root}, workspace_id=ws, now=NOW).sql
    with container.db.read() as cur, order_summary.snapshot(cur, ws) as ok:
        assert ok, "a marked write must keep the summary usable (through the delta)"
        assert {r[0] for r in cur.execute(fast).fetchall()} == {
            r[0] for r in cur.execute(slow).fetchall()
        }


def test_fresh_orders_returns_and_cancellations_read_through_the_delta(live: Store) -> None:
    container, ws, buyers = live
    assert synced(live)
    assert delta_contacts(live) == set()
    stored = _orders_of(live)
    fresh_buyer = max(buyers) + 1000  # a contact id with no order yet: its first one
    container.db.write(lambda conn: conn.execute(
        "INSERT INTO contacts (workspace_id, id, created_at, updated_at)"
        " VALUES (?, ?, now(), now())", [ws, fresh_buyer]))  # fmt: skip
    _new_order(live, buyers[3], "fresh-1", 40.0, 2)
    _new_order(live, fresh_buyer, "fresh-2", 15.5, 1)
    old_id, old_owner = stored[0]
    _apply(
        live, _message(ws, old_owner, "Order Refunded", {"order_id": old_id, "total": 1})
    )  # fmt: skip  (full refund)
    part_id, part_owner = stored[1]
    _apply(live, _message(ws, part_owner, "Order Refunded",
                          {"order_id": part_id, "products": [{"sku": "SKU-1"}]}))  # fmt: skip
    gone_id, gone_owner = stored[2]
    _apply(live, _message(ws, gone_owner, "Order Cancelled", {"order_id": gone_id}))
    assert synced(live)
    owners = {buyers[3], fresh_buyer, old_owner, part_owner, gone_owner}
    assert delta_contacts(live) == owners
    assert figures(live, "_order_traits") == figures(live, "contact_traits")
    fresh = next(r for r in figures(live, "_order_traits") if r["contact_id"] == fresh_buyer)
    assert (fresh["orders"], fresh["revenue"]) == (1, 15.5)
    leaves = [
        {"type": "trait", "trait": "orders", "op": "gte", "value": 1},
        {"type": "trait", "trait": "revenue", "op": "gt", "value": 100},
        {"type": "trait", "trait": "last_order_at", "op": "in_last", "value": 30},
    ]
    for leaf in leaves:
        _same_members(live, leaf)
        _same_members(live, {"type": "not", "condition": leaf})


OP_KINDS = st.sampled_from(["new", "refund", "partial", "cancel", "ship"])
OPS = st.lists(st.tuples(OP_KINDS, st.integers(0, 10**6)), min_size=1, max_size=4)


@settings(max_examples=25, deadline=None, suppress_health_check=SLOW_OK)
@given(ops=OPS, leaf=TRAITS, negate=st.booleans())
def test_any_marked_writes_keep_the_counts_exact(
    live: Store, ops: list[tuple[str, int]], leaf: dict[str, Any], negate: bool
) -> None:
    """Random writes through the commerce writer (new orders, full and partial refunds,
    cancellations, status moves), never folded: the summary + delta gives the members the
    traits view gives, in every snapshot."""
    _, ws, buyers = live
    stored = _orders_of(live)
    for op, pick in ops:
        order_id, owner = stored[pick % len(stored)]
        if op == "new":
            _new_order(
                live, buyers[pick % len(buyers)], f"gen-{next(_seq)}", pick % 300, 1 + pick % 3
            )
        elif op == "refund":
            _apply(live, _message(ws, owner, "Order Refunded", {"order_id": order_id, "total": 1}))
        elif op == "partial":
            props = {"order_id": order_id, "products": [{"sku": SKUS[pick % len(SKUS)]}]}
            _apply(live, _message(ws, owner, "Order Refunded", props))
        elif op == "cancel":
            _apply(live, _message(ws, owner, "Order Cancelled", {"order_id": order_id}))
        else:
            _apply(live, _message(ws, owner, "Order Updated", {"order_id": order_id,
                                                               "status": "shipped"}))  # fmt: skip
    _same_members(live, {"type": "not", "condition": leaf} if negate else leaf)


def test_the_delta_refuses_what_its_marks_do_not_explain(tmp_path: Any) -> None:
    """With orders marked (a delta in use), a write without a mark, an order moved to
    another contact (its old owner is not in the delta) and a marked order deleted with its
    lines (its owner is no longer found) all make the sums differ; a rebuild makes them
    agree again."""
    container = build_container(Settings(data_dir=tmp_path / "data", background_workers=False))
    try:
        ws = make_workspace(container).id
        data = make_dataset(seed=31, contacts=40)
        load_duckdb(container, ws, data)
        container.db.write(lambda conn: order_summary.rebuild(conn, ws))
        store = (container, ws, [])
        stored = _orders_of(store)
        owner_a = stored[0][1]
        b, c = [o for o, owner in stored if owner != owner_a][:2]
        _new_order(store, owner_a, "marked-1", 20.0, 2)
        assert synced(store)
        assert delta_contacts(store) == {owner_a}
        unmarked = (
            "UPDATE order_items SET price = price + 1, fp = NULL"
            " WHERE workspace_id = ? AND order_id = ?"
        )
        moved = (
            "UPDATE orders SET contact_id = ?, fp = NULL WHERE workspace_id = ? AND order_id = ?"
        )

        def delete(conn: Any) -> None:
            conn.execute("DELETE FROM order_items WHERE workspace_id = ? AND order_id = ?", [ws, c])
            conn.execute("DELETE FROM orders WHERE workspace_id = ? AND order_id = ?", [ws, c])

        writes = [
            ("unmarked", lambda conn: conn.execute(unmarked, [ws, b]), []),
            ("moved", lambda conn: conn.execute(moved, [owner_a, ws, b]), [b]),
            ("deleted", delete, [c]),
        ]
        for what, write, marks in writes:
            container.db.write(write)
            container.db.write(lambda conn, m=marks: order_summary.mark(conn, [(ws, x) for x in m]))
            assert not synced(store), what
            container.db.write(lambda conn: order_summary.rebuild(conn, ws))
            container.db.write(lambda conn: conn.execute("DELETE FROM order_summary_dirty"))
            assert synced(store), what
            _new_order(store, owner_a, f"marked-{next(_seq)}", 20.0, 1)  # a delta again
            assert synced(store), what
            assert delta_contacts(store) == {owner_a}
            assert figures(store, "_order_traits") == figures(store, "contact_traits")
    finally:
        container.close()


def test_the_view_binds_where_no_check_ran(store: Store) -> None:
    """A connection that never ran the check reads the empty ``main.order_summary_delta``
    (the summary alone, as before the delta)."""
    container, ws, _ = store
    sql = compile_segment({"root": {"type": "trait", "trait": "orders", "op": "gte", "value": 1}},
                          workspace_id=ws, now=NOW, order_summary=True).sql  # fmt: skip
    results: list[set[int]] = []

    def fresh_thread() -> None:  # its own read cursor
        results.append(duckdb_members(container, sql))

    worker = threading.Thread(target=fresh_thread)
    worker.start()
    worker.join()
    assert results == [members(store, {"type": "trait", "trait": "orders", "op": "gte",
                                       "value": 1}, summary=False)]  # fmt: skip


def test_two_workspaces_checked_in_one_snapshot_keep_their_deltas(live: Store) -> None:
    """The delta is kept per workspace: checking a second workspace in the same snapshot
    leaves the first one's query exact."""
    container, ws, buyers = live
    other = make_workspace(container, "Other").id

    def their_contacts(conn: Any) -> list[int]:
        first = int(conn.execute("SELECT max(id) + 1 FROM contacts").fetchone()[0])
        for k in range(3):
            conn.execute("INSERT INTO contacts (workspace_id, id, created_at, updated_at)"
                         " VALUES (?, ?, now(), now())", [other, first + k])  # fmt: skip
        return [first, first + 1, first + 2]

    theirs = container.db.write(their_contacts)
    elsewhere = (container, other, theirs)
    _new_order(elsewhere, theirs[0], "other-1", 30.0, 2)
    _new_order(elsewhere, theirs[1], "other-2", 90.0, 1)
    container.db.write(lambda conn: order_summary.rebuild(conn, other))
    container.db.write(lambda conn: conn.execute(
        "DELETE FROM order_summary_dirty WHERE workspace_id = ?", [other]))  # fmt: skip
    _new_order(elsewhere, theirs[2], "other-3", 60.0, 2)
    _new_order(live, buyers[5], f"mine-{next(_seq)}", 70.0, 2)
    root = {"type": "trait", "trait": "revenue", "op": "gt", "value": 50}
    fast = compile_segment({"root": root}, workspace_id=ws, now=NOW, order_summary=True).sql
    slow = compile_segment({"root": root}, workspace_id=ws, now=NOW).sql
    with container.db.read() as cur, order_summary.snapshot(cur, ws) as ok:
        assert ok
        assert order_summary.in_sync(cur, other)  # the second check, same connection
        assert {r[0] for r in cur.execute(fast).fetchall()} == {
            r[0] for r in cur.execute(slow).fetchall()
        }
        kept = cur.execute("SELECT DISTINCT workspace_id FROM temp.main.order_summary_delta")
        assert {r[0] for r in kept.fetchall()} == {ws, other}


def test_the_builder_reads_the_plain_summary_when_nothing_is_marked(tmp_path: Any) -> None:
    """No contact in the delta: the count reads ``_order_traits_plain`` (no anti-join over
    the summary); with a marked order it reads the delta-aware ``_order_traits``; the members
    equal the traits view's both times."""
    container = build_container(Settings(data_dir=tmp_path / "data", background_workers=False))
    try:
        ws = make_workspace(container).id
        load_duckdb(container, ws, make_dataset(seed=37, contacts=40))
        container.db.write(lambda conn: order_summary.rebuild(conn, ws))
        store = (container, ws, [])
        root = {"type": "trait", "trait": "revenue", "op": "gt", "value": 50}
        draft = Draft(ws, "rules", {"root": root})

        def compiled() -> tuple[str, set[int]]:
            with container.db.read() as cur:
                cur.execute("BEGIN TRANSACTION")
                try:
                    sql = members_sql(cur, draft, now=NOW, in_snapshot=True)
                    return sql, {int(r[0]) for r in cur.execute(sql).fetchall()}
                finally:
                    cur.execute("ROLLBACK")

        expected = members(store, root, summary=False)
        sql, got = compiled()
        assert "_order_traits_plain" in sql
        assert "order_summary_delta" not in sql
        assert got == expected
        owner = _orders_of(store)[0][1]
        _new_order(store, owner, "marked-plain", 500.0, 1)
        sql, got = compiled()
        assert "order_summary_delta" in sql
        assert "_order_traits_plain" not in sql
        assert got == members(store, root, summary=False)
        assert owner in got
    finally:
        container.close()
