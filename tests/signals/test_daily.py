"""The daily pass on a demo store: replenishment by each contact's own interval for an item,
win-back by seed 002's two metrics (recency against the usual interval), the next best
offer; each once per purchase cycle."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from statistics import median
from typing import Any

import orjson
import pytest

from retenta.signals.rhythm import DAY_S
from retenta.signals.settings import SignalSettings
from tests.journeys.scenarios.helpers import Store

NOW = datetime.now(UTC)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def events(store: Store, event: str) -> dict[int, dict[str, Any]]:
    with store.container.db.read() as cur:
        rows = cur.execute(
            "SELECT contact_id, properties FROM all_events WHERE workspace_id = ? AND event = ?",
            [store.ws.id, event],
        ).fetchall()
    return {int(c): orjson.loads(p) for c, p in rows}


@pytest.fixture(scope="module")
def shop(store: Store) -> dict[str, str]:
    """Shoppers with known rhythms, and the daily pass run once over the whole store."""
    store.products({"sku": "TEA-1", "name": "Green tea", "price": 100, "in_stock": True},
                   {"sku": "TEA-2", "name": "Black tea", "price": 120, "in_stock": True},
                   {"sku": "TEA-3", "name": "White tea", "price": 300,
                    "in_stock": False})  # fmt: skip
    who = {n: store.person(n) for n in ("regular", "early", "gone", "steady", "nbo", "fan1",
                                        "fan2", "sold_out", "once")}  # fmt: skip
    for days in (87, 57, 27.5):  # every ~30 days; the next is due in ~2 days
        store.order(who["regular"], f"r{days}", ago(days), ("TEA-1", 100))
    for days in (70, 40, 10):  # bought 10 days ago: not due
        store.order(who["early"], f"e{days}", ago(days), ("TEA-1", 100))
    for days in (100, 70, 40):  # every 30 days, the last 40 days ago: 10 days late
        store.order(who["gone"], f"g{days}", ago(days), ("TEA-2", 120))
    for days in (65, 35, 5):  # every 30 days, on time
        store.order(who["steady"], f"s{days}", ago(days), ("TEA-2", 120))
    store.order(who["nbo"], "n1", ago(15), ("TEA-1", 100))  # its category's best seller: TEA-2
    for fan in ("fan1", "fan2"):
        store.order(who[fan], f"{fan}-1", ago(20), ("TEA-2", 120))
    for days in (60, 30.5):  # due, but out of stock
        store.order(who["sold_out"], f"so{days}", ago(days), ("TEA-3", 300))
    for i in range(5):  # gardeners buy every 20 days; one new gardener bought once
        for days in (45, 25, 5):
            store.order(f"gardener-{i}", f"gd{i}-{days}", ago(days), ("TEA-2", 120),
                        category="Garden > Tools")  # fmt: skip
    store.order(who["once"], "once-1", ago(30), ("TEA-2", 120), category="Garden > Seeds")
    store.signals(NOW)
    return who


def test_replenishment_follows_each_contacts_own_interval(
    store: Store, shop: dict[str, str]
) -> None:
    due = events(store, "Replenishment Due")
    regular = due[store.contact(shop["regular"])]
    assert regular["sku"] == "TEA-1"
    assert regular["purchases"] == 3
    assert regular["interval_days"] == pytest.approx(29.8, abs=0.1)
    assert regular["products"][0]["name"] == "Green tea"
    assert store.contact(shop["early"]) not in due
    assert store.contact(shop["sold_out"]) not in due  # never remind of what cannot be bought


def test_every_replenishment_is_due_by_its_own_rhythm(store: Store, shop: dict[str, str]) -> None:
    s = SignalSettings()
    for contact_id, props in events(store, "Replenishment Due").items():
        last = datetime.fromisoformat(props["last_purchased_at"])
        recency = (NOW - last).total_seconds() / DAY_S
        early = recency - (props["interval_days"] - s.replenish_lead_days)
        assert -0.1 <= early < s.catch_up_days + 0.1, (contact_id, props)


def test_win_back_by_the_two_metrics(store: Store, shop: dict[str, str]) -> None:
    due = events(store, "Win-back Due")
    gone = due[store.contact(shop["gone"])]
    assert gone["interval_source"] == "contact"
    assert gone["usual_interval_days"] == pytest.approx(30, abs=0.1)
    assert gone["days_since_last_order"] == pytest.approx(40, abs=0.1)
    assert gone["overdue_days"] == pytest.approx(10, abs=0.1)
    assert store.contact(shop["steady"]) not in due


def test_one_time_buyers_are_measured_against_people_like_them(
    store: Store, shop: dict[str, str]
) -> None:
    """Recomputed here from the order lines: every win-back signal is late by the grace and
    not past the catch-up window; a one-time buyer is measured by the median interval of the
    repeat buyers of their favourite department (5 at least), else of all repeat buyers."""
    s = SignalSettings()
    with store.container.db.read() as cur:
        lines = cur.execute(
            "SELECT o.contact_id, o.placed_at, i.category FROM orders o JOIN order_items i"
            " USING (workspace_id, order_id) WHERE o.workspace_id = ? AND o.status NOT IN"
            " ('cancelled', 'returned') AND o.placed_at <= ?",
            [store.ws.id, NOW],
        ).fetchall()
    times: dict[int, list[datetime]] = defaultdict(list)
    categories: dict[int, Counter[str]] = defaultdict(Counter)
    for contact_id, placed_at, category in lines:
        times[int(contact_id)].append(placed_at)
        if category:
            categories[int(contact_id)][category] += 1
    per = {c: (len({t.date() for t in ts}), min(ts), max(ts)) for c, ts in times.items()}
    department = {c: _department(counts) for c, counts in categories.items()}
    gaps: dict[str | None, list[float]] = defaultdict(list)
    for c, (n, first, last) in per.items():
        if n > 1:
            gap = (last - first).total_seconds() / (n - 1) / DAY_S
            gaps[None].append(gap)
            gaps[department.get(c)].append(gap)
    signalled = events(store, "Win-back Due")
    for contact_id, (n, first, last) in per.items():
        peers = gaps.get(department.get(contact_id), [])
        if n > 1:
            source, interval = "contact", (last - first).total_seconds() / (n - 1) / DAY_S
        elif department.get(contact_id) and len(peers) >= s.population_min_buyers:
            source, interval = "department", median(peers)
        else:
            source, interval = "population", median(gaps[None])
        overdue = (NOW - last).total_seconds() / DAY_S - interval
        late = s.winback_grace_days <= overdue < s.winback_grace_days + s.catch_up_days
        assert (contact_id in signalled) == late, (contact_id, n, source, overdue)
        if contact_id in signalled:
            assert signalled[contact_id]["interval_source"] == source
    once = signalled[store.contact(shop["once"])]  # 30 days since, the gardeners' 20 + 10
    assert once["interval_source"] == "department"
    assert once["department"] == "Garden"
    assert once["usual_interval_days"] == pytest.approx(20, abs=0.1)


def _department(counts: Counter[str]) -> str:
    """The favourite category's first level (most lines; ties: the first by name)."""
    favourite = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    return re.split(r"[/>]", favourite)[0].strip()


def test_next_best_offer_is_the_categorys_best_seller_not_yet_bought(
    store: Store, shop: dict[str, str]
) -> None:
    offers = events(store, "Next Best Offer")
    mine = offers[store.contact(shop["nbo"])]
    assert mine["sku"] == "TEA-2"
    assert mine["favourite_category"] == "Home/Tea"
    assert offers[store.contact(shop["fan1"])]["sku"] == "TEA-1"  # never what they bought
    assert store.contact(shop["early"]) not in offers  # last order 10 days ago: too soon


def test_a_rerun_repeats_nothing(store: Store, shop: dict[str, str]) -> None:
    before = {e: len(events(store, e)) for e in ("Replenishment Due", "Win-back Due")}
    workspaces, emitted = store.signals(NOW + timedelta(hours=1))  # the same purchase cycles
    assert workspaces == 1
    assert emitted == 0
    assert {e: len(events(store, e)) for e in before} == before
