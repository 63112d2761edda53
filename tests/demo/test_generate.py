"""The generated store: seeded, and consistent with what the live pipeline would produce."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import phonenumbers
import pytest

from retenta.app import Container, build_container
from retenta.demo.generate import generate_store
from retenta.identity.normalize import normalize
from retenta.settings import Settings

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ECOMMERCE_EVENTS = (
    "Product Viewed", "Product List Viewed", "Products Searched", "Product Added",
    "Product Removed", "Cart Viewed", "Checkout Started", "Order Completed", "Order Refunded",
    "Order Cancelled", "Order Updated", "Product Added to Wishlist", "Signed Up", "Email Delivered",
    "Email Opened", "Email Clicked",
)  # fmt: skip


def _store(path: Path, contacts: int, seed: int) -> tuple[Container, str, Any]:
    c = build_container(Settings(data_dir=path, background_workers=False))
    ws = c.tenancy.create_workspace(name="Demo store")
    report = generate_store(c.db, ws, contacts=contacts, seed=seed, now=NOW)
    return c, ws, report


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Container, str, Any]]:
    c, ws, report = _store(tmp_path_factory.mktemp("demo") / "data", 400, seed=11)
    yield c, ws, report
    c.close()


def q(store: tuple[Container, str, Any], sql: str, *params: Any) -> list[tuple[Any, ...]]:
    c, ws, _ = store
    with c.db.read() as cur:
        return cur.execute(sql, [ws, *params] if "?" in sql else list(params)).fetchall()


def one(store: tuple[Container, str, Any], sql: str, *params: Any) -> Any:
    return q(store, sql, *params)[0][0]


def test_report_counts_match_the_tables(store: Any) -> None:
    _, _, report = store
    assert report.rows["contacts"] == 400
    assert one(store, "SELECT count(*) FROM contacts WHERE workspace_id = ?") == 400
    assert one(store, "SELECT count(*) FROM events WHERE workspace_id = ?") == report.events
    assert report.events / 400 > 20  # believable activity, not a handful of rows
    assert one(store, "SELECT count(*) FROM products WHERE workspace_id = ?") >= 3000


def test_every_event_belongs_to_an_existing_contact(store: Any) -> None:
    orphans = one(
        store,
        "SELECT count(*) FROM events e WHERE e.workspace_id = ?"
        " AND NOT EXISTS (SELECT 1 FROM contacts c WHERE c.id = e.contact_id)",
    )
    assert orphans == 0


def test_message_ids_are_unique_and_recorded_for_dedup(store: Any) -> None:
    total, distinct = q(
        store, "SELECT count(*), count(DISTINCT message_id) FROM events WHERE workspace_id = ?"
    )[0]
    assert total == distinct
    assert one(store, "SELECT count(*) FROM message_ids WHERE workspace_id = ?") == total


def test_events_are_clustered_by_contact_then_time(store: Any) -> None:
    disorder = one(
        store,
        "SELECT count(*) FROM (SELECT contact_id, timestamp,"
        " lag(contact_id) OVER (ORDER BY rowid) AS pc, lag(timestamp) OVER (ORDER BY rowid) AS pt"
        " FROM events WHERE workspace_id = ?) WHERE pc > contact_id"
        " OR (pc = contact_id AND pt > timestamp)",
    )
    assert disorder == 0


def test_contact_ids_come_from_the_sequence(store: Any) -> None:
    c, _, _ = store
    top = one(store, "SELECT max(id) FROM contacts WHERE workspace_id = ?")
    nxt = c.db.write(lambda conn: conn.execute("SELECT nextval('contact_id_seq')").fetchone()[0])
    assert nxt > top


def test_identities_are_unique_normalized_and_resolvable(store: Any) -> None:
    c, ws, _ = store
    rows = q(store, "SELECT type, value, contact_id FROM identities WHERE workspace_id = ?")
    assert len({(t, v) for t, v, _ in rows}) == len(rows)
    settings = c.settings.identity
    for id_type, value, _ in rows:
        assert normalize(id_type, value, settings) == value, (id_type, value)
        if id_type == "phone":
            assert phonenumbers.is_valid_number(phonenumbers.parse(value))
    email, contact = next((v, cid) for t, v, cid in rows if t == "email")
    assert c.identity.lookup(workspace_id=ws, id_type="email", value=email.upper()) == contact


def test_languages_timezones_and_consents(store: Any) -> None:
    langs = {
        r[0] for r in q(store, "SELECT DISTINCT language FROM contacts WHERE workspace_id = ?")
    }
    assert langs == {"uk-UA", "ru-UA", "en-GB", "pl-PL"}  # as the resolver records locales
    assert (
        one(store, "SELECT count(*) FROM contacts WHERE workspace_id = ? AND timezone IS NULL") == 0
    )
    statuses = q(
        store, "SELECT channel, status, count(*) FROM consents WHERE workspace_id = ? GROUP BY ALL"
    )
    seen = {(ch, st) for ch, st, _ in statuses}
    assert {("email", "subscribed"), ("email", "unsubscribed"), ("sms", "subscribed")} <= seen


def test_order_lines_add_up_to_totals(store: Any) -> None:
    mismatched = one(
        store,
        "SELECT count(*) FROM orders o JOIN (SELECT order_id, sum(price * quantity) AS s"
        " FROM order_items WHERE workspace_id = ? GROUP BY order_id) i USING (order_id)"
        " WHERE o.total <> i.s - o.discount + o.shipping OR o.revenue <> i.s - o.discount",
    )
    assert mismatched == 0
    assert one(store, "SELECT count(*) FROM orders WHERE workspace_id = ?") > 100


def test_order_events_match_orders(store: Any) -> None:
    completed = q(
        store,
        "SELECT e.properties, o.total, (SELECT count(*) FROM order_items i"
        "  WHERE i.order_id = o.order_id) FROM events e JOIN orders o"
        " ON o.source_message_id = e.message_id WHERE e.workspace_id = ?"
        " AND e.event = 'Order Completed'",
    )
    assert len(completed) == one(store, "SELECT count(*) FROM orders WHERE workspace_id = ?")
    for props, total, lines in completed:
        body = orjson.loads(props)
        assert body["total"] == pytest.approx(float(total))
        assert len(body["products"]) == lines


def test_refunds_never_exceed_purchases(store: Any) -> None:
    assert one(store, "SELECT count(*) FROM order_items WHERE workspace_id = ?"
               " AND returned_quantity > quantity") == 0  # fmt: skip
    refunded = one(
        store, "SELECT count(*) FROM events WHERE workspace_id = ? AND event = 'Order Refunded'"
    )
    assert 0 < refunded < one(store, "SELECT count(*) FROM orders WHERE workspace_id = ?")
    late = one(
        store,
        "SELECT count(*) FROM events r JOIN orders o"
        " ON o.order_id = json_extract_string(r.properties, '$.order_id')"
        " WHERE r.workspace_id = ? AND r.event = 'Order Refunded' AND r.timestamp <= o.placed_at",
    )
    assert late == 0
    statuses = {r[0] for r in q(store, "SELECT DISTINCT status FROM orders WHERE workspace_id = ?")}
    assert {"shipped", "returned", "cancelled"} <= statuses


def test_anonymous_history_before_registration_belongs_to_the_contact(store: Any) -> None:
    rows = q(
        store,
        "SELECT e.contact_id, count(*) FROM events e JOIN events i"
        " ON i.contact_id = e.contact_id AND i.type = 'identify'"
        " JOIN identities a ON a.type = 'anonymous_id' AND a.value = e.anonymous_id"
        "  AND a.contact_id = e.contact_id"
        " WHERE e.workspace_id = ? AND e.user_id IS NULL AND e.timestamp < i.timestamp"
        " GROUP BY ALL",
    )
    assert len(rows) > 50  # many people browsed anonymously before signing up


def test_two_device_people_have_two_anonymous_ids_in_their_events(store: Any) -> None:
    people = q(
        store,
        "SELECT contact_id FROM identities WHERE workspace_id = ? AND type = 'anonymous_id'"
        " GROUP BY contact_id HAVING count(*) = 2",
    )
    assert len(people) > 10
    contact = people[0][0]
    used = one(store, "SELECT count(DISTINCT anonymous_id) FROM events WHERE workspace_id = ?"
               " AND contact_id = ?", contact)  # fmt: skip
    assert used == 2


def test_every_ecommerce_event_is_present(store: Any) -> None:
    names = {r[0] for r in q(store, "SELECT DISTINCT event FROM events WHERE workspace_id = ?")}
    assert set(ECOMMERCE_EVENTS) <= names
    assert (
        one(store, "SELECT count(*) FROM events WHERE workspace_id = ? AND type = 'identify'") > 0
    )
    machine = one(
        store,
        "SELECT count(*) FROM events WHERE workspace_id = ?"
        " AND event = 'Email Opened' AND properties->>'machine_open' = 'true'",
    )
    assert machine > 0


def test_store_purchases_are_server_side(store: Any) -> None:
    rows = q(
        store,
        "SELECT e.anonymous_id, o.store_id FROM orders o JOIN events e"
        " ON e.message_id = o.source_message_id WHERE o.workspace_id = ? AND o.channel = 'offline'",
    )
    assert rows
    assert all(anon is None for anon, _ in rows)
    assert all(store_id for _, store_id in rows)


def test_seasonality_weekends_and_december(store: Any) -> None:
    (weekend, weekday), = q(
        store,
        "SELECT count(*) FILTER (WHERE isodow(timestamp) >= 6) / 2.0,"
        " count(*) FILTER (WHERE isodow(timestamp) < 6) / 5.0"
        " FROM events WHERE workspace_id = ? AND event = 'Home'",
    )  # fmt: skip
    assert weekend > 1.1 * weekday
    december, july = q(
        store,
        "SELECT count(*) FILTER (WHERE month(timestamp) = 12),"
        " count(*) FILTER (WHERE month(timestamp) = 7)"
        " FROM events WHERE workspace_id = ? AND event = 'Home'",
    )[0]
    assert december > 1.5 * july


def test_repeat_one_time_and_churned_buyers(store: Any) -> None:
    per_buyer = dict(q(
        store,
        "SELECT n, count(*) FROM (SELECT contact_id, count(*) AS n FROM orders"
        " WHERE workspace_id = ? GROUP BY contact_id) GROUP BY n",
    ))  # fmt: skip
    assert per_buyer.get(1, 0) > 20
    assert sum(v for k, v in per_buyer.items() if k >= 3) > 20
    churned = one(
        store,
        "SELECT count(*) FROM contacts c WHERE workspace_id = ? AND last_seen_at < ?::TIMESTAMPTZ"
        " - INTERVAL 120 DAY AND (SELECT count(*) FROM orders o WHERE o.contact_id = c.id) >= 2",
        NOW,
    )
    assert churned > 0


def test_carts_mirror_their_events(store: Any) -> None:
    statuses = dict(
        q(store, "SELECT status, count(*) FROM carts WHERE workspace_id = ? GROUP BY ALL")
    )
    assert {"converted", "open", "emptied"} <= set(statuses)
    empty_open = one(
        store,
        "SELECT count(*) FROM carts c WHERE workspace_id = ? AND status = 'open'"
        " AND NOT EXISTS (SELECT 1 FROM cart_items i WHERE i.cart_id = c.cart_id)",
    )
    assert empty_open == 0
    per_contact = one(
        store,
        "SELECT max(n) FROM (SELECT count(*) AS n FROM carts"
        " WHERE workspace_id = ? AND status = 'open' GROUP BY contact_id)",
    )
    assert per_contact == 1


def test_contacts_last_seen_is_their_last_event(store: Any) -> None:
    wrong = one(
        store,
        "SELECT count(*) FROM contacts c JOIN (SELECT contact_id, max(timestamp) AS t FROM events"
        " WHERE workspace_id = ? GROUP BY contact_id) e ON e.contact_id = c.id"
        " WHERE c.last_seen_at <> e.t",
    )
    assert wrong == 0


def _fingerprint(c: Container, ws: str) -> tuple[Any, ...]:
    with c.db.read() as cur:
        counts = cur.execute(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM orders),"
            " (SELECT count(*) FROM identities), (SELECT sum(total) FROM orders)"
        ).fetchone()
        sample = cur.execute(
            "SELECT message_id, contact_id, event, user_id, anonymous_id, timestamp,"
            " properties::VARCHAR, traits::VARCHAR FROM events ORDER BY message_id LIMIT 40"
        ).fetchall()
        people = cur.execute(
            "SELECT type, value, contact_id, first_seen FROM identities ORDER BY ALL LIMIT 40"
        ).fetchall()
    return counts, sample, people


def test_same_seed_same_store(tmp_path: Path) -> None:
    prints = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        c, ws, _ = _store(tmp_path / name, 120, seed)
        try:
            prints.append(_fingerprint(c, ws))
        finally:
            c.close()
    assert prints[0] == prints[1]
    assert prints[0][0] != prints[2][0]


def test_searches_and_returns_mirror_their_events(store: Any) -> None:
    mismatched = one(
        store,
        "SELECT count(*) FROM searches s JOIN events e USING (message_id)"
        " WHERE s.workspace_id = ? AND (s.query <> e.properties->>'query'"
        " OR s.results <> CAST(e.properties->>'results' AS INTEGER))",
    )
    assert mismatched == 0
    assert one(store, "SELECT count(*) FROM searches WHERE workspace_id = ?") > 0
    over = one(
        store,
        "SELECT count(*) FROM order_returns r JOIN orders o USING (order_id)"
        " JOIN events e ON e.message_id = r.source_message_id"
        " WHERE r.workspace_id = ? AND (r.amount > o.total"
        " OR r.amount <> CAST(e.properties->>'total' AS DECIMAL(18, 2)))",
    )
    assert over == 0
