"""The sends ledger (table ``sends``, migration 0018): create, enqueue, claim, settle, read.

Every change runs in the single writer, one unit per step, so each step lands whole:

- ``create`` (the transactional API) checks the Idempotency-Key and inserts in one unit, so
  two concurrent requests with one key make one send;
- ``enqueue`` (campaigns, journeys) appends many sends from Arrow in one ``INSERT … SELECT``;
- ``claim`` moves due sends ``queued → sending`` (attempts + 1, a lease) and commits before
  any provider sees them;
- ``settle`` writes each send's new status and its ``message_events`` in one unit.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from retenta.messaging.events import MessageEvent, SendContext
from retenta.messaging.events import append as append_events
from retenta.messaging.outbox import log
from retenta.messaging.outbox.journal import HandoverJournal, Pending, insert_handovers, run_all
from retenta.messaging.outbox.model import backoff_s
from retenta.messaging.signing import SEND_ID
from retenta.storage.base import Database


def new_send_id() -> str:
    return "snd_" + secrets.token_hex(10)


class IdempotencyConflictError(Exception):
    """The Idempotency-Key was used before with another request body."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 6
    base_s: float = 30.0
    cap_s: float = 3600.0

    def next_at(self, attempts: int, now: datetime, wait_s: float | None = None) -> datetime:
        delay = max(backoff_s(attempts, base_s=self.base_s, cap_s=self.cap_s), wait_s or 0.0)
        return now + timedelta(seconds=delay)


@dataclass(frozen=True, slots=True)
class Send:
    """A claimed send: everything the dispatcher needs to deliver one attempt."""

    send_id: str
    workspace_id: str
    contact_id: int
    channel: str
    cascade: tuple[str, ...]
    cascade_index: int
    message_id: str
    category: str
    topic: str | None
    campaign_id: str | None
    language: str | None
    data: Mapping[str, Any]
    attempts: int

    def context(self, channel: str | None = None) -> SendContext:
        return SendContext(
            self.workspace_id,
            self.contact_id,
            self.send_id,
            channel or self.channel,
            self.campaign_id,
            self.message_id,
        )


@dataclass(frozen=True, slots=True)
class Settlement:
    """A send's new state after an attempt (or a cascade step), with its events."""

    send_id: str
    status: str
    channel: str
    cascade_index: int
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    remote_id: str | None = None
    versions_used: Mapping[str, int] | None = None
    message_revision: int | None = None
    attempts: int | None = None  # reset to 0 when a cascade moves to its next channel
    events: Sequence[MessageEvent] = field(default_factory=tuple)


NEW_SENDS = pa.schema(
    [
        ("send_id", pa.string()),
        ("workspace_id", pa.string()),
        ("idempotency_key", pa.string()),
        ("request_hash", pa.string()),
        ("response", pa.string()),
        ("contact_id", pa.int64()),
        ("channel", pa.string()),
        ("cascade", pa.string()),
        ("message_id", pa.string()),
        ("category", pa.string()),
        ("topic", pa.string()),
        ("campaign_id", pa.string()),
        ("language", pa.string()),
        ("data", pa.string()),
        ("status", pa.string()),
        ("next_attempt_at", pa.timestamp("us", tz="UTC")),
        ("created_at", pa.timestamp("us", tz="UTC")),
    ]
)
_NEW_COLUMNS = ", ".join(f'"{n}"' for n in NEW_SENDS.names)
# Send ids per statement. An ``IN (?, ?, …)`` list on ``send_id`` of up to DuckDB's
# ``index_scan_max_count`` (2048) keys is an ART index scan of the primary key, so its cost
# does not grow with the ledger; a join (``IN (SELECT unnest(?))``, ``UPDATE … FROM``,
# ``NOT EXISTS``) scanned every send. Beside 1,000,000 settled sends (bench_ledger.py).
KEYS = 1000
INSERT_SQL = (
    f"INSERT INTO sends ({_NEW_COLUMNS}, updated_at)"
    f" SELECT {_NEW_COLUMNS}, created_at FROM _new_sends"
)
KNOWN_SQL = "SELECT send_id FROM sends WHERE send_id IN ({keys})"
SETTLE = pa.schema(
    [
        ("send_id", pa.string()),
        ("status", pa.string()),
        ("channel", pa.string()),
        ("cascade_index", pa.int32()),
        ("next_attempt_at", pa.timestamp("us", tz="UTC")),
        ("last_error", pa.string()),
        ("remote_id", pa.string()),
        ("versions_used", pa.string()),
        ("message_revision", pa.int32()),
        ("attempts", pa.int32()),
    ]
)
# Only a send still ``sending`` takes the new state, or one whose delivery report beat this
# settle (delivery.py: it keeps its status). The rule is a CASE, not an OR of status tests:
# DuckDB pushes an OR's ``sends.status IN (…)`` into the scan, and a scan filter turns the
# index scan of ``send_id IN (…)`` back into a scan of the whole ledger.
SETTLE_SQL = """
UPDATE sends SET status = CASE WHEN sends.status = 'sending' THEN u.status
                              ELSE sends.status END,
    channel = u.channel, cascade_index = u.cascade_index,
    next_attempt_at = u.next_attempt_at, lease_until = NULL, last_error = u.last_error,
    remote_id = coalesce(u.remote_id, sends.remote_id),
    versions_used = coalesce(u.versions_used::JSON, sends.versions_used),
    message_revision = coalesce(u.message_revision, sends.message_revision),
    attempts = coalesce(u.attempts, sends.attempts), updated_at = ?
FROM _settle u WHERE sends.send_id = u.send_id AND sends.send_id IN ({keys})
  AND CASE WHEN sends.status = 'sending' THEN true
           -- a delivery report that beat this settle (delivery.py) keeps its status
           WHEN u.status = 'sent' AND sends.status IN ('delivered', 'failed')
                THEN sends.lease_until IS NOT NULL
           ELSE false END
"""
# Claiming is two statements in one writer unit: the due sends' row ids (a top-N over the
# queued sends' columns, pruned by the status zone maps), then an UPDATE of those rows. The
# top-N carries the integer row id, not the send id: beside an open campaign of 1,000,000
# queued sends it was 28 ms a claim of 200 with the string, 5 with the row id. Row ids do
# not move inside a unit, and the UPDATE tests queued and due again, so it can never take a
# send that is not; ``rowid IN (…)`` prunes the row groups outside the ids' range (a claim's
# sends are mostly neighbours: due order is roughly insertion order).
DUE_SQL = """
SELECT rowid FROM sends WHERE status = 'queued' AND next_attempt_at <= ?
ORDER BY next_attempt_at, created_at LIMIT ?
"""
CLAIM_SQL = """
UPDATE sends SET status = 'sending', attempts = attempts + 1, lease_until = ?, updated_at = ?
WHERE rowid IN (SELECT unnest(?::BIGINT[])) AND status = 'queued' AND next_attempt_at <= ?
RETURNING send_id, workspace_id, contact_id, channel, "cascade", cascade_index, message_id,
          category, topic, campaign_id, language, data, attempts
"""

# The orphan lookup: the sends left ``sending`` (a scan of the status column, pruned by its
# zone maps), then their hand-over records by key (index ``send_handovers_send``, migration
# 0040); an ``EXISTS`` against ``send_handovers`` joined every record ever copied.
_SEND_COLUMNS = (
    'send_id, workspace_id, contact_id, channel, "cascade", cascade_index, message_id,'
    " category, topic, campaign_id, language, data, attempts"
)
ORPHANS_SQL = (
    f"SELECT {_SEND_COLUMNS} FROM sends"
    " WHERE status = 'sending' AND (NOT ? OR lease_until < ?) ORDER BY send_id"
)
SENDS_BY_ID_SQL = (
    f"SELECT {_SEND_COLUMNS}, status, lease_until FROM sends WHERE send_id IN ({{keys}})"
)
HANDED_SQL = "SELECT send_id, attempt FROM send_handovers WHERE send_id IN ({keys})"


def keys(n: int) -> str:
    """``?, ?, …``: ``n`` parameters of an ``IN`` list.

    >>> keys(3)
    '?, ?, ?'
    """
    return ", ".join("?" * n)


def chunks(ids: Sequence[str]) -> list[Sequence[str]]:
    """``ids`` in slices of at most :data:`KEYS` (each one index scan)."""
    return [ids[i : i + KEYS] for i in range(0, len(ids), KEYS)]


@dataclass(frozen=True, slots=True)
class NewSend:
    """One send to add to the ledger (a campaign's or journey's recipient)."""

    workspace_id: str
    contact_id: int
    message_id: str
    cascade: tuple[str, ...]
    category: str
    topic: str | None = None
    campaign_id: str | None = None
    language: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    not_before: datetime | None = None
    send_id: str = field(default_factory=new_send_id)

    def __post_init__(self) -> None:
        if not SEND_ID.fullmatch(self.send_id):
            raise ValueError(f"send id {self.send_id!r} must be snd_ + lowercase letters/digits")
        if not self.cascade:
            raise ValueError("a send needs at least one channel")


class SendLedger:
    def __init__(
        self,
        db: Database,
        retry: RetryPolicy | None = None,
        *,
        journal: HandoverJournal | None = None,
    ) -> None:
        self.db = db
        self.retry = retry or RetryPolicy()
        self.journal = journal  # hand-over records go here when set (journal.py), else the db
        self.listeners: list[Any] = []  # callables told when sends are queued (dispatcher.wake)

    # --- adding sends ---------------------------------------------------------------------

    def create(
        self, new: NewSend, *, idempotency_key: str | None, request_hash: str
    ) -> tuple[dict[str, Any], bool]:
        """``(answer, replayed)``: the stored first answer when the key was used with this body.

        Raises :class:`IdempotencyConflictError` when the key was used with another body.
        """
        answer = {"send_id": new.send_id, "status": "queued"}
        table = _new_sends([new], key=idempotency_key, request_hash=request_hash, answer=answer)

        def work(conn: Any) -> tuple[dict[str, Any], bool]:
            if idempotency_key is not None:
                row = conn.execute(
                    "SELECT request_hash, response FROM sends"
                    " WHERE workspace_id = ? AND idempotency_key = ?",
                    [new.workspace_id, idempotency_key],
                ).fetchone()
                if row is not None:
                    if row[0] != request_hash:
                        raise IdempotencyConflictError(idempotency_key)
                    return orjson.loads(row[1]), True
            _insert(conn, table)
            append_events(conn, [_queued(new)])
            return answer, False

        result = self.db.write(work)
        if not result[1]:
            self._notify()
        return result

    def enqueue(self, sends: Sequence[NewSend]) -> list[str]:
        """Add many sends at once (one writer unit, Arrow); their ids, in order.

        Idempotent per send id: an id already in the ledger is skipped inside the same unit,
        so a caller that derives ids from its own state (a journey's run and node) can
        enqueue again after a crash without a second send.
        """
        if not sends:
            return []
        table = _new_sends(sends)

        def work(conn: Any) -> int:
            added = _insert(conn, table)
            append_events(conn, [_queued(s) for s in sends if s.send_id in added])
            return len(added)

        if self.db.write(work):
            self._notify()
        return [s.send_id for s in sends]

    def known(self, send_ids: Sequence[str]) -> set[str]:
        """Those of ``send_ids`` already in the ledger, found by key (for a caller that
        queues idempotently and counts what it added, such as a campaign's chunk)."""
        with self.db.read() as cur:
            return _known(cur, list(send_ids))

    def _notify(self) -> None:
        for listener in self.listeners:
            listener()

    # --- the dispatcher's steps -----------------------------------------------------------

    def claim(
        self, limit: int, *, lease_s: float = 300.0, now: datetime | None = None
    ) -> list[Send]:
        """Due sends, moved to ``sending`` with attempts + 1 (committed before returning)."""
        moment = now or datetime.now(UTC)
        lease = moment + timedelta(seconds=lease_s)

        def work(conn: Any) -> list[Send]:
            due = [row[0] for row in conn.execute(DUE_SQL, [moment, limit]).fetchall()]
            if not due:
                return []
            rows = conn.execute(CLAIM_SQL, [lease, moment, due, moment]).fetchall()
            return [_send(row) for row in rows]

        claimed = self.db.write(work)
        claimed.sort(key=lambda s: s.send_id)
        return claimed

    async def record_handover(
        self, sends: Sequence[tuple[str, int]], after: Sequence[Pending] = ()
    ) -> None:
        """Durably note that these attempts are being handed to a provider (before handing);
        each of ``after`` is pending records and the write that hands them over, run once
        they are durable (on the journal's thread when there is one, right after their
        confirmation: journal.py)."""
        if not sends and not after:
            return
        if self.journal is not None:  # one write + fdatasync, off the writer (journal.py)
            await self.journal.commit(sends, after)
            return
        await self._insert_handovers([*sends, *(r for records, _ in after for r in records)])
        run_all([then for _, then in after])

    def absorb_journal(self) -> int:
        """Copy the journal's closed segments into ``send_handovers`` and delete them; the
        records copied. Called before every orphan lookup, so the lookup sees them all."""
        if self.journal is None:
            return 0
        closed = self.journal.rotate()
        records = self.journal.read(closed)
        if records:
            self.db.write(lambda conn: insert_handovers(conn, records, datetime.now(UTC)))
        self.journal.discard(closed)
        return len(records)

    async def _insert_handovers(self, sends: Sequence[tuple[str, int]]) -> None:
        at = datetime.now(UTC)
        await self.db.awrite(lambda conn: insert_handovers(conn, sends, at))

    async def settle(self, settlements: Sequence[Settlement]) -> int:
        """Write the new states and their events in one unit; the count of sends settled."""
        if not settlements:
            return 0
        table = _settle_table(settlements)
        events = [e for s in settlements for e in s.events]
        at = datetime.now(UTC)

        def work(conn: Any) -> int:
            for first in range(0, len(settlements), KEYS):
                part = table.slice(first, KEYS)
                ids = part.column("send_id").to_pylist()
                conn.register("_settle", part)
                try:
                    conn.execute(SETTLE_SQL.format(keys=keys(len(ids))), [at, *ids])
                finally:
                    conn.unregister("_settle")
            append_events(conn, events)
            return len(settlements)

        return await self.db.awrite(work)

    def retry_later(
        self, workspace_id: str, send_id: str, reason: str, *, now: datetime | None = None
    ) -> str | None:
        """A soft bounce reported later (DSN, webhook): queue the send again with backoff,
        or ``failed`` once its attempts are used up. The new status (None: no such send)."""
        moment = now or datetime.now(UTC)

        def work(conn: Any) -> str | None:
            row = conn.execute(
                "SELECT attempts, status, contact_id, channel, campaign_id, message_id FROM sends"
                " WHERE workspace_id = ? AND send_id = ?",
                [workspace_id, send_id],
            ).fetchone()
            if row is None:
                return None
            attempts, status = int(row[0]), str(row[1])
            if status in ("queued", "sending"):
                return status  # already on its way again
            exhausted = attempts >= self.retry.max_attempts
            new_status = "failed" if exhausted else "queued"
            due = None if exhausted else self.retry.next_at(attempts, moment)
            conn.execute(
                "UPDATE sends SET status = ?, next_attempt_at = ?, last_error = ?, updated_at = ?"
                " WHERE workspace_id = ? AND send_id = ?",
                [new_status, due, reason[:1000], moment, workspace_id, send_id],
            )
            if exhausted:
                ctx = SendContext(workspace_id, int(row[2]), send_id, str(row[3]), row[4], row[5])
                append_events(
                    conn,
                    [
                        MessageEvent(
                            ctx,
                            "failed",
                            moment,
                            properties={"reason": reason, "retries": "exhausted"},
                        )
                    ],
                )
            return new_status

        status = self.db.write(work)
        if status == "queued":
            self._notify()
        return status

    def orphans(
        self, *, expired_only: bool = False, send_ids: Sequence[str] | None = None
    ) -> list[tuple[Send, bool]]:
        """Sends left ``sending`` (the process died, their lease ran out, or — ``send_ids`` —
        their step failed): each with whether its attempt was handed over."""
        self.absorb_journal()
        now = datetime.now(UTC)
        with self.db.read() as cur:
            if send_ids is None:
                rows = cur.execute(ORPHANS_SQL, [expired_only, now]).fetchall()
            else:
                rows = _sending_by_id(cur, send_ids, expired_only, now)
            handed = _handed(cur, [str(row[0]) for row in rows])
        return [(_send(row), (str(row[0]), int(row[12])) in handed) for row in rows]

    # --- reading (the delivery log: log.py) -----------------------------------------------

    def get(self, workspace_id: str, send_id: str) -> dict[str, Any] | None:
        """One send of this workspace with its message events, oldest first."""
        return log.get_send(self.db, workspace_id, send_id)

    def list(self, workspace_id: str, **filters: Any) -> dict[str, Any]:
        """The delivery log, newest first (``log.list_sends``)."""
        return log.list_sends(self.db, workspace_id, **filters)


def _insert(conn: Any, table: pa.Table) -> set[str]:
    """Insert the sends not yet in the ledger; the ids inserted. The ones already there are
    found by key (index scans), not by an anti-join that read every send id."""
    ids = table.column("send_id").to_pylist()
    known = _known(conn, ids)
    if known:
        table = table.filter(pc.invert(pc.is_in(table.column("send_id"), pa.array(list(known)))))
    if table.num_rows:
        conn.register("_new_sends", table)
        try:
            conn.execute(INSERT_SQL)
        finally:
            conn.unregister("_new_sends")
    return {str(i) for i in ids} - known


def _known(cur: Any, send_ids: Sequence[str]) -> set[str]:
    """Those of ``send_ids`` in the ledger (index scans, :data:`KEYS` at a time)."""
    return {
        str(row[0])
        for part in chunks(send_ids)
        for row in cur.execute(KNOWN_SQL.format(keys=keys(len(part))), list(part)).fetchall()
    }


def _new_sends(
    sends: Sequence[NewSend],
    *,
    key: str | None = None,
    request_hash: str | None = None,
    answer: Mapping[str, Any] | None = None,
) -> pa.Table:
    now = datetime.now(UTC)
    return pa.table(
        {
            "send_id": [s.send_id for s in sends],
            "workspace_id": [s.workspace_id for s in sends],
            "idempotency_key": [key] * len(sends),
            "request_hash": [request_hash] * len(sends),
            "response": [orjson.dumps(answer).decode() if answer else None] * len(sends),
            "contact_id": [s.contact_id for s in sends],
            "channel": [s.cascade[0] for s in sends],
            "cascade": [orjson.dumps(list(s.cascade)).decode() for s in sends],
            "message_id": [s.message_id for s in sends],
            "category": [s.category for s in sends],
            "topic": [s.topic for s in sends],
            "campaign_id": [s.campaign_id for s in sends],
            "language": [s.language for s in sends],
            "data": [orjson.dumps(dict(s.data)).decode() for s in sends],
            "status": ["queued"] * len(sends),
            "next_attempt_at": [s.not_before or now for s in sends],
            "created_at": [now] * len(sends),
        },
        schema=NEW_SENDS,
    )


def _queued(new: NewSend) -> MessageEvent:
    ctx = SendContext(
        new.workspace_id,
        new.contact_id,
        new.send_id,
        new.cascade[0],
        new.campaign_id,
        new.message_id,
    )
    return MessageEvent(ctx, "queued", datetime.now(UTC))


def _settle_table(settlements: Sequence[Settlement]) -> pa.Table:
    return pa.table(
        {
            "send_id": [s.send_id for s in settlements],
            "status": [s.status for s in settlements],
            "channel": [s.channel for s in settlements],
            "cascade_index": [s.cascade_index for s in settlements],
            "next_attempt_at": [s.next_attempt_at for s in settlements],
            "last_error": [(s.last_error or "")[:1000] or None for s in settlements],
            "remote_id": [s.remote_id for s in settlements],
            "versions_used": [
                orjson.dumps(dict(s.versions_used)).decode()
                if s.versions_used is not None
                else None
                for s in settlements
            ],
            "message_revision": [s.message_revision for s in settlements],
            "attempts": [s.attempts for s in settlements],
        },
        schema=SETTLE,
    )


def _sending_by_id(
    cur: Any, send_ids: Sequence[str], expired_only: bool, now: datetime
) -> list[tuple[Any, ...]]:
    """Those of ``send_ids`` left ``sending`` (by key; their state is tested here, since a
    scan filter in the statement would undo the index scan), in send id order."""
    rows = [
        row[:13]
        for part in chunks(list(send_ids))
        for row in cur.execute(SENDS_BY_ID_SQL.format(keys=keys(len(part))), part).fetchall()
        if row[13] == "sending" and (not expired_only or _before(row[14], now))
    ]
    return sorted(rows, key=lambda row: str(row[0]))


def _handed(cur: Any, send_ids: Sequence[str]) -> set[tuple[str, int]]:
    """The ``(send_id, attempt)`` hand-over records of these sends (index scans)."""
    return {
        (str(send_id), int(attempt))
        for part in chunks(send_ids)
        for send_id, attempt in cur.execute(
            HANDED_SQL.format(keys=keys(len(part))), list(part)
        ).fetchall()
    }


def _before(lease_until: datetime | None, now: datetime) -> bool:
    """SQL's ``lease_until < now``: a send without a lease has not run out of one."""
    return lease_until is not None and lease_until < now


def _send(row: Sequence[Any]) -> Send:
    (
        send_id,
        workspace_id,
        contact_id,
        channel,
        cascade,
        index,
        message_id,
        category,
        topic,
        campaign_id,
        language,
        data,
        attempts,
    ) = row
    return Send(
        str(send_id),
        str(workspace_id),
        int(contact_id),
        str(channel),
        tuple(orjson.loads(cascade)),
        int(index),
        str(message_id),
        str(category),
        topic,
        campaign_id,
        language,
        orjson.loads(data) if data else {},
        int(attempts),
    )
