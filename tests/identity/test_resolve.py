"""Resolution rules, driven through the real writer and a temp DuckDB."""

from __future__ import annotations

from retenta.app import Container
from tests.conftest import Workspace
from tests.identity.helpers import (
    contact_row,
    identities,
    identity_events,
    merges,
    msg,
    owner,
    resolve,
)


def test_new_visitor_gets_a_contact_and_keeps_it(container: Container, ws: Workspace) -> None:
    first, second = resolve(container, [msg(ws.id, anon="a1"), msg(ws.id, anon="a1", minutes=5)])
    assert first.contact_id is not None
    assert second.contact_id == first.contact_id
    assert identities(container, first.contact_id) == {("anonymous_id", "a1")}
    (again,) = resolve(container, [msg(ws.id, anon="a1", minutes=9)])
    assert again.contact_id == first.contact_id


def test_anonymous_history_joins_on_identify(container: Container, ws: Workspace) -> None:
    (browse,) = resolve(container, [msg(ws.id, anon="a1")])
    (ident,) = resolve(
        container,
        [msg(ws.id, "identify", user="u1", anon="a1", traits={"email": "Ann@Shop.com"})],
    )
    assert ident.contact_id == browse.contact_id
    assert owner(container, ws.id, "email", "ann@shop.com") == browse.contact_id
    assert owner(container, ws.id, "external_id", "u1") == browse.contact_id


def test_anonymous_contact_merges_into_registered_person(
    container: Container, ws: Workspace
) -> None:
    (registered,) = resolve(container, [msg(ws.id, "identify", user="u1", anon="laptop")])
    (phone,) = resolve(container, [msg(ws.id, anon="phone", minutes=1)])
    (login,) = resolve(container, [msg(ws.id, "identify", user="u1", anon="phone", minutes=2)])
    assert registered.contact_id is not None
    assert phone.contact_id != registered.contact_id
    assert login.contact_id == registered.contact_id
    (m,) = merges(container, ws.id)
    assert (m["winner_id"], m["loser_id"]) == (registered.contact_id, phone.contact_id)
    assert m["rule"] == "anonymous_history"
    assert m["trigger_message_id"] == login.message_id
    assert contact_row(container, phone.contact_id)["merged_into"] == registered.contact_id
    timeline = container.identity.timeline_contact_ids(
        container.db.read().__enter__(), ws.id, registered.contact_id
    )
    assert timeline == sorted([registered.contact_id, phone.contact_id])


def test_shared_device_is_taken_over_not_merged(container: Container, ws: Workspace) -> None:
    (ann,) = resolve(container, [msg(ws.id, "identify", user="ann", anon="tablet")])
    (bob,) = resolve(container, [msg(ws.id, "identify", user="bob", anon="tablet", minutes=1)])
    assert bob.contact_id != ann.contact_id
    assert merges(container, ws.id) == []
    assert owner(container, ws.id, "anonymous_id", "tablet") == bob.contact_id
    assert identities(container, ann.contact_id) == {("external_id", "ann")}
    (later,) = resolve(container, [msg(ws.id, anon="tablet", minutes=2)])
    assert later.contact_id == bob.contact_id
    (takeover,) = identity_events(container, ws.id, "takeover")
    assert (takeover["contact_id"], takeover["other_contact_id"]) == (
        bob.contact_id,
        ann.contact_id,
    )


def test_email_of_another_person_is_a_conflict(container: Container, ws: Workspace) -> None:
    (ann,) = resolve(container, [msg(ws.id, "identify", user="ann", traits={"email": "a@x.io"})])
    (bob,) = resolve(
        container, [msg(ws.id, "identify", user="bob", traits={"email": "a@x.io"}, minutes=1)]
    )
    assert bob.contact_id != ann.contact_id
    assert owner(container, ws.id, "email", "a@x.io") == ann.contact_id
    (conflict,) = identity_events(container, ws.id, "conflict")
    assert conflict["identifier_value"] == "a@x.io"
    assert merges(container, ws.id) == []
