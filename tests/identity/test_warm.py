"""The writer's identifier map after a restart: warmed from the stored identities."""

from __future__ import annotations

import pytest

from retenta.app import build_container
from retenta.identity import service as identity_service
from retenta.settings import Settings
from tests.conftest import make_workspace
from tests.identity.helpers import msg, resolve


def test_restart_warms_the_map_with_live_owners_only(settings: Settings) -> None:
    c = build_container(settings)
    ws = make_workspace(c).id
    (ann,) = resolve(c, [msg(ws, "identify", user="u1", anon="a1", traits={"email": "a@x.io"})])
    (anon,) = resolve(c, [msg(ws, anon="a2", minutes=1)])
    # a2 browsed anonymously, then logged in as u1: its contact merges into Ann's
    resolve(c, [msg(ws, "identify", user="u1", anon="a2", minutes=2)])
    (bob,) = resolve(c, [msg(ws, "identify", user="u2", minutes=3)])
    c.db.write(lambda cur: cur.execute("UPDATE contacts SET erased_at = now() WHERE id = ?",
                                       [bob.contact_id]))  # fmt: skip
    c.close()

    c = build_container(settings)
    try:
        owners = c.identity.cache.owners
        assert owners.get((ws, "external_id", "u1")) == ann.contact_id
        assert owners.get((ws, "email", "a@x.io")) == ann.contact_id
        assert owners.get((ws, "anonymous_id", "a2")) == ann.contact_id  # repointed by the merge
        assert anon.contact_id != ann.contact_id
        assert owners.get((ws, "external_id", "u2")) is None  # erased: never warmed
        # a known person's next event needs no lookup, and lands on the same contact
        (again,) = resolve(c, [msg(ws, anon="a2", minutes=4)])
        assert again.contact_id == ann.contact_id
    finally:
        c.close()


def test_warming_keeps_the_most_recently_seen(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = build_container(settings)
    ws = make_workspace(c).id
    resolve(c, [msg(ws, anon=f"a{i}", minutes=i) for i in range(5)])
    c.close()
    monkeypatch.setattr(identity_service, "WARM_CACHE_ENTRIES", 2)
    c = build_container(settings)
    try:
        owners = c.identity.cache.owners
        assert len(owners) == 2
        assert owners.get((ws, "anonymous_id", "a4")) is not None
        assert owners.get((ws, "anonymous_id", "a3")) is not None
        assert owners.get((ws, "anonymous_id", "a0")) is None
    finally:
        c.close()
