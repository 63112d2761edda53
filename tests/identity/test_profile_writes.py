"""``write_profiles`` in one statement and in its narrow form (``narrow_locales``: the ids
that change selected first, then an ``UPDATE`` without ``RETURNING``) write the same rows
and report the same changed contacts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from retenta.app import Container
from retenta.identity import store
from retenta.identity.service import IdentityService
from tests.conftest import Workspace
from tests.identity.helpers import msg, resolve

LOCALES = [  # (language, timezone) queued for each of the first contacts
    ("uk-UA", None), ("uk-UA", None), (None, "Europe/Kyiv"), ("en-GB", "Europe/London"),
    ("uk-UA", "Europe/Kyiv"), (None, None), ("de-DE", None), ("uk-UA", None),
]  # fmt: skip


@pytest.fixture
def people(container: Container, ws: Workspace) -> list[int]:
    """Twelve contacts: some with a stored language or timezone, one erased."""
    people = resolve(container, [msg(ws.id, "identify", user=f"p{i}", traits={"n": i})
                                 for i in range(12)])  # fmt: skip
    ids = [m.contact_id or 0 for m in people]

    def shape(cur: Any) -> None:
        cur.execute("UPDATE contacts SET language = 'uk-UA' WHERE id IN (?, ?)", ids[:2])
        cur.execute("UPDATE contacts SET timezone = 'Europe/Kyiv' WHERE id = ?", [ids[4]])
        cur.execute("UPDATE contacts SET erased_at = now() WHERE id = ?", [ids[7]])

    container.db.write(shape)
    return ids


def _written(container: Container, ids: list[int], *, narrow: bool) -> tuple[Any, ...]:
    stamp = datetime(2026, 5, 1, tzinfo=UTC)
    out: list[Any] = []

    def unit(cur: Any) -> None:
        changed = store.load_rows(cur, ids[8:10])
        for state in changed.values():
            state.language, state.attributes["n"] = "fr-FR", -1
            state.updated_at = stamp
        locales = [(cid, lang, tz) for cid, (lang, tz) in zip(ids, LOCALES, strict=False)]
        out.append(store.write_profiles(cur, list(changed.values()), locales, stamp,
                                        narrow=narrow))  # fmt: skip
        out.append(cur.execute("SELECT * FROM contacts ORDER BY id").fetchall())
        raise RuntimeError("rolled back: both forms start from the same rows")

    with pytest.raises(RuntimeError, match="rolled back"):
        container.db.write(unit)
    return tuple(out)


def test_the_narrow_form_writes_what_the_single_statement_writes(
    container: Container, people: list[int]
) -> None:
    one = _written(container, people, narrow=False)
    narrow = _written(container, people, narrow=True)
    assert narrow == one
    changed, rows = one
    # stored uk-UA, erased, and the input with no value change nothing
    assert changed == {people[i] for i in (2, 3, 4, 6)}
    by_id = {r[1]: r for r in rows}
    assert by_id[people[8]][8] == "fr-FR"


def test_the_narrow_form_with_nothing_to_change_writes_nothing(
    container: Container, people: list[int]
) -> None:
    stamp = datetime(2026, 5, 1, tzinfo=UTC)

    def unit(cur: Any) -> tuple[set[int], Any]:
        before = cur.execute("SELECT * FROM contacts ORDER BY id").fetchall()
        found = store.narrow_locales(cur, [(people[0], "uk-UA", None)], stamp)
        return found, before == cur.execute("SELECT * FROM contacts ORDER BY id").fetchall()

    assert container.db.write(unit) == (set(), True)


def test_resolve_takes_the_narrow_form_on_a_large_table(
    container: Container, ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ann,) = resolve(container, [msg(ws.id, "identify", user="ann", traits={"n": 1})])
    monkeypatch.setattr(store, "NARROW_LOCALES_FROM", 0)
    # the narrow form serves writers whose units do not report their outcome
    monkeypatch.setattr(IdentityService, "reports_outcomes", lambda self: False)
    calls: list[int] = []
    real = store.narrow_locales

    def counting(cur: Any, rows: Any, stamp: datetime) -> set[int]:
        calls.append(len(rows))
        return real(cur, rows, stamp)

    monkeypatch.setattr(store, "narrow_locales", counting)
    resolve(container, [msg(ws.id, "page", user="ann", context={"locale": "uk-UA"}, minutes=1)])
    assert calls == [1]
    resolve(container, [msg(ws.id, "page", user="ann", context={"locale": "uk-UA"}, minutes=2)])
    assert calls == [1]  # a known no-op now: nothing queued
    resolve(container, [msg(ws.id, "page", user="ann", context={"locale": "en-GB"}, minutes=3)])
    assert calls == [1, 1]
    with container.db.read() as cur:
        row = cur.execute("SELECT language FROM contacts WHERE id = ?", [ann.contact_id]).fetchone()
    assert row == ("en-GB",)


def test_changed_columns_compare_with_the_stored_row(
    container: Container, people: list[int]
) -> None:
    """Only the columns some state changed; stored JSON compared as its text (another
    spelling of the same object is written again, as before); every column for a state
    that was not loaded."""
    stamp = datetime(2026, 5, 1, tzinfo=UTC)

    def unit(cur: Any) -> list[Any]:
        cur.execute("UPDATE contacts SET attributes = '{\"n\": 9}' WHERE id = ?", [people[3]])
        states = store.load_rows(cur, people[:4])
        out = []
        for cid in people[:3]:
            out.append(store.changed_columns([states[cid]], store._contact_rows([states[cid]])))
        states[people[0]].updated_at = stamp
        states[people[1]].attributes["n"] = 5
        states[people[2]].last_seen_at = stamp
        out += [store.changed_columns([s], store._contact_rows([s])) for s in states.values()]
        one = [states[people[0]], states[people[2]]]
        out.append(store.changed_columns(one, store._contact_rows(one)))
        states[people[0]].loaded = None
        out.append(store.changed_columns(one, store._contact_rows(one)))
        return out

    (*untouched, ts, attrs, seen, respelled, both, unloaded) = container.db.write(unit)
    assert untouched == [[], [], []]
    assert (ts, attrs, seen) == (["updated_at"], ["attributes"], ["last_seen_at"])
    assert respelled == ["attributes"]  # '{"n": 9}' is stored, '{"n":9}' would be written
    assert both == ["updated_at", "last_seen_at"]
    assert unloaded == list(store.CONTACT_SCHEMA.names[2:])


@pytest.mark.parametrize("given", ["language", "timezone", "both"])
def test_write_locales_writes_what_the_single_statement_writes(
    container: Container, people: list[int], given: str
) -> None:
    """``write_locales`` sets only the locale columns some row gives; the rows (stamps
    included) are those the one statement leaves, whichever columns the batch gives."""
    stamp = datetime(2026, 5, 1, tzinfo=UTC)
    pick = {  # LOCALES' rows that give only a language, only a timezone, or any
        "language": lambda lang, tz: tz is None,
        "timezone": lambda lang, tz: lang is None,
        "both": lambda lang, tz: True,
    }[given]
    locales = [(cid, lang, tz) for cid, (lang, tz) in zip(people, LOCALES, strict=False)
               if pick(lang, tz)]  # fmt: skip
    assert locales

    def unit(cur: Any, narrow: bool) -> Any:
        changed = store.load_rows(cur, people[8:10])
        for state in changed.values():
            state.language, state.attributes["n"] = "fr-FR", -1
            state.updated_at = stamp
        if narrow:
            store.write_locales(cur, locales, stamp)
            store.update_contacts(cur, list(changed.values()), changed_only=True)
        else:
            store.write_profiles(cur, list(changed.values()), locales, stamp)
        rows = cur.execute("SELECT * FROM contacts ORDER BY id").fetchall()
        raise RuntimeError("rolled back", rows)

    out = []
    for narrow in (False, True):
        with pytest.raises(RuntimeError, match="rolled back") as err:
            container.db.write(lambda cur, n=narrow: unit(cur, n))  # type: ignore[misc]
        out.append(err.value.args[1])
    assert out[0] == out[1]
    stamped = {r[1] for r in out[1] if r[3] == stamp}
    assert stamped & set(people[:8])  # some locale did change a contact
