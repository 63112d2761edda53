"""The quick path (``identity/fastpath.py``) leaves exactly the tables the general path does.

The same generated streams run through two stores, one with ``FAST_PATH`` off; every
identity table (but the wall-clock stamps) and every message's contact must be equal.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from retenta.app import Container, build_container
from retenta.core.messages import Message
from retenta.identity import fastpath
from retenta.settings import Settings
from tests.identity.helpers import T0, msg, resolve

LOCALES = [None, "uk-UA", "en-US", " uk-UA ", "", 7]
ZONES = [None, None, "Europe/Kyiv", "America/New_York"]


def _event(rng: random.Random, ws: str, n: int) -> Message:
    u = rng.randint(0, 39) if rng.random() < 0.3 else rng.randint(40, 299)  # hot and others
    user, anon = f"u{u}", f"a{u}"
    ctx: dict[str, Any] = {}
    if (locale := rng.choice(LOCALES)) is not None:
        ctx["locale"] = locale
    if (zone := rng.choice(ZONES)) is not None:
        ctx["timezone"] = zone
    at = T0 + timedelta(minutes=n + rng.choice([0, 0, 0, -90, 5]))  # late events too
    r = rng.random()
    if r < 0.45:
        who = {"user": user, "anon": anon} if rng.random() < 0.6 else {"anon": anon}
        return msg(ws, rng.choice(["track", "page"]), context=ctx, at=at, **who)
    if r < 0.55:
        return msg(ws, "page", anon=f"new-{n}", context=ctx, at=at)
    if r < 0.65:
        traits = {"email": f"{user}@x.io", "plan": rng.choice(["free", "pro"])}
        return msg(ws, "identify", user=user, anon=anon, traits=traits, context=ctx, at=at)
    if r < 0.70:  # logs in on another person's device: a takeover
        other = f"a{rng.randint(0, 39)}"
        return msg(ws, "identify", user=user, anon=other, traits={"plan": "pro"}, at=at)
    if r < 0.74:  # an anonymous visitor registers: anonymous history joins
        return msg(ws, "identify", user=f"v{n}", anon=rng.choice([anon, f"new-{n - 3}"]), at=at)
    if r < 0.77:
        return msg(ws, "alias", user=user, previous=rng.choice([f"new-{n - 5}", anon]), at=at)
    if r < 0.80:
        return msg(ws, "track", user=user, properties={"email": f"{user}@x.io"}, at=at)
    if r < 0.83:
        return msg(ws, "track", anon=anon, context={**ctx, "device": {"token": f"t{u % 5}"}})
    if r < 0.86:
        return msg(ws, "track", user=rng.choice(["null", "", f" {user} ", "x" * 300]), at=at)
    if r < 0.88:
        return msg(ws, "track", context=ctx, at=at)  # no identifier at all
    if r < 0.90:
        return msg(ws, "track", user=user, traits={"plan": "free"}, context=ctx, at=at)
    who = {"user": user, "anon": anon}
    return msg(ws, "identify", traits={}, context=ctx, at=at, **who)


def _run(tmp: Path, seed: int, quick: bool, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setattr(fastpath, "FAST_PATH", quick)
    c = build_container(Settings(data_dir=tmp, background_workers=False))
    try:
        yield from _stream(c, seed)
    finally:
        c.close()


def _stream(c: Container, seed: int) -> Iterator[Any]:
    ws = c.tenancy.create_workspace(name="Shop")
    rng = random.Random(seed)
    n = 0
    outcome: list[tuple[int | None, str | None]] = []
    people = [msg(ws, "identify", user=f"u{u}", anon=f"a{u}") for u in range(300)]
    for i, m in enumerate(people):
        m.message_id = f"p{i}"  # the helper's ids run on across the two stores
    resolve(c, people[:150])
    resolve(c, people[150:])
    for size in [1, 3, 40, 7, 200, 1, 120, 60, 300, 25] * 2:
        batch = [_event(rng, ws, n + i) for i in range(size)]
        for i, m in enumerate(batch):
            m.message_id = f"e{n + i}"
        n += size
        resolve(c, batch)
        outcome += [(m.contact_id, m.dropped) for m in batch]
    c.db.write(c.identity.flush)
    yield outcome
    with c.db.read() as cur:
        for sql in (
            "SELECT * EXCLUDE (workspace_id, updated_at) FROM contacts",
            "SELECT * EXCLUDE (workspace_id) FROM identities",
            "SELECT * EXCLUDE (workspace_id, merged_at, snapshot) FROM merges",
            "SELECT * EXCLUDE (workspace_id, recorded_at) FROM identity_events",
        ):
            yield sorted(cur.execute(sql).fetchall(), key=repr)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_quick_path_leaves_the_tables_the_general_path_leaves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    settled = 0
    real = fastpath.settle

    def counted(batch: Any, messages: Any, *args: Any) -> Any:
        nonlocal settled
        out = real(batch, messages, *args)
        settled += len(messages) - len(out[0])
        return out

    monkeypatch.setattr(fastpath, "settle", counted)
    quick = list(_run(tmp_path / "quick", seed, True, monkeypatch))
    assert settled > 400  # the quick path did settle most of the known people's events
    general = list(_run(tmp_path / "general", seed, False, monkeypatch))
    names = ["messages", "contacts", "identities", "merges", "identity_events"]
    for name, got, want in zip(names, quick, general, strict=True):
        assert got == want, name
    assert len(quick[2]) > 100  # identities
    assert quick[3]  # merges did happen
    assert quick[4]  # and identity events
