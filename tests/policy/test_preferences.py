"""A contact's own frequency from the preference centre, enforced by the policy as a cap
across channels, logged like any hold — saved through the real preference page."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging.events import MessageEvent, SendContext, record
from retenta.policy.decide import decide
from retenta.policy.gate import PolicyGate
from retenta.policy.limits import Sent
from retenta.policy.rules import Policy
from retenta.policy.store import PolicyStore
from tests.conftest import Workspace


@dataclass(frozen=True)
class Claimed:
    send_id: str
    contact_id: int
    category: str


def person(client: TestClient, ws: Workspace, email: str, frequency: str | None) -> int:
    made = client.post("/api/v1/contacts", headers=ws.api_headers, json={
        "identifiers": {"email": email},
        "consents": [{"channel": "email", "topic": "*", "status": "subscribed"}]})  # fmt: skip
    contact = int(made.json()["id"])
    if frequency is not None:
        link = client.get(f"/api/v1/contacts/{contact}/preference-link", headers=ws.api_headers)
        page = link.json()["url"].removeprefix("http://testserver")
        saved = client.post(page, data={"channel:email": "on", "frequency": frequency})
        assert 'value="' + frequency + '" checked' in saved.text
    return contact


def test_a_weekly_contact_gets_one_promo_a_week_on_any_channel(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    weekly = person(client, ws, "weekly@example.net", "weekly")
    anything = person(client, ws, "any@example.net", None)
    now = datetime.now(UTC)
    three_days_ago = now - timedelta(days=3)
    asyncio.run(record(container.db, [
        MessageEvent(SendContext(ws.id, c, f"snd_sms_{c}", "sms"), "sent", three_days_ago)
        for c in (weekly, anything)]))  # fmt: skip
    gate = PolicyGate(container.db)  # no workspace rules at all: preferences still hold
    sends = [Claimed("snd_w", weekly, "promo"), Claimed("snd_w_t", weekly, "trigger"),
             Claimed("snd_a", anything, "promo")]  # fmt: skip
    allowed, [(held_send, held)] = gate.split(ws.id, "email", sends, {}, now)
    assert [s.send_id for s in allowed] == ["snd_w_t", "snd_a"]  # triggers are not counted
    assert (held_send.send_id, held.action, held.rule) == ("snd_w", "defer", "preferences.weekly")
    assert held.until is not None
    assert abs(held.until - (three_days_ago + timedelta(days=7))) < (timedelta(seconds=1))
    assert held.reason.startswith("the contact chose weekly messages: 1 of 1")
    [row] = PolicyStore(container.db).held(ws.id, contact_id=weekly)
    assert (row["send_id"], row["rule"], row["action"]) == ("snd_w", "preferences.weekly", "defer")


def test_preferences_can_be_switched_off_or_retuned_per_workspace(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    monthly = person(client, ws, "monthly@example.net", "monthly")
    now = datetime.now(UTC)
    old = SendContext(ws.id, monthly, "snd_old", "email")
    asyncio.run(record(container.db, [MessageEvent(old, "sent", now - timedelta(days=20))]))
    store = PolicyStore(container.db)
    asyncio.run(store.put(ws.id, Policy.model_validate({"preferences": {"enabled": False}})))
    promo = [Claimed("snd_m", monthly, "promo")]
    assert PolicyGate(container.db).split(ws.id, "email", promo, {}, now)[0] == promo
    tuned = {"preferences": {"action": "drop", "frequencies": {
        "monthly": {"max": 2, "per": {"amount": 30, "unit": "days"}}}}}  # fmt: skip
    asyncio.run(store.put(ws.id, Policy.model_validate(tuned)))
    assert PolicyGate(container.db).split(ws.id, "email", promo, {}, now)[0] == promo  # 1 of 2
    two = [Claimed("snd_m1", monthly, "promo"), Claimed("snd_m2", monthly, "promo")]
    allowed, [(_, held)] = PolicyGate(container.db).split(ws.id, "email", two, {}, now)
    assert [s.send_id for s in allowed] == ["snd_m1"]
    assert (held.action, held.rule, held.until) == ("drop", "preferences.monthly", None)


def test_a_preference_cap_is_pre_empted_like_a_workspace_cap() -> None:
    policy = Policy.model_validate({"preferences": {"categories": ["trigger", "promo"]}})
    now = datetime(2026, 3, 29, 6, 0, tzinfo=UTC)  # the morning Kyiv moved to summer time
    cart = Sent("push", "trigger", now + timedelta(minutes=3), send_id="snd_cart", priority=200)
    held = decide(policy, channel="email", category="promo", at=now, timezone="Europe/Kyiv",
                  history=[], frequency="weekly", ahead=[cart])  # fmt: skip
    assert (held.rule, held.displaced_by) == ("preferences.weekly", "snd_cart")
    assert held.until == cart.at + timedelta(days=7)
