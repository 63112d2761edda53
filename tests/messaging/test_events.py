"""A send's life is recorded in message_events (the table segments read)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import orjson
import pytest

from retenta.app import Container
from retenta.messaging.channels.base import Outcome, SendResult
from retenta.messaging.events import MessageEvent, SendContext, from_result, queued, record
from tests.conftest import Workspace

AT = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)


def send(ws: Workspace, contact_id: int, send_id: str) -> SendContext:
    return SendContext(
        workspace_id=ws.id,
        contact_id=contact_id,
        send_id=send_id,
        channel="email",
        campaign_id="cmp_1",
        message_id="msg_promo",
        tags=("promo", "november"),
    )


def test_results_map_to_statuses() -> None:
    ctx = SendContext("ws", 1, "snd_a", "email")
    sent = from_result(ctx, SendResult("snd_a", Outcome.SENT, "Ok", 250, None, "Q1"), at=AT)
    assert sent is not None
    assert sent.status == "sent"
    assert sent.properties["remote_id"] == "Q1"
    hard = from_result(
        ctx, SendResult("snd_a", Outcome.PERMANENT, "550 5.1.1 unknown", 550, "5.1.1")
    )
    assert hard is not None
    assert hard.status == "bounced"
    assert hard.properties["bounce"] == "hard"
    assert hard.properties["detail"] == "5.1.1"
    render = from_result(
        ctx, SendResult("snd_a", Outcome.PERMANENT, "t, line 1: x", None, "render_error")
    )
    assert render is not None
    assert render.status == "failed"
    assert from_result(ctx, SendResult("snd_a", Outcome.TEMPORARY, "451 later", 451)) is None
    with pytest.raises(ValueError, match="given for send"):
        from_result(ctx, SendResult("snd_other", Outcome.SENT))
    with pytest.raises(ValueError, match="unknown message status"):
        MessageEvent(ctx, "read", AT)


def test_events_are_appended_to_message_events(
    container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    events = [
        queued(send(ws, 10, "snd_1"), at=AT),
        from_result(
            send(ws, 10, "snd_1"), SendResult("snd_1", Outcome.SENT, "Ok", 250, None, "Q7"), at=AT
        ),
        from_result(
            send(ws, 11, "snd_2"),
            SendResult("snd_2", Outcome.PERMANENT, "550 5.1.1 unknown", 550, "5.1.1"),
            at=AT,
        ),
        queued(send(other_ws, 99, "snd_3"), at=AT),
    ]
    written = asyncio.run(record(container.db, [e for e in events if e is not None]))
    assert written == 4
    with container.db.read() as cur:
        rows = cur.execute(
            'SELECT contact_id, send_id, channel, campaign_id, message_id, tags, status, "at", '
            "machine, properties FROM message_events WHERE workspace_id = ? "
            "ORDER BY send_id, status DESC",
            [ws.id],
        ).fetchall()
    assert [(r[0], r[1], r[6]) for r in rows] == [
        (10, "snd_1", "sent"),
        (10, "snd_1", "queued"),
        (11, "snd_2", "bounced"),
    ]
    first = rows[0]
    assert first[2:6] == ("email", "cmp_1", "msg_promo", ["promo", "november"])
    assert first[7] == AT
    assert first[8] is False
    assert orjson.loads(first[9])["remote_id"] == "Q7"
    assert orjson.loads(rows[2][9])["code"] == 550
    assert asyncio.run(record(container.db, [])) == 0
