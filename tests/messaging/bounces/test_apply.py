"""Feedback applied to contacts: events, suppression, consent, retries — each report once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging.bounces.apply import FeedbackHandler
from retenta.messaging.bounces.dsn import parse_dsn
from retenta.messaging.bounces.model import Feedback, Kind
from retenta.messaging.events import MessageEvent, SendContext, record
from retenta.messaging.signing import new_send_id
from retenta.messaging.suppression import reasons_for
from tests.conftest import Workspace

SAMPLES = Path(__file__).parent / "samples"


def contact(client: TestClient, ws: Workspace, email: str) -> int:
    response = client.post(
        "/api/v1/contacts",
        headers=ws.api_headers,
        json={"identifiers": {"email": email},
              "consents": [{"channel": "email", "topic": "*", "status": "subscribed"}]},
    )  # fmt: skip
    assert response.status_code in (200, 201), response.text
    return int(response.json()["id"])


def sent(container: Container, ws: Workspace, contact_id: int) -> str:
    send_id = new_send_id()
    context = SendContext(ws.id, contact_id, send_id, "email", "camp_1", "msg_1")
    asyncio.run(record(container.db, [MessageEvent(context, "sent", datetime.now(UTC))]))
    return send_id


def statuses(container: Container, send_id: str) -> list[tuple[str, str | None]]:
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT status, properties->>'bounce' FROM message_events WHERE send_id = ?"
            ' ORDER BY "at", status',
            [send_id],
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def suppressed(container: Container, ws: Workspace, address: str) -> str | None:
    with container.db.read() as cur:
        return reasons_for(cur, ws.id, "email", [address]).get(address)


def consent(container: Container, ws: Workspace, contact_id: int) -> tuple[str, str]:
    with container.db.read() as cur:
        row = cur.execute(
            "SELECT status, source FROM consents WHERE workspace_id = ? AND contact_id = ?"
            " AND channel = 'email' ORDER BY changed_at DESC LIMIT 1",
            [ws.id, contact_id],
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def test_a_hard_bounce_by_verp_suppresses_once(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    person = contact(client, ws, "nobody@mail.example.net")
    send_id = sent(container, ws, person)
    report = (SAMPLES / "postfix_user_unknown.eml").read_bytes()
    handler = FeedbackHandler(container.db)
    first = asyncio.run(handler.apply(parse_dsn(report, envelope_send_id=send_id)))
    again = asyncio.run(handler.apply(parse_dsn(report, envelope_send_id=send_id)))
    assert (first.applied, first.suppressed, again.applied, again.duplicates) == (1, 1, 0, 1)
    assert statuses(container, send_id) == [("sent", None), ("bounced", "hard")]
    assert suppressed(container, ws, "nobody@mail.example.net") == "hard_bounce"


def test_soft_bounces_retry_and_then_suppress(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    person = contact(client, ws, "full@mail.example.net")
    retried: list[tuple[str, str, str]] = []

    async def retry(workspace: str, send_id: str, reason: str) -> None:
        retried.append((workspace, send_id, reason))

    handler = FeedbackHandler(container.db, retry=retry, soft_limit=3)
    sends = [sent(container, ws, person) for _ in range(3)]
    for number, send_id in enumerate(sends):
        soft = Feedback(Kind.SOFT_BOUNCE, f"k{number}", "full@mail.example.net", send_id,
                        "4.2.2", 452, "mailbox full")  # fmt: skip
        asyncio.run(handler.apply([soft]))
        expected = None if number < 2 else "hard_bounce"
        assert suppressed(container, ws, "full@mail.example.net") == expected
    assert [r[1] for r in retried] == sends
    assert {r[0] for r in retried} == {ws.id}
    assert statuses(container, sends[0]) == [("sent", None), ("bounced", "soft")]


def test_a_complaint_suppresses_and_unsubscribes(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    person = contact(client, ws, "angry@yahoo.example")
    send_id = sent(container, ws, person)
    complaint = Feedback(Kind.COMPLAINT, "arf-1", "angry@yahoo.example", send_id, source="arf")
    result = asyncio.run(FeedbackHandler(container.db).apply([complaint], trusted=False))
    assert result.applied == 1
    assert suppressed(container, ws, "angry@yahoo.example") == "complaint"
    assert consent(container, ws, person) == ("unsubscribed", "arf")
    assert statuses(container, send_id)[-1] == ("complained", None)


def test_an_unsigned_report_about_someone_else_changes_nothing(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    victim = contact(client, ws, "victim@example.net")
    contact(client, ws, "attacker@example.net")
    send_id = sent(container, ws, victim)
    forged = Feedback(Kind.COMPLAINT, "arf-x", "attacker@example.net", send_id, source="arf")
    result = asyncio.run(FeedbackHandler(container.db).apply([forged], trusted=False))
    assert (result.applied, result.unmatched) == (0, 1)
    assert suppressed(container, ws, "victim@example.net") is None
    assert consent(container, ws, victim) == ("subscribed", "api")


def test_workspaces_are_isolated(
    client: TestClient, container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    person = contact(client, ws, "a@example.net")
    send_id = sent(container, ws, person)
    bounce = Feedback(Kind.HARD_BOUNCE, "k", "a@example.net", send_id, "5.1.1", 550)
    handler = FeedbackHandler(container.db)
    untrusted = asyncio.run(handler.apply([bounce], workspace_id=other_ws.id, trusted=False))
    assert (untrusted.applied, untrusted.unmatched) == (0, 1)
    # the other workspace's own verified webhook: its list only, and no event on ws's send
    webhook = Feedback(Kind.HARD_BOUNCE, "k2", "a@example.net", send_id, "5.1.1", 550)
    asyncio.run(handler.apply([webhook], workspace_id=other_ws.id))
    assert suppressed(container, ws, "a@example.net") is None
    assert suppressed(container, other_ws, "a@example.net") == "hard_bounce"
    assert statuses(container, send_id) == [("sent", None)]


def test_delivery_and_blocks_are_events_only(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    person = contact(client, ws, "b@example.net")
    send_id = sent(container, ws, person)
    handler = FeedbackHandler(container.db)
    asyncio.run(handler.apply([
        Feedback(Kind.DELIVERED, "d1", "b@example.net", send_id, "2.0.0", 250),
        Feedback(Kind.BLOCKED, "b1", "b@example.net", send_id, "5.7.1", 554),
        Feedback(Kind.DELAYED, "l1", "b@example.net", send_id, "4.4.7"),
    ]))  # fmt: skip
    assert sorted(statuses(container, send_id)) == [
        ("bounced", "block"), ("delivered", None), ("sent", None),
    ]  # fmt: skip
    assert suppressed(container, ws, "b@example.net") is None


def test_a_delivery_report_moves_the_send_in_the_ledger(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    from retenta.messaging.outbox.ledger import NewSend
    from retenta.messaging.services import for_container

    person = contact(client, ws, "d@example.net")
    [send_id] = for_container(container).ledger.enqueue(
        [NewSend(ws.id, person, "msg_1", ("email",), "promo")]
    )
    container.db.write(
        lambda conn: conn.execute("UPDATE sends SET status = 'sent' WHERE send_id = ?", [send_id])
    )
    report = Feedback(Kind.DELIVERED, "dsn-d", "d@example.net", send_id, "2.0.0", 250)
    asyncio.run(FeedbackHandler(container.db).apply([report]))
    with container.db.read() as cur:
        row = cur.execute("SELECT status FROM sends WHERE send_id = ?", [send_id]).fetchone()
    assert row == ("delivered",)
