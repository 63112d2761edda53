"""Throttling per mailbox provider: every rate holds, and a slow provider does not hold up
the others (pure, on random input), and on a real campaign by the contacts' addresses."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from tests.campaigns.helpers import (
    create,
    runner,
    schedule,
    sends,
    set_global_control,
    setup_sending,
)
from tests.conftest import Workspace
from tests.messaging.outbox.helpers import contact

from retenta.app import Container
from retenta.campaigns.assign import spread_by_provider

T0 = datetime(2026, 11, 27, 8, tzinfo=UTC)


def gaps(times: list[datetime]) -> list[float]:
    return [(b - a).total_seconds() for a, b in itertools.pairwise(sorted(times))]


def test_every_rate_holds_on_random_input() -> None:
    rng = random.Random(5)
    for _ in range(30):
        n = rng.randint(1, 300)
        due = [T0 + timedelta(seconds=rng.uniform(0, 20)) for _ in range(n)]
        providers = [rng.choice([0, 1, None, None]) for _ in range(n)]
        rates, overall = [rng.uniform(1, 20), rng.uniform(1, 20)], rng.choice([None, 50.0])
        out = spread_by_provider(due, providers, rates, overall)
        assert all(o >= d for o, d in zip(out, due, strict=True))
        for p, rate in enumerate(rates):
            mine = [o for o, q in zip(out, providers, strict=True) if q == p]
            assert all(g >= 1 / rate - 1e-6 for g in gaps(mine))
        if overall is not None:
            assert all(g >= 1 / overall - 1e-6 for g in gaps(out))


def test_a_slow_provider_does_not_hold_up_the_others() -> None:
    due = [T0] * 200
    providers = [0] * 100 + [None] * 100  # 100 to a provider at 1/s, 100 elsewhere
    out = spread_by_provider(due, providers, [1.0], 100)
    others = [o for o, p in zip(out, providers, strict=True) if p is None]
    slow = [o for o, p in zip(out, providers, strict=True) if p == 0]
    assert max(others) - T0 <= timedelta(seconds=2.01)  # not at the slow provider's pace
    assert timedelta(seconds=99) <= max(slow) - T0 <= timedelta(seconds=99.05)  # + overall slots


def test_a_campaign_paces_each_provider_by_address(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    gmail = {contact(client, ws, f"g{i}@GMail.com") for i in range(6)}
    other = {contact(client, ws, f"o{i}@example.com") for i in range(6)}
    setup_sending(client, container, ws)
    set_global_control(client, ws, 0)
    gmail_rule = {"domains": ["gmail.com", "googlemail.com"], "per_second": 2}
    throttle = {"per_second": 100, "per_provider": [gmail_rule]}
    campaign = create(client, ws, audience="all_consented", message_id="msg_a", throttle=throttle)
    schedule(client, ws, campaign)
    runner(container).tick(datetime.now(UTC) + timedelta(seconds=1))
    got = {s[1]: s[3] for s in sends(container, campaign)}
    assert set(got) == gmail | other
    assert min(gaps([got[c] for c in gmail])) >= 0.5 - 1e-6  # 2 a second to Gmail
    assert max(got[c] for c in other) - min(got.values()) < timedelta(seconds=0.2)


def test_a_throttle_needs_a_limit_and_distinct_domains(client: TestClient, ws: Workspace) -> None:
    base = {"name": "x", "segment_id": "seg_1", "message_id": "msg_a"}
    for throttle in ({}, {"per_provider": [{"domains": ["a.com"], "per_second": 1},
                                           {"domains": ["A.com"], "per_second": 2}]}):  # fmt: skip
        r = client.post("/api/v1/campaigns", headers=ws.api_headers,
                        json={**base, "throttle": throttle})  # fmt: skip
        assert r.json()["error"]["field"] == "throttle", r.text
    address = {"per_provider": [{"domains": ["me@x.com"], "per_second": 1}]}
    r = client.post("/api/v1/campaigns", headers=ws.api_headers, json={**base, "throttle": address})
    assert r.json()["error"]["field"] == "throttle.per_provider[0].domains"
