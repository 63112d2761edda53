"""The lifecycle service that starts due campaigns and hands their sends to the ledger.

One tick, for every campaign that is due or sending:
1. **start** a scheduled campaign whose time has come: snapshot its audience (read and
   computed on a read cursor) and insert it while moving the campaign to ``sending`` in ONE
   writer unit (a crash leaves it scheduled, never half-snapshotted);
2. **queue** its recipients due within ``lookahead_s`` in chunks. Each chunk: read the
   recipients not yet queued; skip those whose send id (``snd_c`` + hash(campaign,
   contact)) the ledger already holds; ``SendLedger.enqueue`` the others with
   ``not_before`` = their due time; then mark the chunk queued. A crash between the
   enqueue and the mark replays the chunk, finds its send ids in the ledger, and queues
   nobody twice;
3. **decide** an A/B test whose wait is over (``winner.py``): the rest get the winner;
4. **finish**: every recipient that gets a message is queued → ``sent``.

Pausing stops step 2 (sends already in the ledger, at most ``lookahead_s`` of them, still
go); cancelling ends the campaign.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from retenta.campaigns import snapshot, winner
from retenta.campaigns.store import SELECT as SELECT_CAMPAIGNS
from retenta.campaigns.store import CampaignRow, first, row_of, statement
from retenta.core.ticking import Ticking
from retenta.messaging.outbox.ledger import NewSend, SendLedger
from retenta.storage.base import Database

log = logging.getLogger(__name__)
DUE_SQL = """
SELECT r.contact_id, r.variant, r.send_id, r.send_at FROM campaign_recipients r
WHERE r.workspace_id = ? AND r.campaign_id = ? AND r.queued_at IS NULL
  AND r.variant IS NOT NULL AND r.send_at <= ?
ORDER BY r.send_at, r.contact_id LIMIT ?
"""


class CampaignRunner(Ticking):
    name = "campaign-runner"

    def __init__(
        self,
        db: Database,
        ledger: SendLedger,
        *,
        interval_s: float = 1.0,
        chunk: int = 5_000,
        lookahead_s: float = 60.0,
    ) -> None:
        self.db, self.ledger = db, ledger
        self.interval_s, self.chunk, self.lookahead_s = interval_s, chunk, lookahead_s

    def tick(self, now: datetime | None = None) -> int:
        """Advance every due or sending campaign once; the sends queued."""
        moment = now or datetime.now(UTC)
        queued = 0
        for row in self._active(moment):
            try:
                queued += self._advance(row, moment)
            except Exception:  # one broken campaign must not stop the others
                log.exception("campaign %s failed to advance", row.id)
        return queued

    def _active(self, now: datetime) -> list[CampaignRow]:
        with self.db.read() as cur:
            rows = cur.execute(
                SELECT_CAMPAIGNS + " WHERE status = 'sending'"
                " OR (status = 'scheduled' AND scheduled_at <= ?) ORDER BY scheduled_at, id",
                [now],
            ).fetchall()
        return [row_of(r) for r in rows]

    def _advance(self, row: CampaignRow, now: datetime) -> int:
        if row.status == "scheduled" and not self.begin(row, now):
            return 0
        queued = self.queue_due(row, now)
        ab = row.campaign.ab_test
        if ab is not None and row.decided_at is None:
            ends = self._test_ends(row)
            if ends is not None and ends <= now:
                winner.decide(self.db, row.workspace_id, row.id, row.campaign, now)
                queued += self.queue_due(row, now)
        self._finish_if_done(row, now)
        return queued

    def begin(self, row: CampaignRow, now: datetime) -> bool:
        """Snapshot the audience (read and computed off the writer) and move to ``sending``
        with the rows inserted, in one writer unit."""
        try:
            with self.db.read() as cur:
                table, last_test = snapshot.prepare(cur, row.workspace_id, row.id, row.campaign,
                                                    now)  # fmt: skip
        except snapshot.AudienceError as exc:
            self.db.write(statement(
                "UPDATE campaigns SET status = 'failed', error = ?, updated_at = ?"
                " WHERE workspace_id = ? AND id = ? AND status = 'scheduled'",
                [str(exc), now, row.workspace_id, row.id]))  # fmt: skip
            return False
        ab = row.campaign.ab_test
        ends = None if ab is None else (last_test or now) + ab.wait.delta()

        def work(conn: Any) -> bool:
            status = first(conn.execute("SELECT status FROM campaigns WHERE workspace_id = ?"
                                        " AND id = ?", [row.workspace_id, row.id]))  # fmt: skip
            if status is None or status[0] != "scheduled":
                return False  # cancelled (or started) meanwhile
            snapshot.insert(conn, table)
            conn.execute(
                "UPDATE campaigns SET status = 'sending', started_at = ?, test_ends_at = ?,"
                " updated_at = ? WHERE workspace_id = ? AND id = ?",
                [now, ends, now, row.workspace_id, row.id],
            )
            return True

        return bool(self.db.write(work))

    def queue_due(self, row: CampaignRow, now: datetime) -> int:
        """Hand every recipient due within the lookahead to the ledger, chunk by chunk."""
        horizon = now + timedelta(seconds=self.lookahead_s)
        total = 0
        while True:
            if self._status(row) != "sending":
                return total  # paused or cancelled between chunks
            with self.db.read() as cur:
                due = cur.execute(DUE_SQL, [row.workspace_id, row.id, horizon,
                                            self.chunk]).fetchall()  # fmt: skip
            if not due:
                return total
            total += self.queue_chunk(row, due)

    def queue_chunk(self, row: CampaignRow, due: list[tuple[Any, ...]]) -> int:
        """Enqueue one chunk (skipping send ids already in the ledger), then mark it."""
        with self.db.read() as cur:
            known = {r[0] for r in cur.execute(
                "SELECT send_id FROM sends WHERE send_id IN (SELECT unnest(?::VARCHAR[]))",
                [[d[2] for d in due]]).fetchall()}  # fmt: skip
        fresh = [self._send(row, d) for d in due if d[2] not in known]
        if fresh:
            self.ledger.enqueue(fresh)
        self.db.write(statement(
            "UPDATE campaign_recipients SET queued_at = ? WHERE workspace_id = ? AND"
            " campaign_id = ? AND contact_id IN (SELECT unnest(?::BIGINT[]))",
            [datetime.now(UTC), row.workspace_id, row.id, [int(d[0]) for d in due]]))  # fmt: skip
        return len(fresh)

    def _send(self, row: CampaignRow, due: tuple[Any, ...]) -> NewSend:
        contact_id, variant, send_id, send_at = due
        c = row.campaign
        data = {**c.data, "campaign": {"id": row.id, "name": c.name, "variant": int(variant)}}
        return NewSend(
            workspace_id=row.workspace_id, contact_id=int(contact_id),
            message_id=c.messages[int(variant)], cascade=c.channels, category=c.category,
            campaign_id=row.id, data=data, not_before=send_at, send_id=send_id,
        )  # fmt: skip

    def _status(self, row: CampaignRow) -> str | None:
        with self.db.read() as cur:
            found = first(cur.execute(
                "SELECT status FROM campaigns WHERE workspace_id = ? AND id = ?",
                [row.workspace_id, row.id]))  # fmt: skip
        return None if found is None else str(found[0])

    def _test_ends(self, row: CampaignRow) -> datetime | None:
        with self.db.read() as cur:
            found = first(cur.execute(
                "SELECT test_ends_at FROM campaigns WHERE workspace_id = ? AND id = ?",
                [row.workspace_id, row.id]))  # fmt: skip
        return None if found is None else found[0]

    def _finish_if_done(self, row: CampaignRow, now: datetime) -> None:
        def work(conn: Any) -> None:
            state = first(
                conn.execute(
                    "SELECT c.status,"
                    " c.decided_at IS NOT NULL OR c.definition->>'$.ab_test' IS NULL,"
                    " (SELECT count(*) FROM campaign_recipients r WHERE r.workspace_id ="
                    " c.workspace_id AND r.campaign_id = c.id AND r.queued_at IS NULL AND"
                    " r.grp IN ('send', 'test', 'rest'))"
                    " FROM campaigns c WHERE c.workspace_id = ? AND c.id = ?",
                    [row.workspace_id, row.id],
                )
            )
            if state is not None and state[0] == "sending" and state[1] and state[2] == 0:
                conn.execute("UPDATE campaigns SET status = 'sent', finished_at = ?,"
                             " updated_at = ? WHERE workspace_id = ? AND id = ?",
                             [now, now, row.workspace_id, row.id])  # fmt: skip

        self.db.write(work)
