"""Where the writer reports its units' outcomes, profile writes take the narrow forms
(queued locales by ``store.write_locales``, without ``RETURNING``; loaded contacts by
``update_contacts(changed_only=True)``, only the columns that changed). The same generated
streams as the quick-path test run through two stores, one forced onto the one-statement
form with every column written (``35037f5``'s writes); with the same ``updated_at`` stamps
in both, every identity table, stamps included, and every message's contact must be equal.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from retenta.app import build_container
from retenta.identity import store
from retenta.identity.service import IdentityService
from retenta.settings import Settings
from tests.identity.helpers import T0
from tests.identity.test_quick_path import _stream


def _run(tmp: Path, seed: int) -> Iterator[Any]:
    c = build_container(Settings(data_dir=tmp, background_workers=False))
    stamps = (T0 + timedelta(days=400, microseconds=i) for i in itertools.count())
    c.identity._new_stamp = lambda: next(stamps)  # type: ignore[method-assign]
    try:
        yield from _stream(c, seed)
        with c.db.read() as cur:
            yield sorted(cur.execute("SELECT * EXCLUDE (workspace_id) FROM contacts").fetchall())
    finally:
        c.close()


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_narrow_profile_writes_leave_the_tables_the_one_statement_leaves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    calls: list[str] = []
    real_locales, real_update = store.write_locales, store.update_contacts
    real_columns = store.changed_columns

    def locales(cur: Any, rows: Any, stamp: Any) -> None:
        calls.append("write_locales")
        real_locales(cur, rows, stamp)

    def update(cur: Any, states: Any, *, changed_only: bool = False) -> None:
        if changed_only and states:
            rows = store._contact_rows(states)
            calls.append(",".join(real_columns(states, rows)))
        real_update(cur, states, changed_only=changed_only)

    monkeypatch.setattr(store, "write_locales", locales)
    monkeypatch.setattr(store, "update_contacts", update)
    narrow = list(_run(tmp_path / "narrow", seed))
    assert calls.count("write_locales") > 5
    written = [c for c in calls if c != "write_locales"]
    # rows that changed some columns only (no merge, no first write of every column)
    assert any("created_at" not in c and "attributes" in c for c in written)

    calls.clear()
    monkeypatch.setattr(IdentityService, "reports_outcomes", lambda self: False)
    monkeypatch.setattr(store, "changed_columns", lambda s, r: list(store.CONTACT_SCHEMA.names[2:]))
    whole = list(_run(tmp_path / "whole", seed))
    assert "write_locales" not in calls
    names = ["messages", "contacts", "identities", "merges", "identity_events", "all contacts"]
    for name, got, want in zip(names, narrow, whole, strict=True):
        assert got == want, name
    assert len(narrow[-1]) > 300
