"""The prepared unit's columns and filter hashes equal the obvious (slower) computations."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from retenta.core.messages import Message
from retenta.ingest.dedup import hash_keys, key_hash
from retenta.storage.duckdb.events import BASE_SCHEMA, messages_to_base

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def obvious_base(messages: list[Message]) -> pa.Table:
    """Every value converted by Arrow itself, one document dump a call (the old way)."""

    def doc(value: dict[str, Any]) -> str | None:
        return orjson.dumps(value, default=str).decode() if value else None

    rows = [
        [m.workspace_id, m.message_id, m.type, m.event, m.user_id, m.anonymous_id,
         m.timestamp, m.original_timestamp, m.sent_at, m.received_at, doc(m.properties),
         doc(m.traits), doc(m.context), m.source]
        for m in messages
    ]  # fmt: skip
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in BASE_SCHEMA]
    return pa.table([list(c) for c in columns], schema=BASE_SCHEMA)


aware = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=3)), timezone(-timedelta(hours=5))]),
)  # fmt: skip
# Repeats of one object are what the conversion takes a shortcut on.
times = st.one_of(st.none(), st.just(NOW), aware)
int64s = st.integers(-(2**63), 2**63 - 1)  # what orjson writes (both ways raise past it)
documents = st.dictionaries(
    st.text(max_size=3), st.one_of(st.none(), int64s, st.text(max_size=5), st.just(NOW))
)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    return Message(
        workspace_id="ws", message_id=draw(st.text(max_size=4)),
        type=draw(st.sampled_from(["track", "identify", "page"])), timestamp=draw(aware),
        received_at=NOW, event=draw(st.none() | st.text(max_size=4)),
        user_id=draw(st.none() | st.just("u")), anonymous_id=draw(st.none() | st.just("a")),
        original_timestamp=draw(times), sent_at=draw(times), properties=draw(documents),
        traits=draw(documents), context=draw(documents), source="api",
    )  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(batch=st.lists(messages(), max_size=12))
def test_base_columns_equal_arrows_own_conversion(batch: list[Message]) -> None:
    assert messages_to_base(batch).equals(obvious_base(batch))


class Instant(datetime):
    """A datetime subclass (as pandas' Timestamp is): left to Arrow's conversion."""


def test_naive_times_and_subclasses_are_converted_by_arrows_rules() -> None:
    naive = Message(workspace_id="w", message_id="n", type="page",
                    timestamp=datetime(2026, 1, 1, 3), received_at=NOW)  # fmt: skip
    table = messages_to_base([naive])
    assert table.equals(obvious_base([naive]))
    assert table.column("timestamp")[0].as_py() == datetime(2026, 1, 1, 3, tzinfo=UTC)
    at = Instant(2026, 1, 1, 3, tzinfo=timezone(timedelta(hours=2)))
    sub = Message(workspace_id="w", message_id="s", type="page", received_at=NOW, timestamp=at)
    assert messages_to_base([sub]).equals(obvious_base([sub]))


@settings(max_examples=200, deadline=None)
@given(keys=st.lists(st.tuples(st.text(max_size=8), st.text(max_size=40)), max_size=20))
def test_filter_hashes_are_the_md5_tails(keys: list[tuple[str, str]]) -> None:
    hashes = hash_keys(keys)
    assert hashes.dtype.name == "uint64"
    expected = [
        int.from_bytes(hashlib.md5(f"{w}\x1f{m}".encode()).digest()[8:], "little")
        for w, m in keys
        if "\ud800" not in w + m  # hypothesis excludes surrogates; kept honest anyway
    ]
    assert hashes.tolist() == expected == [key_hash(k) for k in keys]
