"""The A/B winner on synthetic engagement (message_events rows as tracking writes them):
a clear winner reaches the rest; equal rates fall back; a small sample never wins."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from tests.campaigns.helpers import (
    API,
    create,
    recipients,
    runner,
    schedule,
    seed_contacts,
    segment,
    sends,
    set_global_control,
    setup_sending,
)
from tests.conftest import Workspace

from retenta.app import Container
from retenta.campaigns.stats import z_test

AB = {"sample_pct": 50, "wait": {"amount": 4, "unit": "hours"}, "metric": "clicks"}


def engage(container: Container, campaign_id: str, status: str, message_id: str,
           per_mille: int, *, machine: bool = False) -> None:  # fmt: skip
    """``status`` events for exactly ``per_mille``/1000 of the variant's sends."""
    container.db.write(lambda conn: conn.execute(
        "INSERT INTO message_events (workspace_id, contact_id, send_id, channel, campaign_id,"
        ' message_id, status, "at", machine) SELECT workspace_id, contact_id, send_id, channel,'
        " campaign_id, message_id, ?, now(), ? FROM sends WHERE campaign_id = ?"
        " AND message_id = ? QUALIFY row_number() OVER (ORDER BY send_id)"
        " <= round(count(*) OVER () * ? / 1000)",
        [status, machine, campaign_id, message_id, per_mille]).fetchall())  # fmt: skip


def started(client: TestClient, container: Container, ws: Workspace, **ab: Any
            ) -> tuple[str, datetime]:  # fmt: skip
    seed_contacts(container, ws, 4000)
    seg = segment(client, ws)
    setup_sending(client, container, ws, "msg_a", "msg_b")
    set_global_control(client, ws, 0)
    campaign = create(client, ws, segment_id=seg, variants=["msg_a", "msg_b"],
                      ab_test={**AB, **ab})  # fmt: skip
    schedule(client, ws, campaign)
    now = datetime.now(UTC) + timedelta(seconds=1)
    runner(container).tick(now)
    return campaign, now


def report(client: TestClient, ws: Workspace, campaign: str) -> dict[str, Any]:
    r = client.get(f"{API}/{campaign}/report", headers=ws.api_headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_clear_winner_is_sent_to_the_rest(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    campaign, now = started(client, container, ws)
    for message in ("msg_a", "msg_b"):
        engage(container, campaign, "sent", message, 1000)
    engage(container, campaign, "clicked", "msg_a", 50)
    engage(container, campaign, "clicked", "msg_a", 600, machine=True)  # scanners: not counted
    engage(container, campaign, "clicked", "msg_b", 110)
    rest = {c for c, r in recipients(container, campaign).items() if r[0] == "rest"}
    runner(container).tick(now + timedelta(hours=3))  # the wait is not over
    assert not rest & {s[1] for s in sends(container, campaign)}

    runner(container).tick(now + timedelta(hours=4, seconds=2))
    got = report(client, ws, campaign)["ab_test"]
    a, b = got["variants"]
    assert (got["winner"], got["significant"]) == (1, True)
    z, p = z_test(b["clicks"], b["sent"], a["clicks"], a["sent"])
    assert a["p_value"] == p < 0.05  # the leader against A
    assert abs(a["z"] - z) < 1e-3
    assert 0.03 < a["rate"] < 0.07
    assert 0.08 < b["rate"] < 0.14
    assert "one-sided" in got["test"]
    assert got["decided_reason"].startswith("variant B wins")
    by_message = Counter(s[2] for s in sends(container, campaign) if s[1] in rest)
    assert by_message == {"msg_b": len(rest)}  # every one of the rest, once, with B
    assert client.get(f"{API}/{campaign}", headers=ws.api_headers).json()["status"] == "sent"


def test_no_significant_winner_falls_back_to_variant_a(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    campaign, now = started(client, container, ws)
    for message in ("msg_a", "msg_b"):
        engage(container, campaign, "sent", message, 1000)
    engage(container, campaign, "clicked", "msg_a", 60)
    engage(container, campaign, "clicked", "msg_b", 65)  # ahead, but within noise
    runner(container).tick(now + timedelta(hours=5))
    got = report(client, ws, campaign)["ab_test"]
    assert (got["leader"], got["significant"], got["winner"]) == (1, False, 0)
    assert "no significant winner" in got["decided_reason"]
    assert "fallback 'first'" in got["decided_reason"]
    rest = {c for c, r in recipients(container, campaign).items() if r[0] == "rest"}
    assert {s[2] for s in sends(container, campaign) if s[1] in rest} == {"msg_a"}


def test_too_small_a_sample_never_wins_and_leader_fallback(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    campaign, now = started(client, container, ws, min_sample=5000, fallback="leader")
    for message in ("msg_a", "msg_b"):
        engage(container, campaign, "sent", message, 1000)
    engage(container, campaign, "clicked", "msg_b", 300)  # huge, but the sample is too small
    runner(container).tick(now + timedelta(hours=5))
    got = report(client, ws, campaign)["ab_test"]
    assert (got["significant"], got["winner"]) == (False, 1)  # the leader, by the fallback
    assert got["decided_reason"].startswith("too few recipients")


def test_the_orders_metric_picks_the_variant_that_sells(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    campaign, now = started(client, container, ws, metric="orders")
    for message in ("msg_a", "msg_b"):
        engage(container, campaign, "sent", message, 1000)
    engage(container, campaign, "clicked", "msg_a", 300)  # clicks do not count here
    container.db.write(lambda conn: conn.execute(
        "INSERT INTO orders (workspace_id, order_id, contact_id, status, total, placed_at,"
        " updated_at) SELECT workspace_id, 'o' || contact_id, contact_id, 'paid', 50,"
        " now() + INTERVAL 1 HOUR, now() FROM sends WHERE campaign_id = ? AND message_id = 'msg_b'"
        " QUALIFY row_number() OVER (ORDER BY send_id) <= round(count(*) OVER () * 0.1)",
        [campaign]).fetchall())  # fmt: skip
    runner(container).tick(now + timedelta(hours=5))
    got = report(client, ws, campaign)["ab_test"]
    assert (got["metric"], got["winner"], got["significant"]) == ("orders", 1, True)
    assert got["variants"][0]["orders"] == 0
