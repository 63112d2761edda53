"""Moving identities to another owner (``store.repoint_identities``): by rowids found
through the value index for a few values, by the join for many; the same rows either way."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from retenta.app import Container
from retenta.identity import store
from tests.conftest import make_workspace
from tests.identity.helpers import msg, resolve

AT = datetime(2026, 3, 1, tzinfo=UTC)


def _owners(c: Container) -> dict[tuple[str, str, str], tuple[int, datetime]]:
    with c.db.read() as cur:
        rows = cur.execute(
            "SELECT workspace_id, type, value, contact_id, last_seen FROM identities"
        ).fetchall()
    return {(w, t, v): (cid, seen.astimezone(UTC)) for w, t, v, cid, seen in rows}


@pytest.mark.parametrize("limit", [store.IN_LIST_UP_TO, 2])  # rowids; the join
def test_only_the_keys_named_move_even_where_other_workspaces_share_the_values(
    container: Container, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    monkeypatch.setattr(store, "IN_LIST_UP_TO", limit)
    shops = [make_workspace(container, f"Shop {i}").id for i in range(2)]
    for ws in shops:  # the same user ids, anonymous ids and emails in both shops
        resolve(container, [msg(ws, "identify", user=f"u{i}", anon=f"a{i}",
                                traits={"email": f"p{i}@x.io"}) for i in range(6)])  # fmt: skip
    before = _owners(container)
    target = before[(shops[0], "external_id", "u0")][0]
    moved = [(shops[0], "anonymous_id", f"a{i}", target, AT, AT) for i in (1, 2, 3)] + [
        (shops[0], "email", "p4@x.io", target, AT, AT)
    ]

    def repoint(cur: Any) -> None:
        store.repoint_identities(cur, moved)

    container.db.write(repoint)
    after = _owners(container)
    expected = dict(before)
    for ws, t, v, cid, _, seen in moved:
        expected[(ws, t, v)] = (cid, seen)
    assert after == expected
    assert after[(shops[1], "anonymous_id", "a1")] == before[(shops[1], "anonymous_id", "a1")]


def test_values_nobody_holds_change_nothing(container: Container) -> None:
    ws = make_workspace(container).id
    resolve(container, [msg(ws, "identify", user="u1", anon="a1")])
    before = _owners(container)
    container.db.write(
        lambda cur: store.repoint_identities(cur, [(ws, "anonymous_id", "zz", 1, AT, AT)])
    )
    assert _owners(container) == before
