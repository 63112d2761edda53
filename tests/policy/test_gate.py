"""The send-time gate: a batch split into allowed and held sends, the held ones logged."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from retenta.app import Container
from retenta.policy.gate import PolicyGate
from retenta.policy.rules import Policy
from retenta.policy.store import PolicyStore
from tests.conftest import Workspace


@dataclass(frozen=True)
class FakeSend:
    send_id: str
    contact_id: int
    category: str


def test_caps_hold_the_rest_of_a_batch_and_log_them(container: Container, ws: Workspace) -> None:
    store = PolicyStore(container.db)
    policy = {"caps": [{"channel": "email", "max": 2, "per": {"amount": 7, "unit": "days"}}],
              "quiet_hours": {"start": "21:00", "end": "09:00", "channels": ["sms"]}}  # fmt: skip
    asyncio.run(store.put(ws.id, Policy.model_validate(policy)))
    gate = PolicyGate(container.db, store)
    sends = [FakeSend(f"snd_{n}", 1, "promo") for n in range(4)] + [
        FakeSend("snd_t", 1, "transactional"), FakeSend("snd_other", 2, "promo"),
    ]  # fmt: skip
    now = datetime(2026, 5, 5, 10, 0, tzinfo=UTC)
    allowed, held = gate.split(ws.id, "email", sends, {1: "Europe/Kyiv"}, now)
    assert [s.send_id for s in allowed] == ["snd_0", "snd_1", "snd_t", "snd_other"]
    assert [(s.send_id, d.action, d.rule) for s, d in held] == [
        ("snd_2", "defer", "caps[0]"), ("snd_3", "defer", "caps[0]"),
    ]  # fmt: skip
    night = datetime(2026, 5, 5, 20, 0, tzinfo=UTC)  # 23:00 in Kyiv
    _, quiet = gate.split(ws.id, "sms", [FakeSend("snd_sms", 1, "trigger")], {1: "Europe/Kyiv"},
                          night)  # fmt: skip
    assert quiet[0][1].until == datetime(2026, 5, 6, 6, 0, tzinfo=UTC)
    logged = store.held(ws.id)
    assert {row["send_id"] for row in logged} == {"snd_2", "snd_3", "snd_sms"}
    assert {row["rule"] for row in logged} == {"caps[0]", "quiet_hours"}


def test_no_rules_no_cost(container: Container, ws: Workspace) -> None:
    sends = [FakeSend("snd_x", 1, "promo")]
    allowed, held = PolicyGate(container.db).split(ws.id, "email", sends, {}, datetime.now(UTC))
    assert (allowed, held) == (sends, [])
