"""Triggers read from history tables: consent changes, list/tag joins and leaves, message
events, other journeys' goals. Each entry starts one run, late rows are caught, rows from
before the journey went live are not entries, and the entry rules apply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.journeys.service import for_container
from retenta.journeys.sources import logs
from retenta.journeys.triggers import ListTrigger
from tests.conftest import Workspace
from tests.journeys.test_runs import journey
from tests.journeys.test_sources import contact, simple


def entered(container: Container, journey_id: str) -> list[tuple[int, str]]:
    """(contact, the context's event) of each run, in order of its trigger time."""
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT contact_id, context->>'event' FROM journey_runs WHERE journey_id = ?"
            " ORDER BY context->>'timestamp', contact_id",
            [journey_id],
        ).fetchall()
    return [(int(c), str(e)) for c, e in rows]


def write(container: Container, sql: str, *rows: list[Any]) -> None:
    container.db.write(lambda conn: [conn.execute(sql, list(r)) for r in rows])


def consent(container: Container, ws: Workspace, person: int, status: str, at: datetime,
            topic: str = "*") -> None:  # fmt: skip
    write(container, "INSERT INTO consents VALUES (?, ?, 'email', ?, ?, 'form', ?)",
          [ws.id, person, topic, status, at])  # fmt: skip


def with_rule(doc: dict[str, Any], **rule: Any) -> dict[str, Any]:
    return doc | {"entry": doc["entry"] | {"rule": rule}}


def test_subscription_changes_start_runs(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    ann, bob = contact(client, ws, "ann@example.net"), contact(client, ws, "bob@example.net")
    now = datetime.now(UTC)
    consent(container, ws, bob, "subscribed", now - timedelta(minutes=1))  # before it went live
    subscribed = journey(
        client,
        ws,
        simple(
            {"type": "subscription", "channel": "email", "topic": None, "on": "subscribed"}, "m"
        ),
    )
    news = journey(
        client,
        ws,
        simple(
            {"type": "subscription", "channel": "email", "topic": "news", "on": "unsubscribed"}, "m"
        ),
    )
    runner = for_container(container).runner
    runner.tick(now)  # both journeys start reading now
    consent(container, ws, ann, "subscribed", now + timedelta(seconds=1))
    consent(container, ws, ann, "subscribed", now + timedelta(seconds=2))  # no change: no entry
    consent(container, ws, bob, "subscribed", now + timedelta(seconds=2))  # was subscribed
    consent(container, ws, ann, "unsubscribed", now + timedelta(seconds=3), topic="news")
    runner.tick(now + timedelta(seconds=5))
    consent(container, ws, ann, "unsubscribed", now + timedelta(seconds=6))
    consent(container, ws, ann, "subscribed", now + timedelta(seconds=7))  # a change again
    runner.tick(now + timedelta(seconds=10))
    runner.tick(now + timedelta(seconds=11))
    assert entered(container, subscribed) == [(ann, "subscribed"), (ann, "subscribed")]
    assert entered(container, news) == [(ann, "unsubscribed")]


def test_list_joins_and_leaves(client: TestClient, container: Container, ws: Workspace) -> None:
    ann, bob = contact(client, ws, "ann@example.net"), contact(client, ws, "bob@example.net")
    joined = journey(client, ws, simple({"type": "list", "kind": "list", "name": "vip",
                                         "on": "joined"}, "m"))  # fmt: skip
    left = journey(client, ws, simple({"type": "list", "kind": "tag", "name": "vip",
                                       "on": "left"}, "m"))  # fmt: skip
    runner = for_container(container).runner
    now = datetime.now(UTC)
    runner.tick(now)
    insert = "INSERT INTO contact_lists VALUES (?, ?, ?, 'vip', ?, NULL, 'api')"
    write(container, insert, [ws.id, ann, "list", now + timedelta(seconds=1)],
          [ws.id, bob, "tag", now + timedelta(seconds=1)])  # fmt: skip
    runner.tick(now + timedelta(seconds=2))
    assert entered(container, joined) == [(ann, "list_joined")]
    assert entered(container, left) == []
    write(container, "UPDATE contact_lists SET left_at = ? WHERE contact_id = ? AND kind = 'tag'",
          [now + timedelta(seconds=3), bob])  # fmt: skip
    runner.tick(now + timedelta(seconds=4))
    runner.tick(now + timedelta(seconds=5))
    assert entered(container, left) == [(bob, "tag_left")]
    assert entered(container, joined) == [(ann, "list_joined")]


def test_message_events_with_filters(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    ann, bob = contact(client, ws, "ann@example.net"), contact(client, ws, "bob@example.net")
    on_open = {"type": "message", "on": "opened", "journey_id": "jny_cart", "channel": "email"}
    opened = journey(client, ws, simple(on_open, "m"))
    on_bounce = {"type": "message", "on": "bounced", "message_id": "msg_promo"}
    bounced = journey(client, ws, simple(on_bounce, "m"))
    runner = for_container(container).runner
    now = datetime.now(UTC)
    runner.tick(now)

    def event(person: int, send: str, status: str, seconds: int, *, campaign: str = "jny_cart",
              message: str = "msg_cart", machine: bool = False) -> list[Any]:  # fmt: skip
        return [ws.id, person, send, "email", campaign, message, status,
                now + timedelta(seconds=seconds), machine]  # fmt: skip

    insert = (
        "INSERT INTO message_events (workspace_id, contact_id, send_id, channel, campaign_id,"
        ' message_id, status, "at", machine) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'
    )
    write(container, insert,
          event(ann, "s1", "delivered", 1),
          event(ann, "s1", "opened", 2, machine=True),  # Apple privacy: not a person
          event(bob, "s2", "opened", 2, campaign="cmp_other"),  # another campaign
          event(bob, "s3", "bounced", 2, campaign="cmp_x", message="msg_promo"),
          event(bob, "s4", "bounced", 2, campaign="cmp_x", message="msg_other"))  # fmt: skip
    runner.tick(now + timedelta(seconds=3))
    assert entered(container, opened) == []
    write(container, insert, event(ann, "s1", "opened", 4), event(ann, "s1", "opened", 5))
    runner.tick(now + timedelta(seconds=6))
    write(container, insert, event(ann, "s1", "opened", 7))  # a third open: not a new entry
    runner.tick(now + timedelta(seconds=8))
    assert entered(container, opened) == [(ann, "message_opened")]
    assert entered(container, bounced) == [(bob, "message_bounced")]


def test_goal_of_another_journey(client: TestClient, container: Container, ws: Workspace) -> None:
    ann = contact(client, ws, "ann@example.net")
    follow = journey(client, ws, simple({"type": "goal", "journey_id": "jny_welcome"}, "m"))
    runner = for_container(container).runner
    now = datetime.now(UTC)
    runner.tick(now)
    goal = "INSERT INTO journey_goals VALUES (?, ?, 1, ?, ?, 'g', 'Purchased', NULL, ?)"
    write(container, goal, [ws.id, "jny_welcome", "run_a", ann, now + timedelta(seconds=1)],
          [ws.id, "jny_other", "run_b", ann, now + timedelta(seconds=1)])  # fmt: skip
    runner.tick(now + timedelta(seconds=2))
    runner.tick(now + timedelta(seconds=3))
    with container.db.read() as cur:
        context = cur.execute("SELECT context->>'run_id' FROM journey_runs WHERE journey_id = ?",
                              [follow]).fetchall()  # fmt: skip
    assert context == [("run_a",)]


def test_late_rows_are_entries_and_rules_apply(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    """A row recorded after the position with an earlier time (within ``LATE``) is still read,
    once; ``once`` and ``max_concurrent`` refuse as they do for events."""
    ann, bob = contact(client, ws, "ann@example.net"), contact(client, ws, "bob@example.net")
    trigger = {"type": "subscription", "channel": "email", "on": "subscribed"}
    once = journey(client, ws, with_rule(simple(trigger, "m"), type="once"))
    wait = {"id": "w", "type": "wait", "duration": {"amount": 1, "unit": "days"}, "next": "x"}
    busy = simple(trigger, "m") | {"start": "w", "nodes": [wait, {"id": "x", "type": "exit"}]}
    concurrent = journey(client, ws, with_rule(busy, type="every_time", max_concurrent=1))
    runner = for_container(container).runner
    now = datetime.now(UTC)
    runner.tick(now)
    consent(container, ws, ann, "subscribed", now + timedelta(seconds=10))
    runner.tick(now + timedelta(seconds=11))
    consent(container, ws, bob, "subscribed", now + timedelta(seconds=5))  # recorded late
    consent(container, ws, ann, "unsubscribed", now + timedelta(seconds=12))
    consent(container, ws, ann, "subscribed", now + timedelta(seconds=13))
    runner.tick(now + timedelta(seconds=14))
    runner.tick(now + timedelta(seconds=15))
    assert sorted(entered(container, once)) == [(ann, "subscribed"), (bob, "subscribed")]
    assert sorted(entered(container, concurrent)) == [(ann, "subscribed"), (bob, "subscribed")]
    with container.db.read() as cur:
        keys = cur.execute("SELECT count(*) FROM journey_entry_keys WHERE journey_id = ?",
                           [concurrent]).fetchone()  # fmt: skip
    assert keys == (3,)  # ann's second entry was decided (refused), not left to re-read


def test_an_entry_between_going_live_and_the_first_tick_counts(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    """The source starts when the journey went live, not at its first read."""
    ann, bob = contact(client, ws, "ann@example.net"), contact(client, ws, "bob@example.net")
    consent(container, ws, bob, "subscribed", datetime.now(UTC) - timedelta(seconds=1))
    welcome = journey(client, ws, simple(
        {"type": "subscription", "channel": "email", "on": "subscribed"}, "m"))  # fmt: skip
    consent(container, ws, ann, "subscribed", datetime.now(UTC))
    runner = for_container(container).runner
    runner.tick(datetime.now(UTC) + timedelta(seconds=1))
    runner.tick(datetime.now(UTC) + timedelta(seconds=2))
    assert entered(container, welcome) == [(ann, "subscribed")]


def test_merged_contacts_enter_as_their_survivor_and_erased_ones_not_at_all(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    ann, bob = contact(client, ws, "ann@example.net"), contact(client, ws, "bob@example.net")
    gone = contact(client, ws, "gone@example.net")
    tagged = journey(client, ws, simple({"type": "list", "kind": "tag", "name": "vip"}, "m"))
    runner = for_container(container).runner
    now = datetime.now(UTC)
    runner.tick(now)
    write(container, "UPDATE contacts SET merged_into = ? WHERE id = ?", [ann, bob])
    write(container, "UPDATE contacts SET erased_at = ? WHERE id = ?", [now, gone])
    insert = "INSERT INTO contact_lists VALUES (?, ?, 'tag', 'vip', ?, NULL, 'import')"
    write(container, insert, [ws.id, bob, now + timedelta(seconds=1)],
          [ws.id, gone, now + timedelta(seconds=1)])  # fmt: skip
    runner.tick(now + timedelta(seconds=2))
    runner.tick(now + timedelta(seconds=3))
    assert entered(container, tagged) == [(ann, "tag_joined")]


def test_a_failing_source_blocks_no_other_and_is_read_again(
    client: TestClient, container: Container, ws: Workspace, monkeypatch: Any
) -> None:
    """Each journey's source is read in its own unit: one that raises is logged and retried
    next tick, with nothing lost; the others go on."""
    ann = contact(client, ws, "ann@example.net")
    tagged = journey(client, ws, simple({"type": "list", "kind": "tag", "name": "vip"}, "m"))
    welcome = journey(client, ws, simple(
        {"type": "subscription", "channel": "email", "on": "subscribed"}, "m"))  # fmt: skip
    runner = for_container(container).runner
    now = datetime.now(UTC)
    runner.tick(now)
    write(container, "INSERT INTO contact_lists VALUES (?, ?, 'tag', 'vip', ?, NULL, 'api')",
          [ws.id, ann, now + timedelta(seconds=1)])  # fmt: skip
    consent(container, ws, ann, "subscribed", now + timedelta(seconds=1))

    def broken(*_: Any) -> list[Any]:
        raise RuntimeError("the list table is unreadable")

    monkeypatch.setitem(logs.READERS, ListTrigger, broken)
    runner.tick(now + timedelta(seconds=2))
    assert entered(container, welcome) == [(ann, "subscribed")]
    assert entered(container, tagged) == []
    monkeypatch.undo()
    runner.tick(now + timedelta(seconds=3))
    assert entered(container, tagged) == [(ann, "tag_joined")]


def test_what_happens_while_paused_is_not_an_entry(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    """Pause, a consent, resume, another consent: only the one after resuming enters."""
    ann, bob = contact(client, ws, "ann@example.net"), contact(client, ws, "bob@example.net")
    welcome = journey(client, ws, simple(
        {"type": "subscription", "channel": "email", "on": "subscribed"}, "m"))  # fmt: skip
    runner = for_container(container).runner
    runner.tick(datetime.now(UTC))
    url = f"/api/v1/journeys/{welcome}"
    assert client.post(f"{url}/pause", headers=ws.api_headers).json()["status"] == "paused"
    consent(container, ws, ann, "subscribed", datetime.now(UTC))
    runner.tick(datetime.now(UTC) + timedelta(seconds=1))  # paused: not read
    assert client.post(f"{url}/resume", headers=ws.api_headers).json()["status"] == "live"
    consent(container, ws, bob, "subscribed", datetime.now(UTC) + timedelta(seconds=1))
    runner.tick(datetime.now(UTC) + timedelta(seconds=7))
    runner.tick(datetime.now(UTC) + timedelta(seconds=8))
    assert entered(container, welcome) == [(bob, "subscribed")]
