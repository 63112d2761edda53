"""Locale-only profile inputs of contacts that are not loaded: one set-based UPDATE."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from retenta.app import Container, build_container
from retenta.identity import store
from retenta.identity.service import IdentityService
from retenta.settings import Settings
from tests.conftest import make_workspace
from tests.identity.helpers import contact_row, msg, resolve

UK = {"locale": "uk-UA"}
EN = {"locale": "en-GB", "timezone": "Europe/London"}


@pytest.fixture
def restarted(settings: Settings) -> Iterator[tuple[Container, str, int]]:
    """A known person (u1, a1) and a restarted writer that knows nothing of her profile."""
    c = build_container(settings)
    ws = make_workspace(c).id
    (m,) = resolve(c, [msg(ws, "identify", user="u1", anon="a1", traits={"name": "Ann"})])
    c.close()
    c = build_container(settings)
    yield c, ws, m.contact_id or 0
    c.close()


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """Every load of contact rows (``load_contacts`` reads them through ``load_rows`` too)."""
    seen: list[list[int]] = []
    real = store.load_rows

    def counting(cur: Any, ids: Any) -> Any:
        seen.append(sorted(ids))
        return real(cur, ids)

    monkeypatch.setattr(store, "load_rows", counting)
    return seen


def _locale(c: Container, cid: int) -> tuple[str | None, str | None]:
    row = contact_row(c, cid)
    return row["language"], row["timezone"]


def test_first_locale_of_a_known_person_is_written_without_loading_her(
    restarted: tuple[Container, str, int], loads: list[list[int]]
) -> None:
    c, ws, cid = restarted
    (m,) = resolve(c, [msg(ws, "page", user="u1", anon="a1", context=UK, minutes=1)])
    assert m.contact_id == cid
    assert loads == []
    row = contact_row(c, cid)
    assert (row["language"], row["timezone"]) == ("uk-UA", None)
    assert row["attributes"] == {"name": "Ann"}  # nothing else touched
    stamped = row["updated_at"]
    resolve(c, [msg(ws, "page", anon="a1", context=UK, minutes=2)])  # a known no-op now
    assert contact_row(c, cid)["updated_at"] == stamped
    resolve(c, [msg(ws, "page", anon="a1", context=EN, minutes=3)])
    assert _locale(c, cid) == ("en-GB", "Europe/London")
    assert loads == []


def test_locale_inputs_in_one_batch_fold_in_order(
    restarted: tuple[Container, str, int], loads: list[list[int]]
) -> None:
    c, ws, cid = restarted
    resolve(c, [msg(ws, "page", anon="a1", context=EN, minutes=1),
                msg(ws, "page", anon="a1", context={"locale": "pl-PL"}, minutes=2)])  # fmt: skip
    assert _locale(c, cid) == ("pl-PL", "Europe/London")  # a missing timezone keeps the queued
    assert loads == []


def test_traits_after_a_queued_locale_load_the_contact_and_keep_the_order(
    restarted: tuple[Container, str, int], loads: list[list[int]]
) -> None:
    c, ws, cid = restarted
    resolve(c, [msg(ws, "page", anon="a1", context=UK, minutes=1),
                msg(ws, "identify", user="u1", traits={"language": "en", "city": "Lviv"},
                    minutes=2)])  # fmt: skip
    assert _locale(c, cid) == ("en", None)
    assert contact_row(c, cid)["attributes"]["city"] == "Lviv"
    assert loads == [[cid]]
    resolve(c, [msg(ws, "identify", user="u1", traits={"language": "de"}, minutes=3),
                msg(ws, "page", anon="a1", context=UK, minutes=4)])  # fmt: skip
    assert _locale(c, cid) == ("uk-UA", None)


def test_a_locale_already_stored_changes_nothing_and_is_remembered(
    restarted: tuple[Container, str, int], loads: list[list[int]]
) -> None:
    c, ws, cid = restarted
    resolve(c, [msg(ws, "page", anon="a1", context=UK, minutes=1)])
    c.close()
    c2 = build_container(c.settings)
    try:
        stamped = contact_row(c2, cid)["updated_at"]
        resolve(c2, [msg(ws, "page", anon="a1", context=UK, minutes=2)])
        assert contact_row(c2, cid)["updated_at"] == stamped
        assert c2.identity.cache.fingerprints.get(cid) is not None or (
            c2.identity.pending is not None and c2.identity.pending.fingerprints.get(cid)
        )
    finally:
        c2.close()


def test_a_rolled_back_locale_is_written_again(
    restarted: tuple[Container, str, int], loads: list[list[int]]
) -> None:
    c, ws, cid = restarted

    def failing(cur: object) -> None:
        c.identity.resolve(cur, [msg(ws, "page", anon="a1", context=UK, minutes=1)])
        raise RuntimeError("an applier failed")

    with pytest.raises(RuntimeError):
        c.db.write(failing)
    assert _locale(c, cid) == (None, None)
    resolve(c, [msg(ws, "page", anon="a1", context=UK, minutes=2)])
    assert _locale(c, cid) == ("uk-UA", None)


@pytest.mark.parametrize("narrow", [False, True])
def test_one_batch_writes_a_loaded_profile_and_a_queued_locale_in_one_statement(
    restarted: tuple[Container, str, int], monkeypatch: pytest.MonkeyPatch, narrow: bool
) -> None:
    """Where the writer does not report outcomes: one ``write_profiles`` a batch, one
    statement, or on a large table (``narrow``) the changed rows and the locales apart
    (``store.narrow_locales``)."""
    c, ws, ann = restarted
    monkeypatch.setattr(IdentityService, "reports_outcomes", lambda self: False)
    (b,) = resolve(c, [msg(ws, "identify", user="u2", anon="a2", traits={"name": "Bo"})])
    bo = b.contact_id or 0
    calls: list[tuple[int, int]] = []
    real = store.write_profiles
    if narrow:
        monkeypatch.setattr(store, "NARROW_LOCALES_FROM", 0)

    def counting(cur: Any, states: Any, locales: Any, stamp: Any, **kw: Any) -> set[int]:
        calls.append((len(states), len(locales)))
        assert kw == {"narrow": narrow}
        return real(cur, states, locales, stamp, **kw)

    monkeypatch.setattr(store, "write_profiles", counting)
    _loaded_and_queued(c, ws, ann, bo)
    assert calls == [(1, 1)]  # Bo loaded and changed; Ann's locale queued: one UPDATE


def test_where_units_report_outcomes_locales_and_changed_columns_are_written_apart(
    restarted: tuple[Container, str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer reports outcomes: the queued locales by ``store.write_locales`` (no
    ``RETURNING``), the loaded contact's row with only the columns it changed."""
    c, ws, ann = restarted
    (b,) = resolve(c, [msg(ws, "identify", user="u2", anon="a2", traits={"name": "Bo"})])
    bo = b.contact_id or 0
    calls: list[Any] = []
    real_locales, real_update = store.write_locales, store.update_contacts

    def locales(cur: Any, rows: Any, stamp: Any) -> None:
        calls.append(list(rows))
        real_locales(cur, rows, stamp)

    def update(cur: Any, states: Any, *, changed_only: bool = False) -> None:
        if states:
            calls.append((changed_only, store.changed_columns(states, store._contact_rows(states))))
        real_update(cur, states, changed_only=changed_only)

    monkeypatch.setattr(store, "write_locales", locales)
    monkeypatch.setattr(store, "update_contacts", update)
    _loaded_and_queued(c, ws, ann, bo)
    assert calls[:2] == [
        [(ann, "en-GB", "Europe/London")],
        (True, ["updated_at", "last_seen_at", "attributes", "provenance", "language"]),
    ]


def _loaded_and_queued(c: Container, ws: str, ann: int, bo: int) -> None:
    """Ann's locale queued, Bo loaded and changed in one batch; then a known no-op for Ann."""
    resolve(c, [msg(ws, "page", anon="a1", context=EN, minutes=1),  # Ann: locale only
                msg(ws, "identify", user="u2", traits={"city": "Lviv"}, minutes=1),  # Bo: traits
                msg(ws, "page", anon="a2", context=UK, minutes=2)])  # fmt: skip
    assert _locale(c, ann) == ("en-GB", "Europe/London")
    ann_row = contact_row(c, ann)
    assert ann_row["attributes"] == {"name": "Ann"}  # only the locale touched
    bo_row = contact_row(c, bo)
    assert bo_row["attributes"] == {"name": "Bo", "city": "Lviv"}
    assert (bo_row["language"], bo_row["timezone"]) == ("uk-UA", None)
    stamped = ann_row["updated_at"]
    resolve(c, [msg(ws, "page", anon="a1", context=EN, minutes=3),  # a known no-op for Ann
                msg(ws, "identify", user="u2", traits={"city": "Kyiv"}, minutes=3)])  # fmt: skip
    assert contact_row(c, ann)["updated_at"] == stamped
    assert contact_row(c, bo)["attributes"]["city"] == "Kyiv"
