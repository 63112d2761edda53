"""The owners ``KnownIdentifiers`` keeps beside the hashes: exactly the stored ones."""

from __future__ import annotations

import duckdb
import pytest

from retenta.identity import known as known_module
from retenta.identity.known import KnownIdentifiers, key_hash


@pytest.fixture
def identities() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE identities (workspace_id VARCHAR, type VARCHAR, value VARCHAR,"
        " contact_id BIGINT)"
    )
    rows = [("ws_1", "email", f"p{n}@x.io", n) for n in range(1, 500)]
    rows += [("ws_2", "email", "p1@x.io", 9001), ("ws_1", "phone", "+380671234567", 7)]
    con.executemany("INSERT INTO identities VALUES (?, ?, ?, ?)", rows)
    return con


def test_a_rebuild_reads_every_identifiers_owner(identities: duckdb.DuckDBPyConnection) -> None:
    known = KnownIdentifiers()
    known.rebuild(identities)
    stored = identities.execute("SELECT workspace_id, type, value, contact_id FROM identities")
    for ws, id_type, value, owner in stored.fetchall():
        assert known.owner_at_rebuild(key_hash((ws, id_type, value))) == owner
    assert known.owner_at_rebuild(key_hash(("ws_3", "email", "p1@x.io"))) is None
    assert known.owner_at_rebuild(key_hash(("ws_1", "email", "nobody@x.io"))) is None


def test_identifiers_added_since_have_no_owner_and_the_others_keep_theirs(
    identities: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(known_module, "MERGE_RECENT_AT", 3)
    known = KnownIdentifiers()
    known.rebuild(identities)
    fresh = [key_hash(("ws_1", "email", f"new{n}@x.io")) for n in range(3)]
    known.added(fresh)  # the third one merges the recent hashes into the sorted ones
    assert known.recent == set()
    assert known.maybe_stored(fresh) == [True, True, True]
    assert [known.owner_at_rebuild(h) for h in fresh] == [None, None, None]
    assert known.owner_at_rebuild(key_hash(("ws_1", "email", "p42@x.io"))) == 42
    assert known.owner_at_rebuild(key_hash(("ws_1", "phone", "+380671234567"))) == 7
    assert known.owned[0] is known.sorted
