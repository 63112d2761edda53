"""Set-based creation of brand-new contacts (imports): the same result as the resolver."""

from __future__ import annotations

import asyncio
import doctest
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retenta.app import Container, build_container
from retenta.core.messages import Message
from retenta.identity import bulk
from retenta.identity.bulk import create_new_contacts, fresh_attributes
from retenta.identity.known import KnownIdentifiers
from retenta.identity.profile import Policies, apply_traits
from retenta.settings import IdentitySettings, Settings

from .helpers import T0, msg

Build = Callable[[str], list[Message]]


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "MIN_BULK_ROWS", 1)


def make(tmp_path: Path, name: str) -> Container:
    identity = IdentitySettings(field_policies={"tags": "union", "first_name": "first"})
    settings = Settings(data_dir=tmp_path / name, background_workers=False, identity=identity)
    return build_container(settings)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Container, Container]]:
    a, b = make(tmp_path, "a"), make(tmp_path, "b")
    yield a, b
    a.close()
    b.close()


def identify(ws: str, n: int, **extra: Any) -> Message:
    m = msg(ws, "identify", traits=extra.pop("traits", {}), source="import", **extra)
    m.message_id = f"import-{n}"
    return m


def import_batch(ws: str) -> list[Message]:
    """New people, plus every case the bulk path must leave to the resolver."""
    out = [
        identify(ws, i, user=f"c-{i}", traits={"email": f"User{i}@Example.com",
                 "phone": f"+38050123{i:04d}", "first_name": "Ann", "tags": "vip",
                 "gender": "", "city": None}, context={"locale": "uk", "timezone": "Europe/Kyiv"})
        for i in range(12)
    ]  # fmt: skip
    out += [
        identify(ws, 100, traits={"email": "shared@example.com", "first_name": "Bo"}),
        identify(ws, 101, user="c-101", traits={"email": "shared@example.com"}),  # same email
        identify(ws, 102, user="c-102", traits={"email": "not-an-email"}),  # rejected value
        identify(ws, 103, user="undefined", traits={"email": "blocked@example.com"}),  # blocked
        identify(ws, 104, user="c-known", traits={"first_name": "Later"}),  # stored already
        identify(ws, 105, user="c-erased", traits={"email": "gone@example.com"}),  # suppressed
        identify(ws, 106, traits={"first_name": "Nobody"}),  # no identifier at all
        identify(ws, 107, anon="anon-107", traits={"language": "pl"}),
    ]
    return out


def seed(c: Container, ws: str) -> None:
    """A stored contact, and an erased one whose identifiers are suppressed."""
    first = [identify(ws, 900, user="c-known"), identify(ws, 901, user="c-erased")]
    c.db.write(lambda conn: c.identity.resolve(conn, first))
    erased = first[1].contact_id
    assert erased is not None

    async def erase() -> None:
        await c.contacts.erase(workspace_id=ws, contact_id=erased, requested_by="test")

    asyncio.run(erase())


def run_regular(c: Container, messages: Sequence[Message]) -> int:
    c.db.write(lambda conn: c.identity.resolve(conn, messages))
    return 0


def run_bulk(c: Container, messages: Sequence[Message]) -> int:
    def work(conn: Any) -> int:
        rest = create_new_contacts(c.identity, conn, messages)
        c.identity.resolve(conn, rest)
        return len(messages) - len(rest)

    return c.db.write(work)


def people(c: Container, ws: str, messages: Sequence[Message]) -> dict[str, Any]:
    """Everything stored, with contact ids replaced by the message numbers that own them."""
    names: dict[int, str] = {}
    for m in messages:
        if m.contact_id is not None:
            names.setdefault(m.contact_id, m.message_id)
    with c.db.read() as cur:
        contacts = cur.execute(
            "SELECT id, created_at, last_seen_at, merged_into, attributes, provenance,"
            " language, timezone FROM contacts WHERE workspace_id = ? ORDER BY id",
            [ws],
        ).fetchall()
        idents = cur.execute(
            "SELECT type, value, contact_id, first_seen, last_seen FROM identities"
            " WHERE workspace_id = ? ORDER BY type, value",
            [ws],
        ).fetchall()
        notes = cur.execute(
            "SELECT kind, contact_id, identifier_type, identifier_value, reason, message_id"
            " FROM identity_events WHERE workspace_id = ? ORDER BY message_id, kind",
            [ws],
        ).fetchall()
    return {
        "contacts": sorted(
            (names.get(r[0], "seed"), *r[1:4], orjson.loads(r[4]), orjson.loads(r[5]), *r[6:])
            for r in contacts
        ),
        "identities": [(t, v, names.get(cid, "seed"), f, s) for t, v, cid, f, s in idents],
        "events": [(k, names.get(cid, "seed"), *rest) for k, cid, *rest in notes],
        "messages": [(m.message_id, names.get(m.contact_id or -1), m.dropped) for m in messages],
    }


def test_bulk_path_stores_exactly_what_the_resolver_stores(
    pair: tuple[Container, Container],
) -> None:
    regular, fast = pair
    outcome = []
    for c, run in ((regular, run_regular), (fast, run_bulk)):
        ws = c.tenancy.create_workspace(name="shop")
        seed(c, ws)
        batch = import_batch(ws)
        created = run(c, batch)
        outcome.append((created, people(c, ws, batch)))
    (_, expected), (created, got) = outcome
    assert created == 13  # the twelve new people and the new visitor; the rest: the resolver
    assert got == expected
    assert any(m[2] == "erased" for m in got["messages"])  # the suppressed row was dropped


def test_later_events_find_the_bulk_contacts(container: Container) -> None:
    ws = container.tenancy.create_workspace(name="shop")
    batch = [identify(ws, i, user=f"c-{i}", traits={"email": f"u{i}@x.io"}) for i in range(5)]
    assert run_bulk(container, batch) == 5
    later = [
        msg(ws, "track", user="c-3", minutes=5),
        msg(ws, "identify", traits={"email": "u4@x.io"}, minutes=5),
        msg(ws, "identify", user="c-1", traits={"email": "u2@x.io"}),
    ]
    container.db.write(lambda conn: container.identity.resolve(conn, later))
    assert later[0].contact_id == batch[3].contact_id
    assert later[1].contact_id == batch[4].contact_id
    with container.db.read() as cur:
        (n,) = cur.execute("SELECT count(*) FROM contacts WHERE workspace_id = ?", [ws]).fetchone()
        (conflicts,) = cur.execute(
            "SELECT count(*) FROM identity_events WHERE workspace_id = ? AND kind = 'conflict'",
            [ws],
        ).fetchone()
    assert n == 5  # nobody created twice
    assert later[2].contact_id == batch[1].contact_id
    assert conflicts == 1  # u2@x.io belongs to c-2: two external ids never merge
    # a re-import of the same rows takes the regular path: all identifiers are known now
    again = [identify(ws, i, user=f"c-{i}", traits={"email": f"u{i}@x.io"}) for i in range(5)]
    assert run_bulk(container, again) == 0


def test_a_rolled_back_unit_leaves_nothing_and_identifiers_stay_usable(
    container: Container,
) -> None:
    ws = container.tenancy.create_workspace(name="shop")
    batch = [identify(ws, i, user=f"c-{i}") for i in range(4)]

    def failing(conn: Any) -> None:
        create_new_contacts(container.identity, conn, batch)
        raise RuntimeError("the unit fails after the bulk insert")

    with pytest.raises(RuntimeError):
        container.db.write(failing)
    with container.db.read() as cur:
        assert cur.execute("SELECT count(*) FROM identities").fetchone() == (0,)
    again = [identify(ws, i, user=f"c-{i}") for i in range(4)]
    run_bulk(container, again)  # stale hashes only send these to the resolver
    assert all(m.contact_id is not None for m in again)
    with container.db.read() as cur:
        assert cur.execute("SELECT count(*) FROM contacts").fetchone() == (4,)


def test_fresh_attributes_is_apply_traits_on_an_empty_profile() -> None:
    policies = Policies(by_field={"tags": "union", "n": "max", "f": "first"})
    traits = {"a": "x", "b": "", "c": None, "tags": ["t", "t", "u"], "n": 3, "f": {}, "g": 0}
    prov = {"source": "import", "at": (T0 + timedelta(days=1)).isoformat(), "message_id": "m"}
    attrs: dict[str, Any] = {}
    provenance: dict[str, Any] = {}
    apply_traits(attrs, provenance, traits, prov, policies)
    assert fresh_attributes(traits, prov, policies) == (attrs, provenance)


def test_examples_of_the_module() -> None:
    result = doctest.testmod(bulk)
    assert result.attempted > 0
    assert result.failed == 0


@settings(max_examples=50, deadline=None)
@given(
    stored=st.lists(st.integers(0, 2**64 - 1), max_size=50),
    recent=st.sets(st.integers(0, 2**64 - 1), max_size=20),
    asked=st.lists(st.integers(0, 2**64 - 1), max_size=30),
)
def test_array_check_of_known_hashes_equals_the_known_set(
    stored: list[int], recent: set[int], asked: list[int]
) -> None:
    known = KnownIdentifiers()
    known.sorted = np.unique(np.array(stored, dtype=np.uint64))
    known.recent = recent
    asked = asked + stored[:5] + sorted(recent)[:5]
    assert bulk.maybe_stored(known, asked).tolist() == known.maybe_stored(asked)
