"""Pre-emption on a real store, across timezones and a daylight-saving change: a promo
claimed just ahead of a queued trigger yields its slot, is deferred to the contact's next
local day (a 25-hour one), and the log names the rule and the trigger that displaced it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from retenta.app import Container
from retenta.messaging.outbox.ledger import NewSend, SendLedger
from retenta.policy.gate import PolicyGate
from retenta.policy.rules import Policy
from retenta.policy.store import PolicyStore
from tests.conftest import Workspace

POLICY = {
    "caps": [{"channel": "sms", "max": 1, "window": "day"}],
    "quiet_hours": {"start": "21:00", "end": "09:00", "channels": ["sms"]},
}
# The clocks go back: Kyiv on 25 October 2026 (UTC+3 → UTC+2), New York on 1 November.
CASES = [
    (1, "Europe/Kyiv", datetime(2026, 10, 25, 9, 0), datetime(2026, 10, 25, 22, 0, tzinfo=UTC)),
    (2, "America/New_York", datetime(2026, 11, 1, 9, 0), datetime(2026, 11, 2, 5, 0, tzinfo=UTC)),
]


def local(moment: datetime, zone: str) -> datetime:
    return moment.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def sms(ws: Workspace, contact: int, send_id: str, category: str, due: datetime) -> NewSend:
    return NewSend(ws.id, contact, "msg_promo", ("sms",), category, send_id=send_id,
                   campaign_id="cmp_sale" if category == "promo" else "jny_cart",
                   not_before=due)  # fmt: skip


@pytest.mark.parametrize(("contact", "zone", "nine", "midnight"), CASES)
def test_a_promo_due_first_yields_to_a_trigger_due_two_minutes_later(
    container: Container, ws: Workspace, contact: int, zone: str, nine: datetime,
    midnight: datetime,
) -> None:  # fmt: skip
    store = PolicyStore(container.db)
    asyncio.run(store.put(ws.id, Policy.model_validate(POLICY)))
    gate, ledger = PolicyGate(container.db, store), SendLedger(container.db)
    zones = {contact: zone}
    opens = local(nine, zone)  # when the quiet hours end, after the change
    night = opens - timedelta(hours=10)  # 23:00 local, before the change
    _, [(_, quiet)] = gate.split(ws.id, "sms", [sms(ws, contact, "snd_p", "promo", night)],
                                 zones, night)  # fmt: skip
    assert quiet.until == opens  # the quiet hours end at 09:00 on the new offset
    trigger_due = opens + timedelta(minutes=2)
    ledger.enqueue([sms(ws, contact, "snd_p", "promo", opens),
                    sms(ws, contact, "snd_t", "trigger", trigger_due)])  # fmt: skip

    [promo] = ledger.claim(10, now=opens)  # the trigger is not due yet
    allowed, [(_, held)] = gate.split(ws.id, "sms", [promo], zones, opens)
    assert allowed == []
    assert (held.action, held.rule, held.displaced_by) == ("defer", "caps[0]", "snd_t")
    assert held.until == midnight  # the contact's next local midnight, 25 hours after the last

    later = opens + timedelta(minutes=2)
    [trigger] = ledger.claim(10, now=later)
    assert gate.split(ws.id, "sms", [trigger], zones, later) == ([trigger], [])

    newest, earlier = store.held(ws.id, contact_id=contact)  # the pre-emption, quiet hours
    assert (newest["send_id"], earlier["send_id"], earlier["rule"]) == (
        "snd_p",
        "snd_p",
        "quiet_hours",
    )
    row = newest
    assert (row["rule"], row["displaced_by"], row["priority"]) == ("caps[0]", "snd_t", 100)
    assert row["reason"].startswith("pre-empted by snd_t (trigger, priority 200 > 100)")
    assert row["until"] == midnight


def test_a_trigger_deferred_past_the_horizon_reserves_nothing(
    container: Container, ws: Workspace
) -> None:
    asyncio.run(PolicyStore(container.db).put(ws.id, Policy.model_validate(POLICY)))
    gate, ledger = PolicyGate(container.db), SendLedger(container.db)
    noon = local(datetime(2026, 10, 25, 12, 0), "Europe/Kyiv")
    ledger.enqueue([sms(ws, 1, "snd_p", "promo", noon),
                    sms(ws, 1, "snd_t", "trigger", noon + timedelta(minutes=16))])  # fmt: skip
    [promo] = ledger.claim(10, now=noon)
    assert gate.split(ws.id, "sms", [promo], {1: "Europe/Kyiv"}, noon) == ([promo], [])


def test_a_journey_override_ranks_its_sends(container: Container, ws: Workspace) -> None:
    policy = {**POLICY, "priorities": {"overrides": {"jny_cart": 50}}}  # below promo (100)
    asyncio.run(PolicyStore(container.db).put(ws.id, Policy.model_validate(policy)))
    gate, ledger = PolicyGate(container.db), SendLedger(container.db)
    noon = local(datetime(2026, 10, 25, 12, 0), "Europe/Kyiv")
    ledger.enqueue([sms(ws, 1, "snd_t", "trigger", noon),
                    sms(ws, 1, "snd_p", "promo", noon + timedelta(minutes=1))])  # fmt: skip
    [trigger] = ledger.claim(10, now=noon)
    _, [(_, held)] = gate.split(ws.id, "sms", [trigger], {1: "Europe/Kyiv"}, noon)
    assert held.displaced_by == "snd_p"


def test_a_trigger_that_quiet_hours_will_hold_reserves_nothing(
    container: Container, ws: Workspace
) -> None:
    """Due at 21:05 in Kyiv, inside the quiet hours: it will not take tonight's slot."""
    policy = {**POLICY, "quiet_hours": {"start": "21:00", "end": "09:00", "channels": ["sms"],
                                        "categories": ["trigger"]}}  # fmt: skip
    asyncio.run(PolicyStore(container.db).put(ws.id, Policy.model_validate(policy)))
    gate, ledger = PolicyGate(container.db), SendLedger(container.db)
    evening = local(datetime(2026, 10, 25, 20, 55), "Europe/Kyiv")
    ledger.enqueue([sms(ws, 1, "snd_p", "promo", evening),
                    sms(ws, 1, "snd_t", "trigger", evening + timedelta(minutes=10))])  # fmt: skip
    [promo] = ledger.claim(10, now=evening)
    assert gate.split(ws.id, "sms", [promo], {1: "Europe/Kyiv"}, evening) == ([promo], [])
