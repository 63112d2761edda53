"""The event log's Arrow layout and its append path (the only way events are written)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa

from retenta.core.messages import Message
from retenta.storage.duckdb import event_facts, event_summary, tier_members

EVENT_SCHEMA = pa.schema(
    [
        ("workspace_id", pa.string()),
        ("message_id", pa.string()),
        ("contact_id", pa.int64()),
        ("type", pa.string()),
        ("event", pa.string()),
        ("user_id", pa.string()),
        ("anonymous_id", pa.string()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("original_timestamp", pa.timestamp("us", tz="UTC")),
        ("sent_at", pa.timestamp("us", tz="UTC")),
        ("received_at", pa.timestamp("us", tz="UTC")),
        ("properties", pa.string()),
        ("traits", pa.string()),
        ("context", pa.string()),
        ("source", pa.string()),
    ]
)
_COLUMNS = ", ".join(EVENT_SCHEMA.names)


_BASE_NAMES = [n for n in EVENT_SCHEMA.names if n != "contact_id"]
BASE_SCHEMA = pa.schema([EVENT_SCHEMA.field(n) for n in _BASE_NAMES])
_CONTACT_INDEX = EVENT_SCHEMA.get_field_index("contact_id")
_TIMESTAMP = EVENT_SCHEMA.field("timestamp").type
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def messages_to_base(messages: Sequence[Message]) -> pa.Table:
    """Every column but ``contact_id``: built before identity runs, outside the writer.

    One comprehension a column (faster than ``attrgetter`` and one ``zip``, session 9);
    the documents' dumps inlined (a call less a value); the times as microseconds. The
    short string columns go to Arrow as one list, and the four times as another, each
    column a slice of it: a conversion call costs ~4 µs whatever its length, which was
    about 55 µs of a one-event unit's 14 columns. The event name and the documents keep
    their own arrays (their size is bounded by the event size only, and one array has
    32-bit offsets).
    """
    n = len(messages)
    dumps = orjson.dumps
    short: list[str | None] = [m.workspace_id for m in messages]  # short, or one value
    short += [m.message_id for m in messages]
    short += [m.type for m in messages]
    short += [m.user_id for m in messages]
    short += [m.anonymous_id for m in messages]
    short += [m.source for m in messages]
    times: list[datetime | None] = [m.timestamp for m in messages]
    times += [m.original_timestamp for m in messages]
    times += [m.sent_at for m in messages]
    times += [m.received_at for m in messages]
    ids, at = pa.array(short, type=pa.string()), _times(times)
    return pa.Table.from_arrays(
        [
            ids.slice(0, n),
            ids.slice(n, n),
            ids.slice(2 * n, n),
            pa.array([m.event for m in messages], type=pa.string()),
            ids.slice(3 * n, n),
            ids.slice(4 * n, n),
            at.slice(0, n),
            at.slice(n, n),
            at.slice(2 * n, n),
            at.slice(3 * n, n),
            pa.array(
                [
                    dumps(m.properties, default=str).decode() if m.properties else None
                    for m in messages
                ],
                type=pa.string(),
            ),
            pa.array(
                [dumps(m.traits, default=str).decode() if m.traits else None for m in messages],
                type=pa.string(),
            ),
            pa.array(
                [dumps(m.context, default=str).decode() if m.context else None for m in messages],
                type=pa.string(),
            ),
            ids.slice(5 * n, n),
        ],
        schema=BASE_SCHEMA,
    )


def _times(values: list[datetime | None]) -> pa.Array:
    """A timestamp column, converted to microseconds here once per run of the same object.

    A request's events share one ``received_at`` object, and the parser's cached times give
    one object per distinct ``sentAt``/``timestamp`` string, so most values repeat the one
    before; Arrow's own conversion of an aware datetime costs ~0.23 µs every value. A column
    with a naive value or anything but a plain ``datetime`` goes to Arrow's conversion,
    whose answer this equals for the rest.

    >>> _times([_EPOCH + _MICROSECOND, None]).to_pylist()[1] is None
    True
    """
    out: list[int | None] = []
    last: datetime | None = None
    micros: int | None = None
    try:
        for value in values:
            if value is not last:
                last = value
                if value is None:
                    micros = None
                elif type(value) is datetime:
                    micros = (value - _EPOCH) // _MICROSECOND
                else:  # a subclass (pandas' Timestamp has nanoseconds), a date: Arrow's rules
                    raise TypeError(type(value).__name__)
            out.append(micros)
    except TypeError:  # naive (or not a plain datetime): Arrow's rules
        return pa.array(values, type=_TIMESTAMP)
    return pa.array(out, type=_TIMESTAMP)  # integers taken as microseconds


def with_contacts(base: pa.Table, keep: Any, contact_ids: Sequence[int]) -> pa.Table:
    """The rows of ``base`` where ``keep`` is true (every row when ``keep`` is None), with
    their ``contact_id`` column added.

    >>> from datetime import UTC, datetime
    >>> from retenta.core.messages import Message
    >>> now = datetime(2026, 1, 1, tzinfo=UTC)
    >>> ms = [Message(workspace_id="w", message_id=i, type="track", timestamp=now,
    ...       received_at=now, anonymous_id="a") for i in ("m1", "m2")]
    >>> t = with_contacts(messages_to_base(ms), [False, True], [7])
    >>> t.column("message_id").to_pylist(), t.column("contact_id").to_pylist()
    (['m2'], [7])
    """
    rows = base if keep is None else base.filter(pa.array(keep, type=pa.bool_()))
    contacts = pa.array(contact_ids, type=pa.int64())
    return rows.add_column(_CONTACT_INDEX, EVENT_SCHEMA.field("contact_id"), contacts)


def messages_to_arrow(messages: Sequence[Message]) -> pa.Table:
    """Every column; every message must have a contact."""
    contacts = []
    for m in messages:
        if m.contact_id is None:
            raise ValueError(f"message {m.message_id} has no contact")
        contacts.append(m.contact_id)
    return with_contacts(messages_to_base(messages), None, contacts)


def append_events(conn: Any, table: pa.Table, *, target: str = "events_recent") -> int:
    """Append an Arrow table of events in one statement; returns rows written.

    ``_incoming_events`` is found by DuckDB's replacement scan (a local of this frame),
    which costs about half a ``register``/``unregister`` pair.
    """
    if table.num_rows == 0:
        return 0
    _incoming_events = table  # read by the SQL below
    conn.execute(f"INSERT INTO {target} ({_COLUMNS}) SELECT {_COLUMNS} FROM _incoming_events")
    if target != "events_recent":  # straight into a compacted tier: keep its mirrors exact
        conn.execute(event_summary.insert_sql(event_summary.event_parts("_incoming_events")))
        conn.execute(event_facts.projection_sql("_incoming_events"))  # in this frame: the scan
    bitmap = tier_members.BITMAP_OF.get(target)
    if bitmap is not None and (members := tier_members.of(conn)) is not None:
        # before the COMMIT (``tier_members``)
        members.added(bitmap, table.column("contact_id").to_numpy(zero_copy_only=False))
    return int(table.num_rows)
