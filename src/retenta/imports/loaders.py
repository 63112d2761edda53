"""Write one coerced chunk of each entity, inside the writer's unit of work.

Each loader receives the writer connection and a ``Chunk`` (typed good rows, with their file
row numbers in ``_row``) and returns what it accepted and what the downstream services
refused. Nothing here commits: the caller's unit of work also advances the job's checkpoint,
so a chunk lands whole or not at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from retenta.core.messages import Message
from retenta.identity.bulk import create_new_contacts
from retenta.identity.service import IdentityService
from retenta.imports.fresh_contacts import Plan, create_fresh, plan
from retenta.imports.mapping import ROW, Reject
from retenta.imports.store import registered, settle

CONTACT_TRAITS = ("first_name", "last_name", "birthday", "gender", "city", "country")
TRAIT_COLUMNS = frozenset((*CONTACT_TRAITS, "email", "phone"))
CONSENT_FIELDS = {"email_consent": "email", "sms_consent": "sms"}


class Resolver(Protocol):
    def resolve(self, conn: Any, messages: Sequence[Message]) -> None: ...


class Commerce(Protocol):
    def upsert_products(self, conn: Any, workspace_id: str, table: pa.Table) -> dict[str, Any]: ...
    def upsert_orders(
        self, conn: Any, workspace_id: str, orders: pa.Table, items: pa.Table
    ) -> dict[str, Any]: ...


class EventSink(Protocol):
    def ingest_sync(self, messages: Sequence[Message]) -> Any: ...


@dataclass(frozen=True)
class LoadContext:
    workspace_id: str
    job_id: str
    file_sha256: str
    at: datetime  # the job's creation time: the timestamp of what the file does not date
    identity: Resolver
    commerce: Commerce
    events: EventSink

    def message_id(self, row: int, suffix: str = "") -> str:
        return import_message_id(self.file_sha256, row, suffix)

    def message_ids(self, rows: pa.Array) -> pa.Array:
        return import_message_ids(self.file_sha256, rows)


def import_message_id(file_sha256: str, row: int, suffix: str = "") -> str:
    """Deterministic per (file, row): a re-import produces the same ids, which dedup drops.

    The workspace is not part of it because dedup is already per workspace.
    """
    return f"import-{file_sha256[:24]}-{row}{suffix}"


def import_message_ids(file_sha256: str, rows: pa.Array) -> pa.Array:
    """``import_message_id`` of each row number of a column.

    >>> import_message_ids("ab" * 32, pa.array([2, 10])).to_pylist() == [
    ...     import_message_id("ab" * 32, 2), import_message_id("ab" * 32, 10)]
    True
    """
    head = import_message_id(file_sha256, 0)[:-1]
    return pc.binary_join_element_wise(head, pc.cast(rows, pa.string()), "")


@dataclass
class Loaded:
    accepted: int
    rejects: list[Reject] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)


def _json_text(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def _custom(row: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {
        k[len(prefix) :]: _json_text(v)
        for k, v in row.items()
        if k.startswith(prefix) and v is not None
    }


def _dropped(messages: Sequence[Message], rows: Sequence[int]) -> list[Reject]:
    return [
        Reject(row, "identifier", f"identity resolution refused the row: {m.dropped}")
        for m, row in zip(messages, rows, strict=True)
        if m.dropped is not None or m.contact_id is None
    ]


# -- contacts ---------------------------------------------------------------------------


def _text_column(table: pa.Table, name: str) -> list[Any]:
    """A column as Python values, dates as ISO text (traits are stored as JSON)."""
    col = table.column(name)
    if pa.types.is_date(col.type) or pa.types.is_timestamp(col.type):
        col = pc.cast(col, pa.string())
    values: list[Any] = col.to_pylist()
    return values


def _column_or_none(table: pa.Table, name: str) -> list[Any]:
    return table.column(name).to_pylist() if name in table.column_names else [None] * len(table)


def identify_messages(ctx: LoadContext, table: pa.Table, suffix: str = "") -> list[Message]:
    """One identify call per row, as Segment would send it (source ``import``); built column
    by column because this runs for every imported contact."""
    names = [c for c in table.column_names if c in TRAIT_COLUMNS or c.startswith("attr.")]
    keys = [c.removeprefix("attr.") for c in names]
    columns = [_text_column(table, c) for c in names]
    trait_rows = zip(*columns, strict=True) if columns else iter([()] * len(table))
    user_ids = _column_or_none(table, "external_id")
    languages = _column_or_none(table, "language")
    zones = _column_or_none(table, "timezone")
    rows = table.column(ROW).to_pylist()
    out = []
    for i, values in enumerate(trait_rows):
        context = {}
        if languages[i] is not None:
            context["locale"] = languages[i]
        if zones[i] is not None:
            context["timezone"] = zones[i]
        out.append(
            Message(
                workspace_id=ctx.workspace_id,
                message_id=ctx.message_id(rows[i], suffix),
                type="identify",
                timestamp=ctx.at,
                received_at=ctx.at,
                user_id=user_ids[i],
                traits={k: v for k, v in zip(keys, values, strict=True) if v is not None},
                context=context,
                source="import",
            )
        )
    return out


@contextmanager
def timed(stats: dict[str, int], key: str) -> Iterator[None]:
    """Add the block's wall time in milliseconds to ``stats[key]`` (shown in job stats)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        stats[key] = stats.get(key, 0) + round((time.perf_counter() - started) * 1000)


def plan_contacts(ctx: LoadContext, table: pa.Table) -> Plan | None:
    """The part of the column-wise new contacts that needs no database (outside the writer)."""
    if not isinstance(ctx.identity, IdentityService):
        return None
    return plan(ctx.identity, table, ctx, TRAIT_COLUMNS)


UNPLANNED = object()  # load_contacts called without plan_chunk: plan in the writer


def load_contacts(conn: Any, ctx: LoadContext, table: pa.Table, planned: Any = UNPLANNED) -> Loaded:
    stats: dict[str, int] = {}
    fresh = None
    if isinstance(ctx.identity, IdentityService):
        with timed(stats, "ms_fresh"):
            if planned is UNPLANNED:
                planned = plan_contacts(ctx, table)
            fresh = create_fresh(ctx.identity, conn, ctx, table, planned)
            stats["contacts_created_by_column"] = len(fresh.ids)
    others = table.filter(pa.array(~fresh.mask)) if fresh is not None else table
    with timed(stats, "ms_build"):
        messages = identify_messages(ctx, others)
    with timed(stats, "ms_identity"):
        rest = messages
        if isinstance(ctx.identity, IdentityService):
            rest = create_new_contacts(ctx.identity, conn, messages)
            stats["contacts_created_in_bulk"] = len(messages) - len(rest)
        ctx.identity.resolve(conn, rest)
        settle(conn)
    rejects = _dropped(messages, others.column(ROW).to_pylist())
    resolved = iter([m.contact_id if m.dropped is None else None for m in messages])
    if fresh is None:
        ids = list(resolved)
    else:
        made = iter(fresh.ids.tolist())
        ids = [next(made) if new else next(resolved) for new in fresh.mask.tolist()]
    with timed(stats, "ms_consents"):
        stats["consents_changed"] = write_consents(conn, ctx, table, ids)
    return Loaded(table.num_rows - len(rejects), rejects, stats)


def _consent_rows(table: pa.Table, ids: list[int | None]) -> pa.Table:
    channels = {f: c for f, c in CONSENT_FIELDS.items() if f in table.column_names}
    channels.update(
        {n: n[len("consent.") :] for n in table.column_names if n.startswith("consent.")}
    )
    parts = []
    contact = pa.array(ids, pa.int64())
    for column, channel in channels.items():
        parts.append(
            pa.table(
                {
                    "contact_id": contact,
                    "channel": pa.array([channel] * len(ids), pa.string()),
                    "status": table.column(column).combine_chunks(),
                    "row": table.column(ROW),
                }
            )
        )
    if not parts:
        return pa.table({"contact_id": pa.array([], pa.int64())})
    both = pa.concat_tables(parts)
    return both.filter(pc.and_(pc.is_valid(both["contact_id"]), pc.is_valid(both["status"])))


_CONSENT_SQL = """
INSERT INTO consents (workspace_id, contact_id, channel, topic, status, source, changed_at)
WITH incoming AS (
    SELECT contact_id, channel, arg_max(status, "row") AS status
    FROM _import_consents GROUP BY contact_id, channel
), current AS (
    SELECT contact_id, channel, arg_max(status, changed_at) AS status
    FROM consents
    WHERE workspace_id = $ws AND topic = '*'
      AND contact_id IN (SELECT contact_id FROM incoming)
    GROUP BY contact_id, channel
)
SELECT $ws, i.contact_id, i.channel, '*', i.status, 'import', $at
FROM incoming i LEFT JOIN current c USING (contact_id, channel)
WHERE c.status IS DISTINCT FROM i.status
"""


def write_consents(conn: Any, ctx: LoadContext, table: pa.Table, ids: list[int | None]) -> int:
    """Set-based: one consent row per (contact, channel) whose status actually changes."""
    rows = _consent_rows(table, ids)
    if rows.num_rows == 0:
        return 0
    with registered(conn, "_import_consents", rows):
        ((changed,),) = conn.execute(
            _CONSENT_SQL, {"ws": ctx.workspace_id, "at": ctx.at}
        ).fetchall()
    return int(changed)


# -- products ---------------------------------------------------------------------------

PRODUCT_COLUMNS = (
    "sku", "name", "url", "image_url", "price", "sale_price", "currency", "stock", "in_stock",
    "category_path", "brand",
)  # fmt: skip


def last_per_key(table: pa.Table, key: str) -> tuple[pa.Table, np.ndarray]:
    """Keep the last row of each key (a later row in a file wins); also the dropped indices.

    >>> t, dropped = last_per_key(pa.table({"k": ["a", "b", "a"], "v": [1, 2, 3]}), "k")
    >>> t.to_pydict(), dropped.tolist()
    ({'k': ['b', 'a'], 'v': [2, 3]}, [0])
    """
    keys = table.column(key).to_numpy(zero_copy_only=False)
    _, first_in_reversed = np.unique(keys[::-1], return_index=True)
    keep = np.sort(len(keys) - 1 - first_in_reversed)
    dropped = np.setdiff1d(np.arange(len(keys)), keep)
    return table.take(pa.array(keep)), dropped


def _attributes(table: pa.Table) -> pa.Array | None:
    custom = [n for n in table.column_names if n.startswith("attr.")]
    if not custom:
        return None
    rows = table.select(custom).to_pylist()
    return pa.array([orjson.dumps(_custom(r, "attr.")).decode() for r in rows], pa.string())


def _with_attributes(table: pa.Table, columns: Sequence[str]) -> pa.Table:
    out = table.select([c for c in columns if c in table.column_names])
    attrs = _attributes(table)
    return out.append_column("attributes", attrs) if attrs is not None else out


def _service_rejects(
    rejected: list[dict[str, Any]], rows: Sequence[int], default_field: str
) -> list[Reject]:
    return [
        Reject(int(rows[r["row"]]), r.get("field") or default_field, str(r.get("reason")))
        for r in rejected
    ]


def load_products(conn: Any, ctx: LoadContext, table: pa.Table) -> Loaded:
    latest, _ = last_per_key(table, "sku")
    stats: dict[str, int] = {}
    with timed(stats, "ms_commerce"):
        result = ctx.commerce.upsert_products(
            conn, ctx.workspace_id, _with_attributes(latest, PRODUCT_COLUMNS)
        )
    rejects = _service_rejects(result.get("rejected", []), latest.column(ROW).to_pylist(), "sku")
    stats.update({k: int(result.get(k, 0)) for k in ("inserted", "updated", "unchanged")})
    return Loaded(table.num_rows - len(rejects), rejects, stats)


# -- orders -----------------------------------------------------------------------------

ORDER_COLUMNS = (
    "order_id", "contact_id", "status", "channel", "store_id", "total", "revenue", "discount",
    "shipping", "tax", "currency", "coupon", "placed_at",
)  # fmt: skip
CUSTOMER_FIELDS = ("external_id", "email", "phone")


def order_heads(table: pa.Table) -> pa.Table:
    """One row per order: the first non-empty value of each order-level column."""
    line_cols = {"sku", "product_name", "category", "brand", "quantity", "price", "items"}
    heads = [c for c in table.column_names if c not in line_cols and c != "order_id"]
    grouped = table.group_by("order_id", use_threads=False).aggregate([(c, "first") for c in heads])
    return grouped.rename_columns([c.removesuffix("_first") for c in grouped.column_names])


def resolve_customers(
    conn: Any, ctx: LoadContext, heads: pa.Table, stats: dict[str, int]
) -> list[Message]:
    """An identify message per order's customer (one per distinct customer), resolved."""
    present = [c for c in CUSTOMER_FIELDS if c in heads.column_names]
    keys = list(zip(*(heads.column(c).to_pylist() for c in present), strict=True))
    first: dict[tuple[Any, ...], int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    distinct = heads.select([*present, ROW]).take(pa.array(list(first.values()), pa.int64()))
    with timed(stats, "ms_build"):
        messages = identify_messages(ctx, distinct, ":customer")
    with timed(stats, "ms_identity"):
        rest = messages
        if isinstance(ctx.identity, IdentityService):
            rest = create_new_contacts(ctx.identity, conn, messages)
            stats["contacts_created_in_bulk"] = len(messages) - len(rest)
        ctx.identity.resolve(conn, rest)
        settle(conn)
    by_key = dict(zip(first, messages, strict=True))
    return [by_key[key] for key in keys]


def line_numbers(order_ids: pa.Array) -> pa.Array:
    """Position of each line within its order (rows already grouped by order), from 1.

    >>> line_numbers(pa.array(["a", "a", "b", "a"])).to_pylist()
    [1, 2, 1, 3]
    """
    keys = order_ids.to_numpy(zero_copy_only=False)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
    idx = np.arange(len(keys))
    group_start = np.maximum.accumulate(np.where(starts, idx, 0))
    out = np.empty(len(keys), dtype=np.int32)
    out[order] = idx - group_start + 1
    return pa.array(out)


def line_items(table: pa.Table) -> pa.Table:
    """Per-line rows → ``ORDER_ITEM_SCHEMA`` columns (quantity defaults to 1)."""
    n = table.num_rows
    cols: dict[str, Any] = {
        "order_id": table["order_id"],
        "line_no": line_numbers(table["order_id"].combine_chunks()),
        "sku": table["sku"],
        "price": table["price"],
        ROW: table[ROW],
    }
    quantity = table["quantity"] if "quantity" in table.column_names else pa.nulls(n, pa.int64())
    cols["quantity"] = pc.cast(pc.fill_null(quantity, 1), pa.int32())
    for src, dst in (("product_name", "name"), ("category", "category"), ("brand", "brand")):
        if src in table.column_names:
            cols[dst] = table[src]
    return pa.table(cols)


_ITEM_KEYS = {"sku": "sku", "name": "name", "category": "category", "brand": "brand"}


def json_items(table: pa.Table) -> tuple[pa.Table, list[Reject]]:
    """The ``items`` column's JSON lists → item rows; an unusable item rejects its row."""
    names = ("order_id", "line_no", "sku", "name", "category", "brand", "quantity", "price", ROW)
    out: dict[str, list[Any]] = {k: [] for k in names}
    rejects: list[Reject] = []
    for row in table.select(["order_id", "items", ROW]).to_pylist():
        if row["items"] is None:
            continue
        items = orjson.loads(row["items"])
        problem = _items_problem(items)
        if problem:
            rejects.append(Reject(row[ROW], "items", problem))
            continue
        for n, item in enumerate(items, start=1):
            out["order_id"].append(row["order_id"])
            out["line_no"].append(n)
            for key, col in _ITEM_KEYS.items():
                out[col].append(None if item.get(key) is None else str(item[key]))
            out["quantity"].append(int(item.get("quantity") or 1))
            out["price"].append(str(item["price"]))
            out[ROW].append(row[ROW])
    schema = {"line_no": pa.int32(), "quantity": pa.int32(), ROW: pa.int64()}
    return pa.table({k: pa.array(v, schema.get(k, pa.string())) for k, v in out.items()}), rejects


def _items_problem(items: Any) -> str | None:
    if not isinstance(items, list):
        return "items must be a JSON list of {sku, quantity, price}"
    for n, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not item.get("sku") or item.get("price") is None:
            return f"item {n} needs sku and price"
        qty = item.get("quantity", 1)
        if not isinstance(qty, int | float) or qty < 1:
            return f"item {n}: quantity must be a whole number of at least 1"
        try:
            float(item["price"])
        except (TypeError, ValueError):
            return f"item {n}: price {item['price']!r} is not a number"
    return None


def _rows_of(table: pa.Table, order_ids: list[str]) -> dict[str, list[int]]:
    """File rows of the given orders (only computed when some order is refused)."""
    out: dict[str, list[int]] = {o: [] for o in order_ids}
    if not order_ids:
        return out
    part = table.filter(pc.is_in(table["order_id"], value_set=pa.array(order_ids, pa.string())))
    for order_id, row in zip(part["order_id"].to_pylist(), part[ROW].to_pylist(), strict=True):
        out[order_id].append(row)
    return out


def _order_lines(table: pa.Table) -> tuple[pa.Table, pa.Table, list[Reject]]:
    """The chunk's item rows (with ``_row``) in whichever form the file gives them."""
    if "items" in table.column_names:
        items, rejects = json_items(table)
        bad = pa.array([r.row_number for r in rejects], pa.int64())
        return table.filter(pc.invert(pc.is_in(table[ROW], value_set=bad))), items, rejects
    if "sku" in table.column_names:
        return table, line_items(table), []
    return (
        table,
        pa.table({"order_id": pa.array([], pa.string()), ROW: pa.array([], pa.int64())}),
        [],
    )


def load_orders(conn: Any, ctx: LoadContext, table: pa.Table) -> Loaded:
    good_rows = table.num_rows
    table, items, rejects = _order_lines(table)
    heads = order_heads(table)
    stats: dict[str, int] = {}
    customers = resolve_customers(conn, ctx, heads, stats)
    contact_ids = pa.array(
        [m.contact_id if m.dropped is None else None for m in customers], pa.int64()
    )
    rejects += _refused_customers(table, heads, customers)
    orders = heads.append_column("contact_id", contact_ids)
    orders = orders.filter(pc.is_valid(orders["contact_id"]))
    items = items.filter(pc.is_in(items["order_id"], value_set=orders["order_id"]))
    with timed(stats, "ms_commerce"):
        result = ctx.commerce.upsert_orders(
            conn,
            ctx.workspace_id,
            _with_attributes(orders, ORDER_COLUMNS),
            items.drop_columns([ROW]),
        )
    rejects += _commerce_order_rejects(result, table, orders, items)
    stats.update({k: int(result.get(k, 0)) for k in ("orders_inserted", "orders_updated", "items")})
    return Loaded(good_rows - len({r.row_number for r in rejects}), rejects, stats)


def _refused_customers(table: pa.Table, heads: pa.Table, customers: list[Message]) -> list[Reject]:
    refused = {
        order_id: f"identity resolution refused the customer: {m.dropped or 'no contact'}"
        for order_id, m in zip(heads["order_id"].to_pylist(), customers, strict=True)
        if m.dropped is not None or m.contact_id is None
    }
    rows_of = _rows_of(table, list(refused))
    return [Reject(r, "identifier", why) for o, why in refused.items() for r in rows_of[o]]


def _commerce_order_rejects(
    result: dict[str, Any], table: pa.Table, orders: pa.Table, items: pa.Table
) -> list[Reject]:
    bad_orders, bad_items = result.get("rejected_orders", []), result.get("rejected_items", [])
    if not bad_orders and not bad_items:
        return []
    order_ids = orders["order_id"].to_pylist()
    rows_of = _rows_of(table, sorted({order_ids[r["row"]] for r in bad_orders}))
    item_rows = items[ROW].to_pylist()
    out = [
        Reject(row, r.get("field") or "order_id", str(r.get("reason")))
        for r in bad_orders
        for row in rows_of[order_ids[r["row"]]]
    ]
    out += [
        Reject(int(item_rows[r["row"]]), r.get("field") or "sku", str(r.get("reason")))
        for r in bad_items
    ]
    return out


# -- events -----------------------------------------------------------------------------


def event_message(ctx: LoadContext, row: dict[str, Any]) -> Message:
    """A track call for this row; email/phone travel in ``context.traits`` as in Segment."""
    props = orjson.loads(row["properties"]) if row.get("properties") else {}
    props.update(_custom(row, "properties."))
    traits = {k: row[k] for k in ("email", "phone") if row.get(k) is not None}
    at = row.get("timestamp") or ctx.at
    return Message(
        workspace_id=ctx.workspace_id,
        message_id=row.get("message_id") or ctx.message_id(row[ROW]),
        type="track",
        event=row["event"],
        timestamp=at,
        original_timestamp=row.get("timestamp"),
        received_at=ctx.at,
        user_id=row.get("external_id"),
        anonymous_id=row.get("anonymous_id"),
        properties=props if isinstance(props, dict) else {"value": props},
        context={"traits": traits} if traits else {},
        source="import",
    )


def load_events(conn: Any, ctx: LoadContext, table: pa.Table) -> Loaded:
    rows = table.to_pylist()
    stats: dict[str, int] = {}
    with timed(stats, "ms_build"):
        messages = [event_message(ctx, row) for row in rows]
    with timed(stats, "ms_ingest"):
        outcome = ctx.events.ingest_sync(messages)
    rejects = [
        Reject(row[ROW], "identifier", f"identity resolution refused the event: {m.dropped}")
        for m, row in zip(messages, rows, strict=True)
        if m.dropped is not None
    ]
    stats.update({"stored": int(outcome.stored), "duplicates": int(outcome.duplicates)})
    return Loaded(len(rows) - len(rejects), rejects, stats)


LOADERS: dict[str, Callable[[Any, LoadContext, pa.Table], Loaded]] = {
    "contacts": load_contacts,
    "orders": load_orders,
    "products": load_products,
    "events": load_events,
}


def run_loader(
    entity: str, conn: Any, ctx: LoadContext, table: pa.Table, planned: Any = None
) -> Loaded:
    """``LOADERS[entity]``, with what ``plan_chunk`` settled outside the writer."""
    if entity == "contacts":
        return load_contacts(conn, ctx, table, planned)
    return LOADERS[entity](conn, ctx, table)


def plan_chunk(entity: str, ctx: LoadContext, table: pa.Table) -> Any:
    """Work on a coerced chunk that needs no database, done before its unit of work."""
    return plan_contacts(ctx, table) if entity == "contacts" else None
