"""Welcome series, order confirmation, post-purchase cross-sell, referral invitation and
birthday, firing on a demo store with a controlled clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import orjson

from tests.journeys.scenarios.helpers import Store

ORDER = {"order_id": "", "total": 250, "currency": "UAH",
         "products": [{"sku": "SKU-000001", "name": "Mug", "price": 250,
                       "quantity": 1}]}  # fmt: skip


def order(user: str, total: float = 250) -> dict[str, object]:
    return {**ORDER, "order_id": f"o-{user}-{total}", "total": total}


def test_welcome_series_three_steps_and_the_first_order_converts(store: Store) -> None:
    made = store.instantiate("welcome", {"second_after_days": 2, "third_after_days": 3})
    jid, ids = made["journey"]["id"], made["messages"]
    new, buyer = store.person("new"), store.person("buyer")
    for user in (new, buyer):
        store.track(user, "Signed Up", {"method": "email"})
    now = datetime.now(UTC)
    store.tick(now)
    assert {s[0] for s in store.sends(jid)} == {store.contact(new), store.contact(buyer)}
    store.track(buyer, "Order Completed", order(buyer))
    store.tick(now + timedelta(days=2, minutes=1))
    store.tick(now + timedelta(days=5, minutes=2))
    assert [s[1] for s in store.sends(jid, store.contact(new))] == [
        ids["hello"], ids["story"], ids["offer"]]  # fmt: skip
    assert [s[1] for s in store.sends(jid, store.contact(buyer))] == [ids["hello"]]
    assert store.run_states(jid, store.contact(buyer)) == ["done"]
    with store.container.db.read() as cur:
        goals = cur.execute("SELECT contact_id FROM journey_goals WHERE journey_id = ?",
                            [jid]).fetchall()  # fmt: skip
    assert goals == [(store.contact(buyer),)]  # the conversion is attributed to the journey
    store.track(new, "Signed Up", {"method": "again"})  # once ever
    assert len(store.run_states(jid, store.contact(new))) == 1


def test_order_confirmation_is_transactional_and_every_order(store: Store) -> None:
    made = store.instantiate("order_confirmation")
    jid = made["journey"]["id"]
    shopper = store.person("shopper")
    store.track(shopper, "Order Completed", order(shopper, 100))
    store.track(shopper, "Order Completed", order(shopper, 200))
    store.tick(datetime.now(UTC))
    sent = store.sends(jid)
    assert [(s[0], s[2]) for s in sent] == [(store.contact(shopper), "transactional")] * 2
    assert sorted(orjson.loads(s[4])["total"] for s in sent) == [100, 200]
    message = store.client.get(f"/api/v1/messages/{made['messages']['confirmation']}",
                               headers=store.ws.api_headers).json()  # fmt: skip
    assert message["category"] == "transactional"
    assert set(message["channels"]["email"]["subject"]) == {"en", "uk", "ru", "de"}


def test_cross_sell_after_days_only_without_a_new_order(store: Store) -> None:
    made = store.instantiate("post_purchase_cross_sell", {"after_days": 7, "min_total": 100})
    jid = made["journey"]["id"]
    one, again, small = store.person("one"), store.person("again"), store.person("small")
    for user, total in ((one, 250), (again, 250), (small, 50)):
        store.track(user, "Order Completed", order(user, total))
    now = datetime.now(UTC)
    store.tick(now)
    store.track(again, "Order Completed", order(again, 300))  # bought again meanwhile
    store.tick(now + timedelta(days=7, minutes=1))
    store.tick(now + timedelta(days=8, minutes=2))  # the contact's best hour has come
    assert [(s[0], s[2]) for s in store.sends(jid)] == [(store.contact(one), "promo")]
    assert store.contact(small) not in store.entered(jid)


def test_referral_invitation_marks_the_contact_then_invites(store: Store) -> None:
    made = store.instantiate("referral_invitation", {"after_days": 1})
    jid = made["journey"]["id"]
    buyer = store.person("referrer")
    store.track(buyer, "Order Completed", order(buyer))
    now = datetime.now(UTC)
    store.tick(now)
    assert store.sends(jid) == []
    store.tick(now + timedelta(days=1, minutes=1))
    assert [s[0] for s in store.sends(jid)] == [store.contact(buyer)]
    with store.container.db.read() as cur:
        attrs = cur.execute("SELECT attributes FROM contacts WHERE id = ?",
                            [store.contact(buyer)]).fetchone()[0]  # fmt: skip
    assert orjson.loads(attrs)["referral_invited"] == "true"  # the hook the programme reads
    hook = store.client.post(
        "/api/v1/journey-templates/referral_invitation/preview", headers=store.ws.api_headers,
        json={"params": {"referral_webhook_url": "https://referrals.example.com/issue"}},
    ).json()["definition"]  # fmt: skip
    node = next(n for n in hook["nodes"] if n["id"] == "referral_hook")
    assert node["type"] == "webhook"
    assert node["url"] == "https://referrals.example.com/issue"


def test_birthday_greets_three_days_before_at_nine_local(store: Store) -> None:
    made = store.instantiate("birthday", {"days_before": 3, "at": "09:00"})
    jid = made["journey"]["id"]
    today = datetime.now(UTC).date()
    fire_day = today + timedelta(days=2)
    birthday = fire_day + timedelta(days=3)
    due, other = store.person("due"), store.person("other")
    store.identify(due, {"birthday": birthday.replace(year=1990).isoformat(),
                         "timezone": "UTC"})  # fmt: skip
    store.identify(other, {"birthday": (birthday + timedelta(days=10)).replace(year=1990)
                           .isoformat(), "timezone": "UTC"})  # fmt: skip
    moment, fire = datetime.now(UTC), datetime.combine(fire_day, datetime.min.time(), UTC)
    while moment <= fire + timedelta(hours=10):  # ticks at most 6 h apart: none is skipped
        store.tick(moment, times=1)
        moment += timedelta(hours=5)
    store.tick(moment)
    entered = store.entered(jid)
    assert store.contact(due) in entered
    assert store.contact(other) not in entered
    with store.container.db.read() as cur:
        rows = cur.execute(
            "SELECT attributes->>'birthday', context->>'timestamp' FROM journey_runs r JOIN"
            " contacts c ON c.id = r.contact_id WHERE r.journey_id = ?",
            [jid],
        ).fetchall()
    for born, fired in rows:  # demo contacts with the same birthday enter too, nobody else
        assert date.fromisoformat(born[:10]).strftime("%m-%d") == birthday.strftime("%m-%d")
        assert datetime.fromisoformat(fired).astimezone(UTC).date() == fire_day
    assert store.contact(due) in {s[0] for s in store.sends(jid)}
