"""Loading contacts by id: an ``IN`` list for a few ids, one list parameter for many
(``store.ids_filter``); both answer what a plain read of each contact answers."""

from __future__ import annotations

from typing import Any

import pytest

from retenta.app import Container
from retenta.identity import store
from tests.conftest import make_workspace
from tests.identity.helpers import msg, resolve

PEOPLE = 720


@pytest.fixture
def people(container: Container) -> tuple[Container, list[int]]:
    """720 contacts with two or three identifiers each; every 50th erased."""
    ws = make_workspace(container).id
    messages = [
        msg(ws, "identify", user=f"u{i}", anon=f"a{i}", minutes=i % 7,
            traits={"email": f"p{i}@x.io"} if i % 3 else {"name": f"P {i}"},
            context={"locale": "uk-UA"} if i % 4 == 0 else None)
        for i in range(PEOPLE)
    ]  # fmt: skip
    ids = [m.contact_id or 0 for m in resolve(container, messages)]
    assert len(set(ids)) == PEOPLE
    erased = ids[::50]
    container.db.write(
        lambda cur: cur.execute(
            "UPDATE contacts SET erased_at = now() WHERE id = ANY(?::BIGINT[])", [erased]
        )
    )
    return container, ids


def _reference(cur: Any, ids: list[int]) -> dict[int, tuple[Any, ...]]:
    """Each live contact read on its own: its row and its identities with their times."""
    out: dict[int, tuple[Any, ...]] = {}
    for cid in ids:
        row = cur.execute(
            f"SELECT {store.LOAD_COLUMNS} FROM contacts WHERE id = ? AND erased_at IS NULL",
            [cid],
        ).fetchone()
        if row is None:
            continue
        state = store._state(row)
        idents = cur.execute(
            "SELECT type, value, first_seen, last_seen FROM identities WHERE contact_id = ?",
            [cid],
        ).fetchall()
        out[cid] = (_row(state), {(t, v): (f, last) for t, v, f, last in idents})
    return out


def _row(state: Any) -> tuple[Any, ...]:
    return (
        state.workspace_id, state.id, state.created_at, state.updated_at, state.last_seen_at,
        state.merged_into, state.attributes, state.provenance, state.language, state.timezone,
    )  # fmt: skip


@pytest.mark.parametrize("size", [1, 7, store.ANY_LIST_FROM - 1, store.ANY_LIST_FROM, 700])
def test_loads_of_any_size_equal_a_plain_read_of_each_contact(
    people: tuple[Container, list[int]], size: int
) -> None:
    c, ids = people
    step = max(1, len(ids) // size)
    wanted = ids[::step][:size]
    wanted += [max(ids) + 10_000, -5]  # ids nobody holds are not returned
    where, _ = store.ids_filter("id", sorted(set(wanted)))
    assert ("ANY" in where) == (len(set(wanted)) >= store.ANY_LIST_FROM)
    with c.db.read() as cur:
        expected = _reference(cur, wanted)
        loaded = store.load_contacts(cur, [*wanted, *wanted[:3]])  # repeats load once
        rows = store.load_rows(cur, wanted)
    assert sorted(loaded) == sorted(expected) == sorted(rows)
    assert ids[0] in wanted
    assert ids[0] not in loaded
    for cid, state in loaded.items():
        row, idents = expected[cid]
        assert _row(state) == row
        assert not state.partial
        assert {k: (r.first_seen, r.last_seen) for k, r in state.identities.items()} == idents
        assert len(idents) >= 2
        assert rows[cid].partial
        assert rows[cid].identities == {}
        assert _row(rows[cid]) == row


def test_an_in_list_holds_integers_only() -> None:
    """The ``IN`` list is written as literals: anything but an integer is refused."""
    assert store.ids_filter("id", [3, -5]) == ("id IN (3,-5)", [])
    with pytest.raises(ValueError, match="invalid literal for int"):
        store.ids_filter("id", ["1) OR (1=1"])  # type: ignore[list-item]
