"""The ledger's writer units find their sends by key (issue #5: a cost independent of the
ledger's size), with the semantics they had: claim, settle, enqueue over more than one
``KEYS`` slice, and the plans are index scans of the primary key, not scans of the ledger."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from retenta.messaging.events import MessageEvent, SendContext
from retenta.messaging.outbox import ledger as ledger_module
from retenta.messaging.outbox.delivery import FOLLOW_SQL, REPORTED, follow_reports
from retenta.messaging.outbox.ledger import KEYS, NewSend, SendLedger, Settlement, keys
from retenta.storage.duckdb.engine import DuckDatabase

WS = "ws_keys"
PAST = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SendLedger]:
    db = DuckDatabase(tmp_path / "ledger.duckdb")
    yield SendLedger(db)
    db.close()


def news(first: int, n: int, *, campaign: str = "cmp_k") -> list[NewSend]:
    return [
        NewSend(WS, i, "msg_k", ("email",), "promo", campaign_id=campaign,
                not_before=PAST + timedelta(seconds=i), send_id=f"snd_k{i:06d}")
        for i in range(first, first + n)
    ]  # fmt: skip


def rows(ledger: SendLedger, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with ledger.db.read() as cur:
        return list(cur.execute(sql, params or []).fetchall())


def test_enqueue_again_adds_only_the_new_ids_over_several_slices(ledger: SendLedger) -> None:
    first = news(0, KEYS + 500)
    assert ledger.enqueue(first) == [s.send_id for s in first]
    again = first[200 : KEYS + 300] + news(KEYS + 500, 700)  # 1,100 known, 700 new
    ledger.enqueue(again)
    assert rows(ledger, "SELECT count(*), count(DISTINCT send_id) FROM sends") == [(2200, 2200)]
    queued = rows(ledger, "SELECT count(*) FROM message_events WHERE status = 'queued'")
    assert queued == [(2200,)]  # one queued event per send, none for the known ones


def test_claim_over_several_slices_takes_each_due_send_once(ledger: SendLedger) -> None:
    ledger.enqueue(news(0, KEYS + 400))
    later = [
        NewSend(WS, 9_000 + i, "msg_k", ("email",), "promo",
                not_before=datetime.now(UTC) + timedelta(hours=1), send_id=f"snd_later{i}")
        for i in range(3)
    ]  # fmt: skip
    ledger.enqueue(later)
    first = ledger.claim(KEYS + 100)
    assert len(first) == KEYS + 100
    second = ledger.claim(KEYS + 100)
    assert len(second) == 300  # the rest of the due ones; the later three stay queued
    ids = [s.send_id for s in first + second]
    assert len(set(ids)) == KEYS + 400
    assert {s.attempts for s in first + second} == {1}
    # oldest due first: the first claim took the first KEYS + 100 of the due order
    assert {s.send_id for s in first} == {f"snd_k{i:06d}" for i in range(KEYS + 100)}
    assert rows(ledger, "SELECT status, count(*) FROM sends GROUP BY ALL ORDER BY ALL") == [
        ("queued", 3),
        ("sending", KEYS + 400),
    ]
    assert ledger.claim(10) == []


def test_claim_never_takes_a_send_that_is_not_queued(ledger: SendLedger) -> None:
    ledger.enqueue(news(0, 10))
    taken = ledger.claim(4)
    rest = ledger.claim(100)
    assert {s.send_id for s in taken}.isdisjoint(s.send_id for s in rest)
    assert len(rest) == 6
    assert {s.attempts for s in rest} == {1}


def test_settle_over_several_slices_keeps_the_rules(ledger: SendLedger) -> None:
    ledger.enqueue(news(0, KEYS + 300))
    claimed = ledger.claim(KEYS + 300)
    reported, done = claimed[0].send_id, claimed[1].send_id
    # a delivery report beat the settle (delivery.py); another send was settled already
    ledger.db.write(
        lambda c: c.execute("UPDATE sends SET status = 'delivered' WHERE send_id = ?", [reported])
    )
    asyncio.run(ledger.settle([_sent(claimed[1], "r-first")]))
    now = datetime.now(UTC)
    settlements = [_sent(s, f"r-{s.send_id}", now) for s in claimed]
    assert asyncio.run(ledger.settle(settlements)) == KEYS + 300

    def one(send_id: str) -> tuple[Any, ...]:
        return rows(
            ledger, "SELECT status, remote_id, lease_until FROM sends WHERE send_id = ?", [send_id]
        )[0]

    assert one(reported) == ("delivered", f"r-{reported}", None)  # status kept, id written
    assert one(done) == ("sent", "r-first", None)  # a settled send is not settled again
    counts = rows(ledger, "SELECT status, count(*) FROM sends GROUP BY ALL ORDER BY ALL")
    assert counts == [("delivered", 1), ("sent", KEYS + 299)]
    assert rows(ledger, "SELECT count(*) FROM sends WHERE lease_until IS NOT NULL") == [(0,)]
    sent_events = rows(ledger, "SELECT count(*) FROM message_events WHERE status = 'sent'")
    assert sent_events == [(KEYS + 301,)]  # the events are appended whatever the row did


def test_a_delivered_send_without_a_lease_is_not_overwritten(ledger: SendLedger) -> None:
    ledger.enqueue(news(0, 2))
    a, b = ledger.claim(2)
    asyncio.run(ledger.settle([_sent(a, "r-a")]))
    ledger.db.write(  # delivered after its settle (no lease any more)
        lambda c: c.execute("UPDATE sends SET status = 'delivered' WHERE send_id = ?", [a.send_id])
    )
    failed = Settlement(b.send_id, "failed", "email", 0, last_error="boom")
    asyncio.run(ledger.settle([_sent(a, "r-late"), failed]))
    got = rows(ledger, "SELECT send_id, status, remote_id FROM sends ORDER BY send_id")
    assert got == [(a.send_id, "delivered", "r-a"), (b.send_id, "failed", None)]


@pytest.mark.parametrize("name", ["SETTLE_SQL", "KNOWN_SQL"])
def test_the_statements_look_sends_up_by_index(ledger: SendLedger, name: str) -> None:
    """A scan filter added to these statements (``status = …``, an OR of status tests)
    turns the index scan back into a scan of every send: the plan says which it is."""
    ledger.enqueue(news(0, 3000))
    claimed = ledger.claim(200)
    ids = [s.send_id for s in claimed]
    sql = getattr(ledger_module, name).format(keys=keys(len(ids)))
    params: list[Any] = {
        "SETTLE_SQL": [PAST, *ids],
        "KNOWN_SQL": ids,
    }[name]

    tables = {}
    if name == "SETTLE_SQL":
        tables["_settle"] = ledger_module._settle_table([_sent(s, "r") for s in claimed])
    assert_index_scan(ledger, sql, params, tables)


def assert_index_scan(
    ledger: SendLedger, sql: str, params: list[Any], tables: dict[str, pa.Table]
) -> None:
    """``sql``'s plan, run in a writer unit that is rolled back, reads ``sends`` by index."""

    def plan(conn: Any) -> str:
        for table_name, table in tables.items():
            conn.register(table_name, table)
        text = str(conn.execute("EXPLAIN ANALYZE " + sql, params).fetchall()[0][1])
        conn.execute("ROLLBACK")  # leave the ledger as it was (the unit's COMMIT is a no-op)
        conn.execute("BEGIN TRANSACTION")
        return text

    text = ledger.db.write(plan)
    assert "Index Scan" in text, text
    assert "Sequential Scan" not in _sends_scans(text), text


def _sends_scans(plan: str) -> str:
    """The plan's scan lines of the table ``sends`` (other scans: the Arrow table, unnest)."""
    lines = plan.splitlines()
    out = []
    for i, line in enumerate(lines):
        if "Type:" in line and any("sends" in x for x in lines[max(0, i - 2) : i + 1]):
            out.append(line)
    return "\n".join(out)


def _sent(send: Any, remote_id: str, at: datetime | None = None) -> Settlement:
    moment = at or datetime.now(UTC)
    return Settlement(
        send.send_id,
        "sent",
        send.channel,
        send.cascade_index,
        remote_id=remote_id,
        events=(MessageEvent(send.context(), "sent", moment),),
    )


def test_reports_move_their_sends_by_the_rule(ledger: SendLedger) -> None:
    """``delivery.follow_reports`` over more than one slice: delivered beats sent and failed,
    failed moves only sending or sent, never delivered; another workspace's report moves
    nothing."""
    ledger.enqueue(news(0, KEYS + 10))
    claimed = ledger.claim(KEYS + 10)
    states = ["sending", "sent", "failed", "delivered", "sent"]
    ids = [s.send_id for s in claimed]

    def prepare(conn: Any) -> None:
        for i, state in enumerate(states):
            conn.execute("UPDATE sends SET status = ? WHERE send_id = ?", [state, ids[i]])
        conn.execute(
            f"UPDATE sends SET status = 'sent' WHERE send_id IN ({keys(len(ids) - 5)})", ids[5:]
        )

    ledger.db.write(prepare)
    at = datetime.now(UTC)

    def event(i: int, status: str, workspace: str = WS) -> MessageEvent:
        send = claimed[i]
        ctx = SendContext(workspace, send.contact_id, send.send_id, "sms")
        return MessageEvent(ctx, status, at)

    reports = [
        event(0, "failed"),  # sending → failed
        event(1, "delivered"),  # sent → delivered
        event(2, "delivered"),  # failed → delivered (the fallback got there)
        event(3, "failed"),  # delivered stays delivered
        event(4, "delivered", "ws_other"),  # not this workspace's send: nothing
        *(event(i, "failed") for i in range(5, KEYS + 10)),  # sent → failed, second slice too
    ]
    moved = ledger.db.write(lambda conn: follow_reports(conn, reports))
    assert moved == KEYS + 10
    got = dict(rows(ledger, "SELECT send_id, status FROM sends"))
    assert [got[i] for i in ids[:5]] == ["failed", "delivered", "delivered", "delivered", "sent"]
    assert {got[i] for i in ids[5:]} == {"failed"}


def test_the_report_statement_looks_sends_up_by_index(ledger: SendLedger) -> None:
    ledger.enqueue(news(0, 3000))
    ids = [s.send_id for s in ledger.claim(200)]
    table = pa.table(
        {"workspace_id": [WS] * len(ids), "send_id": ids, "status": ["delivered"] * len(ids)},
        schema=REPORTED,
    )

    sql = FOLLOW_SQL.format(keys=keys(len(ids)))
    assert_index_scan(ledger, sql, [PAST, *ids], {"_reported": table})


def test_orphans_by_key_keep_their_answers(ledger: SendLedger) -> None:
    """The sends left ``sending``, each with whether its own attempt was handed over; by
    ``send_ids`` only those still sending; ``expired_only`` only those whose lease ran out."""
    ledger.enqueue(news(0, 5))
    s0, s1, s2, s3, s4 = ledger.claim(5)
    asyncio.run(ledger.record_handover([(s0.send_id, 1), (s1.send_id, 2), (s4.send_id, 1)]))
    asyncio.run(ledger.settle([_sent(s4, "r4")]))

    def answer(found: list[tuple[Any, bool]]) -> list[tuple[str, bool]]:
        return [(send.send_id, handed) for send, handed in found]

    assert answer(ledger.orphans()) == [
        (s0.send_id, True),
        (s1.send_id, False),  # a record of another attempt is not this attempt's
        (s2.send_id, False),
        (s3.send_id, False),
    ]
    by_id = ledger.orphans(send_ids=[s4.send_id, s1.send_id, "snd_nosuch", s0.send_id])
    assert answer(by_id) == [(s0.send_id, True), (s1.send_id, False)]
    assert ledger.orphans(expired_only=True) == []
    assert ledger.orphans(expired_only=True, send_ids=[s0.send_id]) == []
    ledger.enqueue(news(5, 1))
    (late,) = ledger.claim(1, lease_s=-1)  # its lease has run out already
    assert answer(ledger.orphans(expired_only=True)) == [(late.send_id, False)]
    assert answer(ledger.orphans(expired_only=True, send_ids=[late.send_id, s0.send_id])) == [
        (late.send_id, False)
    ]


def test_the_handover_lookup_is_by_index(ledger: SendLedger) -> None:
    """Migration 0040's index serves the orphan lookup's ``send_id IN (…)``."""
    ledger.enqueue(news(0, 3000))
    claimed = ledger.claim(3000)
    asyncio.run(ledger.record_handover([(s.send_id, 1) for s in claimed]))
    ids = [s.send_id for s in claimed[:100]]
    sql = "EXPLAIN ANALYZE " + ledger_module.HANDED_SQL.format(keys=keys(len(ids)))
    text = str(rows(ledger, sql, ids)[0][1])
    assert "Index Scan" in text, text
    assert len(ledger.orphans(send_ids=ids)) == 100
    assert all(handed for _, handed in ledger.orphans(send_ids=ids))


def test_the_claim_update_takes_only_queued_due_rows(ledger: SendLedger) -> None:
    """The claim's UPDATE is by row id; whatever ids it is given, it moves only sends that
    are queued and due (row ids of sent, sending or later sends change nothing)."""
    ledger.enqueue(news(0, 4))
    later = NewSend(WS, 99, "msg_k", ("email",), "promo", send_id="snd_klater",
                    not_before=datetime.now(UTC) + timedelta(hours=1))  # fmt: skip
    ledger.enqueue([later])
    (taken,) = ledger.claim(1)
    asyncio.run(ledger.settle([_sent(taken, "r")]))
    (sending,) = ledger.claim(1)
    ids = dict(rows(ledger, "SELECT send_id, rowid FROM sends"))
    wrong = [ids[taken.send_id], ids[sending.send_id], ids["snd_klater"]]
    now = datetime.now(UTC)

    def claim(conn: Any) -> list[Any]:
        return list(conn.execute(ledger_module.CLAIM_SQL, [now, now, wrong, now]).fetchall())

    assert ledger.db.write(claim) == []
    states = rows(ledger, "SELECT send_id, status, attempts FROM sends ORDER BY send_id")
    assert states[:3] == [(taken.send_id, "sent", 1), (sending.send_id, "sending", 1),
                          ("snd_k000002", "queued", 0)]  # fmt: skip
    assert ("snd_klater", "queued", 0) in states


def test_the_claim_reads_only_the_row_groups_of_its_sends(ledger: SendLedger) -> None:
    """Beside 300,000 settled sends (three row groups), the claim's UPDATE scans the one
    row group that holds the due sends, not the ledger."""

    def settled(conn: Any) -> None:
        conn.execute(
            'INSERT INTO sends (send_id, workspace_id, contact_id, channel, "cascade",'
            " message_id, category, status, created_at, updated_at)"
            " SELECT 'snd_old' || i, 'ws_keys', i, 'email', '[\"email\"]', 'msg_k', 'promo',"
            " 'sent', TIMESTAMPTZ '2026-01-01 00:00:00+00', TIMESTAMPTZ '2026-01-01 00:00:00+00'"
            " FROM range(300000) t(i)"
        )

    ledger.db.write(settled)
    ledger.db.write(lambda conn: conn.execute("CHECKPOINT"))
    ledger.enqueue(news(0, 400))
    due = [r[0] for r in rows(ledger, ledger_module.DUE_SQL, [datetime.now(UTC), 200])]
    sql = "EXPLAIN ANALYZE " + ledger_module.CLAIM_SQL
    now = datetime.now(UTC)

    def plan(conn: Any) -> str:
        text = str(conn.execute(sql, [now, now, due, now]).fetchall()[0][1])
        conn.execute("ROLLBACK")
        conn.execute("BEGIN TRANSACTION")
        return text

    text = ledger.db.write(plan)
    scanned = [line for line in text.splitlines() if "Row Groups Scanned" in line]
    assert scanned, text
    assert all("Row Groups Scanned: 1 /" in line for line in scanned), scanned
    assert len(ledger.claim(500)) == 400


def test_known_finds_the_ids_in_the_ledger_by_key(ledger: SendLedger) -> None:
    ledger.enqueue(news(0, KEYS + 5))
    asked = [f"snd_k{i:06d}" for i in range(KEYS - 3, KEYS + 8)] + ["snd_nosuch"]
    assert ledger.known(asked) == {f"snd_k{i:06d}" for i in range(KEYS - 3, KEYS + 5)}
    assert ledger.known([]) == set()
