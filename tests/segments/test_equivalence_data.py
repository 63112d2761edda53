"""A small random store (seeded) as plain rows, written into DuckDB and loaded into chdb.

The same rows feed the reference evaluator (tests/segments/reference.py), the compiled
DuckDB SQL (through the logical views) and the compiled ClickHouse SQL (through
``views.materialize_for_clickhouse`` / ``load_into_chdb``).
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlglot

from retenta.app import Container
from retenta.segments import views
from tests.segments.reference import Dataset

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
EVENTS = ["Product Viewed", "Order Completed", "Email Opened", "Signed Up"]
CATEGORIES = ["Shoes", "Bags", "Hats", "Shoes/Boots"]
CITIES = ["Kyiv", "Lviv", "Odesa", "Kharkiv", "Kyiv-Sviatoshyn"]
TAGS = ["vip", "newsletter", "b2b", "blog-update", "promo"]
SKUS = [f"SKU-{i}" for i in range(1, 9)]
CAMPAIGNS = ["cmp-1", "cmp-2", "cmp-3"]
STATUSES = ["delivered", "opened", "clicked", "bounced"]


def _moment(rng: random.Random, days_back: float = 420, days_ahead: float = 2) -> datetime:
    seconds = rng.uniform(-days_back * 86400, days_ahead * 86400)
    return NOW + timedelta(seconds=seconds, microseconds=rng.randrange(1_000_000))


def _attributes(rng: random.Random) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    if rng.random() < 0.8:
        attrs["city"] = rng.choice(CITIES)
    if rng.random() < 0.7:
        attrs["age"] = rng.choice([17, 25, 33.5, 41, 58, "unknown"])
    if rng.random() < 0.7:
        born = NOW - timedelta(days=rng.randrange(18 * 365, 70 * 365))
        if rng.random() < 0.1:
            born = datetime(1992, 2, 29, tzinfo=UTC)
        attrs["birthday"] = born.date().isoformat()
    if rng.random() < 0.6:
        attrs["vip"] = rng.random() < 0.4
    if rng.random() < 0.6:
        attrs["tags"] = rng.sample(TAGS, rng.randrange(0, 3))
    if rng.random() < 0.5:
        attrs["last_visit"] = _moment(rng, 60, 10).date().isoformat()
    return attrs


def make_dataset(seed: int = 7, contacts: int = 80) -> Dataset:
    rng = random.Random(seed)
    data = Dataset()
    for cid in range(1, contacts + 1):
        data.contacts.append(
            {
                "contact_id": cid,
                "created_at": _moment(rng, 500, 0),
                "email": f"person{cid}@{rng.choice(['gmail.com', 'ukr.net', 'shop.ua'])}",
                "language": rng.choice(["uk", "en", None]),
                "attributes": _attributes(rng),
            }
        )
        _add_activity(rng, data, cid)
    return data


def _add_activity(rng: random.Random, data: Dataset, cid: int) -> None:
    for n in range(rng.randrange(0, 25)):
        event = rng.choice(EVENTS)
        props: dict[str, Any] = {"product_id": rng.choice(SKUS), "category": rng.choice(CATEGORIES)}
        if rng.random() < 0.8:
            props["price"] = rng.choice([99, 250, 499.5, 1200, "n/a"])
        data.events.append(
            {
                "contact_id": cid,
                "message_id": f"m{cid}-{n}",
                "event": event,
                "timestamp": _moment(rng),
                "properties": props,
            }
        )
    for n in range(rng.choices([0, 1, 2, 3, 5], [4, 3, 2, 1, 1])[0]):
        order_id = f"o{cid}-{n}"
        lines = [
            (rng.choice(SKUS), rng.randrange(1, 4), rng.choice([50.0, 120.5, 700.0]))
            for _ in range(rng.randrange(1, 4))
        ]
        total = sum(q * p for _, q, p in lines)
        data.orders.append(
            {
                "contact_id": cid,
                "order_id": order_id,
                "placed_at": _moment(rng, 400, 0),
                "status": rng.choice(["paid", "shipped", "cancelled", "returned"]),
                "channel": rng.choice(["online", "offline"]),
                "total": total,
                "revenue": total if rng.random() < 0.8 else None,
                "coupon": rng.choice([None, None, "SPRING", "VIP10"]),
            }
        )
        for line_no, (sku, qty, price) in enumerate(lines, start=1):
            data.items.append(
                {
                    "order_id": order_id,
                    "line_no": line_no,
                    "sku": sku,
                    "name": f"Item {sku}",
                    "category": CATEGORIES[int(sku[-1]) % 4],
                    "brand": ["Acme", "Nordvik"][int(sku[-1]) % 2],
                    "quantity": qty,
                    "price": price,
                    "returned_quantity": 0,
                }
            )
    for channel in ("email", "sms"):
        for topic in ("*", "news"):
            if rng.random() < 0.5:
                data.consents.append(
                    {
                        "contact_id": cid,
                        "channel": channel,
                        "topic": topic,
                        "status": rng.choice(["subscribed", "unsubscribed", "pending"]),
                        "changed_at": _moment(rng, 300, 0),
                    }
                )
    for n in range(rng.randrange(0, 10)):
        data.messages.append(
            {
                "contact_id": cid,
                "send_id": f"s{cid}-{n}",
                "channel": rng.choice(["email", "sms"]),
                "campaign_id": rng.choice(CAMPAIGNS),
                "message_id": f"msg-{n % 3}",
                "tags": rng.sample(TAGS, rng.randrange(0, 3)),
                "status": rng.choice(STATUSES),
                "at": _moment(rng, 200, 0),
                "machine": rng.random() < 0.2,
                "properties": {"url": rng.choice(["/a", "/b"])},
            }
        )


# ---- DuckDB ---------------------------------------------------------------------------------


def _rows(data: Dataset, ws: str) -> dict[str, tuple[str, list[tuple[Any, ...]]]]:
    dumps = json.dumps
    return {
        "contacts": (
            "(workspace_id, id, created_at, updated_at, attributes, language)",
            [
                (
                    ws,
                    c["contact_id"],
                    c["created_at"],
                    c["created_at"],
                    dumps(c["attributes"]),
                    c["language"],
                )
                for c in data.contacts
            ],
        ),
        "identities": (
            "(workspace_id, type, value, contact_id, first_seen, last_seen)",
            [
                (ws, "email", c["email"], c["contact_id"], c["created_at"], c["created_at"])
                for c in data.contacts
            ],
        ),
        "events": (
            "(workspace_id, message_id, contact_id, type, event, timestamp, received_at,"
            " properties)",
            [
                (
                    ws,
                    e["message_id"],
                    e["contact_id"],
                    "track",
                    e["event"],
                    e["timestamp"],
                    e["timestamp"],
                    dumps(e["properties"]),
                )
                for e in data.events
            ],
        ),
        "orders": (
            "(workspace_id, order_id, contact_id, status, channel, total, revenue, coupon,"
            " placed_at, updated_at)",
            [
                (
                    ws,
                    o["order_id"],
                    o["contact_id"],
                    o["status"],
                    o["channel"],
                    o["total"],
                    o["revenue"],
                    o["coupon"],
                    o["placed_at"],
                    o["placed_at"],
                )
                for o in data.orders
            ],
        ),
        "order_items": (
            "(workspace_id, order_id, line_no, sku, name, category, brand, quantity,"
            " price, returned_quantity)",
            [
                (
                    ws,
                    i["order_id"],
                    i["line_no"],
                    i["sku"],
                    i["name"],
                    i["category"],
                    i["brand"],
                    i["quantity"],
                    i["price"],
                    i["returned_quantity"],
                )
                for i in data.items
            ],
        ),
        "consents": (
            "(workspace_id, contact_id, channel, topic, status, source, changed_at)",
            [
                (
                    ws,
                    c["contact_id"],
                    c["channel"],
                    c["topic"],
                    c["status"],
                    "test",
                    c["changed_at"],
                )
                for c in data.consents
            ],
        ),
        "message_events": (
            "(workspace_id, contact_id, send_id, channel, campaign_id, message_id,"
            ' tags, status, "at", machine, properties)',
            [
                (
                    ws,
                    m["contact_id"],
                    m["send_id"],
                    m["channel"],
                    m["campaign_id"],
                    m["message_id"],
                    m["tags"],
                    m["status"],
                    m["at"],
                    m["machine"],
                    dumps(m["properties"]),
                )
                for m in data.messages
            ],
        ),
    }


def load_duckdb(container: Container, ws: str, data: Dataset) -> None:
    """Write the rows into the physical tables of workspace ``ws``."""
    tables = _rows(data, ws)

    def work(conn: Any) -> None:
        for table, (columns, rows) in tables.items():
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                conn.executemany(f"INSERT INTO {table} {columns} VALUES ({marks})", rows)

    container.db.write(work)


def read_view(container: Container, ws: str, sql: str) -> list[dict[str, Any]]:
    query = sqlglot.parse_one(sql, dialect="duckdb")
    assert isinstance(query, sqlglot.exp.Query)
    with container.db.read() as cur:
        res = cur.execute(views.with_views(query, ws, "duckdb").sql("duckdb"))
        cols = [d[0] for d in res.description]
        return [dict(zip(cols, r, strict=True)) for r in res.fetchall()]


def load_traits(container: Container, ws: str, data: Dataset) -> None:
    """The reference reads computed traits as VIEWS computes them (not the compiler's job)."""
    data.traits = {
        r["contact_id"]: r for r in read_view(container, ws, "SELECT * FROM contact_traits")
    }


def load_chdb(container: Container, ws: str, session: Any, out_dir: Path) -> None:
    with container.db.read() as cur:
        paths = views.materialize_for_clickhouse(cur, ws, out_dir)
    views.load_into_chdb(session, paths)


def duckdb_members(container: Container, sql: str) -> set[int]:
    with container.db.read() as cur:
        return {int(r[0]) for r in cur.execute(sql).fetchall()}


def chdb_members(session: Any, sql: str) -> set[int]:
    text = session.query(sql, "CSV").bytes().decode()
    return {int(line) for line in text.split()}
