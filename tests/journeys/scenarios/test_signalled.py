"""Regular demand, next best offer and win-back (both ways) on a demo store: the daily signal
pass emits the events, the scenarios' journeys take them from there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from tests.journeys.scenarios.helpers import Store


@pytest.fixture(scope="module")
def world(store: Store) -> dict[str, Any]:
    """The shoppers, the three signal-started scenarios live, one daily pass, one tick.

    The clock is read here, not at import: under xdist a module may run many minutes after
    collection, and the runs' waits start at the first tick, which later ticks count from."""
    now = datetime.now(UTC)

    def ago(days: float) -> datetime:
        return now - timedelta(days=days)

    store.products({"sku": "TEA-1", "name": "Green tea", "price": 100, "in_stock": True},
                   {"sku": "TEA-2", "name": "Black tea", "price": 120,
                    "in_stock": True})  # fmt: skip
    who = {n: store.person(n) for n in ("stocker", "restocked", "curious", "fan", "gone",
                                        "returner")}  # fmt: skip
    for user in ("stocker", "restocked"):
        for days in (60, 30.5):
            store.order(who[user], f"{user}{days}", ago(days), ("TEA-1", 100))
    store.order(who["curious"], "c1", ago(15), ("TEA-1", 100))
    store.order(who["fan"], "f1", ago(40), ("TEA-2", 120))
    for user in ("gone", "returner"):
        for days in (100, 70, 40):
            store.order(who[user], f"{user}{days}", ago(days), ("TEA-2", 120))
    journeys = {key: store.instantiate(key) for key in ("replenishment", "next_best_offer",
                                                        "win_back")}  # fmt: skip
    store.signals(now)
    started = datetime.now(UTC)  # runs are due from when they started (wall clock)
    store.tick(started)
    store.tick(started + timedelta(days=1, minutes=1))  # past every contact's best hour
    return {"who": who, "journeys": journeys, "now": started}


def ids(store: Store, world: dict[str, Any], *names: str) -> set[int]:
    return {store.contact(world["who"][n]) for n in names}


def sent(store: Store, world: dict[str, Any], key: str, name: str) -> list[tuple[Any, ...]]:
    journey = world["journeys"][key]
    return store.sends(journey["journey"]["id"], store.contact(world["who"][name]))


def test_replenishment_reminds_then_nudges_unless_bought(
    store: Store, world: dict[str, Any]
) -> None:
    reminder = world["journeys"]["replenishment"]["messages"]["reminder"]
    first = sent(store, world, "replenishment", "stocker")
    assert [s[1] for s in first] == [reminder]
    assert orjson.loads(first[0][4])["sku"] == "TEA-1"  # the item, from the signal
    store.track(world["who"]["restocked"], "Order Completed",
                {"order_id": "restock", "total": 100, "products": [{"sku": "TEA-1"}]})  # fmt: skip
    store.tick(world["now"] + timedelta(days=5, minutes=1))
    assert len(sent(store, world, "replenishment", "stocker")) == 2  # the nudge
    assert len(sent(store, world, "replenishment", "restocked")) == 1  # bought: no nudge
    assert ids(store, world, "curious", "fan") & store.entered(  # bought once: no rhythm
        world["journeys"]["replenishment"]["journey"]["id"]) == set()  # fmt: skip


def test_next_best_offer_sends_the_best_seller_not_bought(
    store: Store, world: dict[str, Any]
) -> None:
    offer = sent(store, world, "next_best_offer", "curious")
    assert [orjson.loads(s[4])["sku"] for s in offer] == ["TEA-2"]
    assert offer[0][2] == "promo"


def test_win_back_by_interval_reaches_who_drifted(store: Store, world: dict[str, Any]) -> None:
    messages, now = world["journeys"]["win_back"]["messages"], world["now"]
    assert [s[1] for s in sent(store, world, "win_back", "gone")] == [messages["miss_you"]]
    store.track(world["who"]["returner"], "Order Completed",
                {"order_id": "back", "total": 120, "products": [{"sku": "TEA-2"}]},
                at=now + timedelta(days=1, minutes=2))  # after the note (sent by then)  # fmt: skip
    store.tick(now + timedelta(days=8, minutes=2))  # the note at the best hour + 7 days
    assert [s[1] for s in sent(store, world, "win_back", "gone")] == [
        messages["miss_you"], messages["last_chance"]]  # fmt: skip
    assert [s[1] for s in sent(store, world, "win_back", "returner")] == [messages["miss_you"]]
    assert ids(store, world, "stocker", "curious") & store.entered(
        world["journeys"]["win_back"]["journey"]["id"]) == set()  # fmt: skip


def test_win_back_by_days_uses_a_real_time_lapsed_segment(
    store: Store, world: dict[str, Any]
) -> None:
    made = store.instantiate("win_back", {"method": "days", "days": 35})
    jid, [segment_id] = made["journey"]["id"], list(made["segments"].values())
    seg = store.client.get(f"/api/v1/segments/{segment_id}", headers=store.ws.api_headers)
    assert seg.json()["realtime"] is True
    store.tick(datetime.now(UTC))  # the journey reads the segment's entries from now on
    refreshed = store.client.post(f"/api/v1/segments/{segment_id}/refresh",
                                  headers=store.ws.api_headers)  # fmt: skip
    assert refreshed.status_code == 200, refreshed.text
    store.tick(datetime.now(UTC) + timedelta(seconds=1))
    entered = store.entered(jid)
    assert store.contact(world["who"]["fan"]) in entered  # one order, 40 days ago
    assert store.contact(world["who"]["curious"]) not in entered  # ordered 15 days ago
    with store.container.db.read() as cur:
        rows = cur.execute(
            "SELECT contact_id, max(placed_at) FROM orders WHERE workspace_id = ? AND contact_id"
            " IN (SELECT unnest(?::BIGINT[])) AND placed_at <= ? GROUP BY contact_id",
            [store.ws.id, sorted(entered), datetime.now(UTC)],  # (a dated-ahead order is not yet)
        ).fetchall()
    assert len(rows) == len(entered)  # every one of them bought before …
    late = [(c, last) for c, last in rows if last >= datetime.now(UTC) - timedelta(days=35)]
    assert late == []  # … and not lately
