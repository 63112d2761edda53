"""Dry run on a generated demo store (a year of a small shop): the abandoned-cart template
(starting on "Product Added"), not activated, replayed over the last 93 days and checked
run by run against the raw events — who entered, who was spared because they bought, who
got the reminder and who the last call too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.journeys.scenarios.helpers import Store, demo_store

H = timedelta(hours=1)
BOUGHT = "Order Completed"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    yield from demo_store(Path(tmp_path_factory.mktemp("dryrun")) / "data")


def events(store: Store, event: str) -> dict[int, list[datetime]]:
    """Each live contact's ``event`` times (merged-in contacts' included)."""
    with store.container.db.read() as cur:
        rows = cur.execute(
            'SELECT coalesce(c.merged_into, e.contact_id), e."timestamp" FROM all_events e'
            " JOIN contacts c ON c.id = e.contact_id WHERE e.workspace_id = ? AND e.type ="
            " 'track' AND e.event = ? ORDER BY 2",
            [store.ws.id, event],
        ).fetchall()
    out: dict[int, list[datetime]] = {}
    for contact, at in rows:
        out.setdefault(int(contact), []).append(at)
    return out


def bought(orders: dict[int, list[datetime]], contact: int, lo: datetime, hi: datetime) -> bool:
    return any(lo <= at <= hi for at in orders.get(contact, ()))


def expected_entries(adds: dict[int, list[datetime]], since: datetime, until: datetime
                     ) -> set[tuple[int, datetime]]:  # fmt: skip
    """Cart additions in the window, at most one a day per contact (the template's rule)."""
    out = set()
    for contact, times in adds.items():
        last = None
        for at in times:
            if since <= at < until and (last is None or at - last >= timedelta(days=1)):
                out.add((contact, at))
                last = at
    return out


def test_the_abandoned_cart_template_over_the_last_93_days(store: Store) -> None:
    made = store.client.post("/api/v1/journey-templates/abandoned_cart/instantiate",
                             headers=store.ws.api_headers,
                             json={"params": {"start_event": "Product Added"}})  # fmt: skip
    assert made.status_code == 201, made.text
    journey_id, messages = made.json()["journey"]["id"], made.json()["messages"]
    until = datetime.now(UTC)
    since = until - timedelta(days=93)
    # A cart two hours old: its run is still inside its 25 hours, so one run gets the reminder
    # only whatever the hour (the generated store's last entries follow the time of day).
    recent = {
        "userId": "dryrun-recent-cart",
        "event": "Product Added",
        "timestamp": (until - 2 * H).isoformat(),
        "properties": {"sku": "SKU-1"},
    }
    sent = store.client.post("/v1/track", json=recent, auth=store.ws.write_auth)
    assert sent.status_code == 200, sent.text
    r = store.client.post(f"/api/v1/journeys/{journey_id}/dry-run", headers=store.ws.api_headers,
                          json={"since": since.isoformat(), "until": until.isoformat(),
                                "limit": 1000})  # fmt: skip
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    adds, orders = events(store, "Product Added"), events(store, BOUGHT)
    runs = {(c["contact_id"], datetime.fromisoformat(c["entered_at"])): c
            for c in result["contacts"]}  # fmt: skip
    assert set(runs) == expected_entries(adds, since, until)
    assert result["entered"] == len(runs) > 5
    kinds = set()
    for (contact, entered), run in runs.items():
        got = [(s["message_id"], datetime.fromisoformat(s["at"])) for s in run["sends"]]
        if bought(orders, contact, entered, entered + H):
            want = []
        elif bought(orders, contact, entered + H, entered + 25 * H) or entered + 25 * H > until:
            want = [(messages["reminder"], entered + H)]
        else:
            want = [(messages["reminder"], entered + H), (messages["last_call"], entered + 25 * H)]
        assert got == want, (contact, entered, run["path"])
        kinds.add(len(want))
    assert {0, 1, 2} <= kinds  # spared buyers, a reminder only, both messages
    with store.container.db.read() as cur:
        assert cur.execute("SELECT count(*) FROM journey_runs").fetchone() == (0,)
