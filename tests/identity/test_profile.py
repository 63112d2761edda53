"""Per-field conflict policies with provenance, on identify and on merge."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from retenta.app import Container, build_container
from retenta.settings import Settings
from tests.conftest import make_workspace
from tests.identity.helpers import contact_row, msg, resolve


@pytest.fixture
def policy_container(settings: Settings) -> Iterator[Container]:
    settings.identity.field_policies = {
        "first_source": "first",
        "ltv": "max",
        "tags": "union",
        "plan": "source_priority",
    }
    settings.identity.source_priority = ["import", "api"]
    settings.identity.last_seen_flush_s = 0
    c = build_container(settings)
    yield c
    c.close()


def _identify(c: Container, ws: str, minutes: int, source: str = "api", **traits: object) -> int:
    (m,) = resolve(
        c, [msg(ws, "identify", user="u1", traits=traits, minutes=minutes, source=source)]
    )
    assert m.contact_id is not None
    return m.contact_id


def test_latest_by_event_time_wins_even_out_of_order(policy_container: Container) -> None:
    ws = make_workspace(policy_container).id
    cid = _identify(policy_container, ws, 10, name="Ann")
    _identify(policy_container, ws, 5, name="Old name")  # arrives late, happened earlier
    row = contact_row(policy_container, cid)
    assert row["attributes"]["name"] == "Ann"
    assert row["provenance"]["name"]["at"] == "2026-03-01T12:10:00+00:00"
    _identify(policy_container, ws, 20, name="Anna")
    row = contact_row(policy_container, cid)
    assert row["attributes"]["name"] == "Anna"
    assert row["provenance"]["name"]["source"] == "api"


def test_first_max_union_and_source_priority(policy_container: Container) -> None:
    ws = make_workspace(policy_container).id
    cid = _identify(policy_container, ws, 1, first_source="facebook", ltv=10, tags=["a"])
    _identify(policy_container, ws, 2, first_source="google", ltv=7, tags=["b", "a"])
    _identify(policy_container, ws, 3, source="import", plan="gold")
    _identify(policy_container, ws, 4, source="api", plan="free")
    attrs = contact_row(policy_container, cid)["attributes"]
    assert attrs["first_source"] == "facebook"
    assert attrs["ltv"] == 10
    assert attrs["tags"] == ["a", "b"]
    assert attrs["plan"] == "gold"
    _identify(policy_container, ws, 5, ltv=12.5, source="import", plan="platinum")
    attrs = contact_row(policy_container, cid)["attributes"]
    assert attrs["ltv"] == 12.5
    assert attrs["plan"] == "platinum"


def test_empty_values_never_erase(policy_container: Container) -> None:
    ws = make_workspace(policy_container).id
    cid = _identify(policy_container, ws, 1, city="Kyiv")
    _identify(policy_container, ws, 2, city="", name=None)
    assert contact_row(policy_container, cid)["attributes"] == {"city": "Kyiv"}


def test_language_timezone_and_last_seen(policy_container: Container) -> None:
    ws = make_workspace(policy_container).id
    (m,) = resolve(
        policy_container,
        [msg(ws, anon="a1", context={"locale": "uk-UA", "timezone": "Europe/Kyiv"}, minutes=3)],
    )
    resolve(policy_container, [msg(ws, anon="a1", minutes=1)])
    row = contact_row(policy_container, m.contact_id or 0)
    assert (row["language"], row["timezone"]) == ("uk-UA", "Europe/Kyiv")
    assert row["last_seen_at"].isoformat() == "2026-03-01T12:03:00+00:00"
    resolve(
        policy_container, [msg(ws, "identify", anon="a1", traits={"language": "en"}, minutes=9)]
    )
    row = contact_row(policy_container, m.contact_id or 0)
    assert row["language"] == "en"
    assert row["last_seen_at"].isoformat() == "2026-03-01T12:09:00+00:00"


def test_merge_combines_attributes_by_policy(policy_container: Container) -> None:
    ws = make_workspace(policy_container).id
    (person,) = resolve(
        policy_container,
        [msg(ws, "identify", user="u1", anon="a1", minutes=5,
             traits={"tags": ["vip"], "ltv": 50, "first_source": "ads", "name": "Ann"})],
    )  # fmt: skip
    (visitor,) = resolve(
        policy_container,
        [msg(ws, "identify", anon="a2", minutes=1,
             traits={"tags": ["sale"], "ltv": 80, "first_source": "seo", "name": "A.",
                     "city": "Lviv"})],
    )  # fmt: skip
    resolve(policy_container, [msg(ws, user="u1", anon="a2", minutes=7)])
    attrs = contact_row(policy_container, person.contact_id or 0)["attributes"]
    assert attrs == {
        "tags": ["vip", "sale"],
        "ltv": 80,
        "first_source": "seo",  # set earlier (12:01) than the winner's (12:05)
        "name": "Ann",  # most recent
        "city": "Lviv",
    }
    assert (
        contact_row(policy_container, visitor.contact_id or 0)["merged_into"] == person.contact_id
    )


def test_same_value_again_keeps_its_provenance() -> None:
    from retenta.identity.profile import Policies, apply_traits

    attrs: dict[str, object] = {}
    prov: dict[str, dict[str, object]] = {}
    first = {"source": "api", "at": "2026-01-01T00:00:00+00:00", "message_id": "m1"}
    later = {"source": "api", "at": "2026-02-01T00:00:00+00:00", "message_id": "m2"}
    assert apply_traits(attrs, prov, {"city": "Kyiv"}, first, Policies({}))
    assert not apply_traits(attrs, prov, {"city": "Kyiv"}, later, Policies({}))
    assert prov["city"]["message_id"] == "m1"


def test_source_priority_ties_fall_back_to_latest_and_unknown_sources_rank_last() -> None:
    from retenta.identity.profile import Policies, apply_traits

    policies = Policies({"plan": "source_priority"}, source_priority=("import", "api"))
    attrs: dict[str, object] = {}
    prov: dict[str, dict[str, object]] = {}
    apply_traits(attrs, prov, {"plan": "a"}, {"source": "api", "at": "2026-01-02"}, policies)
    apply_traits(attrs, prov, {"plan": "b"}, {"source": "api", "at": "2026-01-01"}, policies)
    assert attrs["plan"] == "a"
    apply_traits(attrs, prov, {"plan": "c"}, {"source": "webhook", "at": "2026-09-09"}, policies)
    assert attrs["plan"] == "a"
    apply_traits(attrs, prov, {"plan": "a"}, {"source": "import", "at": "2025-01-01"}, policies)
    assert prov["plan"]["source"] == "import"  # the same value, now vouched for by a better source


def test_union_wraps_scalars_and_max_ignores_incomparable() -> None:
    from retenta.identity.profile import Policies, apply_traits

    policies = Policies({"tags": "union", "score": "max"})
    attrs: dict[str, object] = {"tags": "a", "score": 5}
    prov: dict[str, dict[str, object]] = {}
    apply_traits(attrs, prov, {"tags": ["b"], "score": "high"}, {"at": "2026-01-01"}, policies)
    assert attrs == {"tags": ["a", "b"], "score": 5}


def test_alternating_inputs_do_not_reload_and_changes_still_apply(
    policy_container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An identify's traits and a page view's locale alternate: both are remembered as
    no-ops, so neither reloads the contact; a changed trait or a late then resent value
    still applies."""
    from retenta.identity import store

    ws = make_workspace(policy_container).id
    locale = {"locale": "uk-UA"}
    cid = _identify(policy_container, ws, 1, name="Ann")
    resolve(policy_container, [msg(ws, "page", user="u1", context=locale, minutes=2)])
    resolve(policy_container, [msg(ws, "identify", user="u1", traits={"name": "Ann"},
                                   context=locale, minutes=3)])  # fmt: skip
    loads: list[object] = []
    real = store.load_rows  # every load of a contact reads its row through it
    monkeypatch.setattr(store, "load_rows", lambda cur, ids: loads.append(ids) or real(cur, ids))
    for minute in range(4, 8):
        resolve(policy_container, [msg(ws, "page", user="u1", context=locale, minutes=minute)])
        resolve(policy_container, [msg(ws, "identify", user="u1", traits={"name": "Ann"},
                                       context=locale, minutes=minute)])  # fmt: skip
    assert loads == []
    _identify(policy_container, ws, 10, name="Anna")
    assert contact_row(policy_container, cid)["attributes"]["name"] == "Anna"
    _identify(policy_container, ws, 9, name="Bo")  # late: loses
    assert contact_row(policy_container, cid)["attributes"]["name"] == "Anna"
    _identify(policy_container, ws, 20, name="Bo")  # the same input, newer: wins
    assert contact_row(policy_container, cid)["attributes"]["name"] == "Bo"


def test_identities_last_seen_is_flushed_less_often_than_contacts(
    policy_container: Container,
) -> None:
    ws = make_workspace(policy_container).id
    (m,) = resolve(policy_container, [msg(ws, anon="a1", minutes=1)])
    resolve(policy_container, [msg(ws, anon="a1", minutes=5)])

    def identity_last_seen() -> str:
        with policy_container.db.read() as cur:
            (at,) = cur.execute("SELECT last_seen FROM identities WHERE value = 'a1'").fetchone()
        return str(at.isoformat())

    assert contact_row(policy_container, m.contact_id or 0)["last_seen_at"].isoformat() == (
        "2026-03-01T12:05:00+00:00"
    )
    assert identity_last_seen() == "2026-03-01T12:01:00+00:00"  # not due yet
    policy_container.identity.settings.identity_last_seen_flush_s = 0
    resolve(policy_container, [msg(ws, anon="a1", minutes=3)])
    assert identity_last_seen() == "2026-03-01T12:05:00+00:00"


def test_start_up_rebuilds_last_seen_from_every_event_tier(settings: Settings) -> None:
    c = build_container(settings)
    ws = make_workspace(c).id
    (m,) = resolve(c, [msg(ws, anon="a1", minutes=1)])
    cid = m.contact_id or 0
    c.db.write(lambda cur: cur.execute("UPDATE contacts SET last_seen_at = NULL"))
    # Compaction moved the event to L1 before its last-seen time was flushed.
    c.db.write(
        lambda cur: cur.execute(
            "INSERT INTO events_l1 (workspace_id, message_id, contact_id, type, timestamp,"
            " received_at) VALUES (?, 'm1', ?, 'track', TIMESTAMPTZ '2026-03-01 12:07:00+00',"
            " now())",
            [ws, cid],
        )
    )
    c.close()
    c = build_container(settings)
    try:
        assert contact_row(c, cid)["last_seen_at"].isoformat() == "2026-03-01T12:07:00+00:00"
    finally:
        c.close()
