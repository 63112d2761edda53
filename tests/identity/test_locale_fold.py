"""A loaded contact whose only change is a locale joins the queued locales' ``UPDATE``
(``store.locale_row``, ``BatchResolver.fold_locale_only``) instead of costing its own;
its last-seen time goes to the write-behind. The rows left are those ``update_contacts``
leaves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from retenta.app import Container
from retenta.core.messages import Message
from retenta.identity import store
from retenta.identity.resolver import BatchResolver
from tests.conftest import Workspace
from tests.identity.helpers import T0, msg, resolve

STAMP = datetime(2026, 5, 1, tzinfo=UTC)


@pytest.fixture
def people(container: Container, ws: Workspace) -> list[int]:
    """Six contacts with traits; the first has a stored language and timezone."""
    people = resolve(container, [msg(ws.id, "identify", user=f"p{i}", traits={"n": i})
                                 for i in range(6)])  # fmt: skip
    ids = [m.contact_id or 0 for m in people]
    container.db.write(
        lambda cur: cur.execute(
            "UPDATE contacts SET language = 'uk-UA', timezone = 'Europe/Kyiv' WHERE id = ?",
            [ids[0]],
        )
    )
    return ids


def test_locale_row_is_given_for_a_locale_change_only(
    container: Container, people: list[int]
) -> None:
    def unit(cur: Any) -> list[Any]:
        states = store.load_rows(cur, people)
        for state in states.values():
            state.updated_at = STAMP
        a, b, c, d, e, f = (states[cid] for cid in people)
        a.language = "en-GB"  # stored uk-UA / Europe/Kyiv: the timezone is kept
        b.timezone, b.last_seen_at = "Europe/Kyiv", STAMP  # last seen is the caller's
        c.language, c.attributes["n"] = "de-DE", -1  # a trait too
        d.language, d.provenance["n"] = "de-DE", {"source": "x"}
        e.language, e.created_at = "de-DE", T0 - timedelta(days=1)
        f.language, f.updated_at = "de-DE", STAMP - timedelta(seconds=1)  # not this unit's
        out = [store.locale_row(s, STAMP) for s in (a, b, c, d, e, f)]
        a.language, a.timezone = "en-GB", None  # a timezone cleared: not a locale write
        b.timezone = None  # nothing left to write
        out += [store.locale_row(a, STAMP), store.locale_row(b, STAMP)]
        c.attributes["n"] = 2  # back to the stored traits
        c.loaded = None
        out.append(store.locale_row(c, STAMP))
        return out

    got = container.db.write(unit)
    assert got[:2] == [(people[0], "en-GB", None), (people[1], None, "Europe/Kyiv")]
    assert got[2:] == [None] * 7


def _batch(ws: str) -> list[Message]:
    """People 1-4 send an identify with their stored traits and a new locale (person 3 a
    changed trait too), person 5 a page view with a locale."""
    later = T0 + timedelta(hours=1)
    return [
        msg(ws, "identify", user=f"p{i}", traits={"n": -1 if i == 3 else i},
            context={"locale": "fr-FR"}, at=later)
        for i in range(1, 5)
    ] + [msg(ws, "page", user="p5", context={"locale": "fr-FR"}, at=later)]  # fmt: skip


def _identify_again(container: Container, batch: list[Message], fold: bool) -> tuple[Any, ...]:
    """``batch`` resolved: the rows ``update_contacts`` got, last-seen times before the
    write-behind's flush, the contacts rows after it."""
    for m in batch:
        m.contact_id = None
    calls: list[int] = []
    real = store.update_contacts

    def update(cur: Any, states: Any, *, changed_only: bool = False) -> None:
        calls.append(len(states))
        real(cur, states, changed_only=changed_only)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(store, "update_contacts", update)
        if not fold:
            mp.setattr(BatchResolver, "fold_locale_only", lambda self, dirty, rows: dirty)
        resolve(container, batch)
    with container.db.read() as cur:
        before = cur.execute("SELECT id, last_seen_at FROM contacts ORDER BY id").fetchall()
    container.db.write(container.identity.flush)
    with container.db.read() as cur:
        after = cur.execute("SELECT * EXCLUDE (updated_at) FROM contacts ORDER BY id")
        return calls, before, after.fetchall()


def test_a_folded_locale_leaves_the_rows_update_contacts_leaves(
    container: Container, ws: Workspace, people: list[int]
) -> None:
    resolve(container, [msg(ws.id, "page", user="p0")])  # the writer now reports outcomes
    snapshot = container.db.write(lambda cur: cur.execute("SELECT * FROM contacts").fetchall())

    batch = _batch(ws.id)
    folded_calls, folded_before, folded = _identify_again(container, batch, fold=True)

    def restore(cur: Any) -> None:
        cur.execute("DELETE FROM contacts")
        cur.executemany(f"INSERT INTO contacts VALUES ({','.join('?' * 11)})", snapshot)

    container.db.write(restore)
    container.identity.cache.fingerprints.clear()
    plain_calls, plain_before, plain = _identify_again(container, batch, fold=False)

    assert plain_calls == [4]
    assert folded_calls == [1]  # only the changed trait's row
    assert folded == plain
    seen = {cid: at for cid, at in plain_before}
    waiting = [cid for cid, at in folded_before if at != seen[cid]]
    assert waiting == people[1:3] + people[4:5]  # their last seen went to the write-behind
