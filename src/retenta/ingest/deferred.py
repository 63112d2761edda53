"""The appliers' work behind the acknowledgement, batched across units.

Commerce's ``apply`` costs the writer about the same whatever a unit holds (32 ms of CPU at
250 events, 33 at 1,000, 51 at 2,500; ``docs/ingest.md``, session 16): at the ~250-event
units of many single-event clients it was 40% of the writer. So while clients are many, an
ingest unit stores its events and only *notes* them here — in memory, and durably in
``commerce_pending`` (migration 0049), in the same transaction — and one unit applies
everything noted every ``every_s`` or as soon as no request waits. A quiet server (one
client, every test that ingests and then reads) still applies in the acknowledging unit:
the pipeline decides per unit (``IngestPipeline``).

The noted messages live on the writer thread: a unit's notes join ``pending`` when it
commits and are forgotten when it rolls back (the database's outcome listeners), and an
applying unit takes them off the same way. A process that dies with notes left applies
them at the next start, from the stored events (``recover``). An apply that fails is
retried in halves; a single event that still fails is logged and left as a dead letter
(its event is stored; only what commerce derives from it is missing). Replaying that
letter applies the stored event again (``IngestPipeline.reapply``), say after an upgrade
that fixed what refused it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from retenta.core.messages import Message
from retenta.ingest.deadletters import DeadLetter, insert_dead_letters
from retenta.storage.duckdb.tier_members import EVENT_TABLES

log = logging.getLogger(__name__)

Apply = Callable[[Any, list[Message]], None]
APPLY_ENDPOINT = "apply"  # the endpoint its dead letters name: the event is stored
APPLY_EVERY_S = 0.75  # the most a busy server's carts and orders trail its events
_TIERS = EVENT_TABLES
_COLUMNS = ("workspace_id, message_id, type, timestamp, received_at, event, user_id,"
            " anonymous_id, original_timestamp, sent_at, properties, traits, context, source,"
            " contact_id")  # fmt: skip
_STORED = " UNION ALL ".join(f"SELECT {_COLUMNS} FROM {tier}" for tier in _TIERS)


class DeferredApply:
    """Messages stored and acknowledged whose appliers have not run yet (module doc)."""

    def __init__(self, apply: Apply, *, every_s: float = APPLY_EVERY_S) -> None:
        self.apply = apply
        self.every_s = every_s
        self.pending: list[Message] = []  # committed, not applied: the writer thread's
        self._noted: list[Message] | None = None  # by the running unit
        self._taken = 0  # the prefix of ``pending`` the running unit applied
        self._dropped = 0  # … or left as a dead letter
        self.noted_total = 0  # messages noted by committed units, ever (reads wait on these)
        self.settled_total = 0  # … of which applied or left as a dead letter, ever

    def __len__(self) -> int:
        return len(self.pending)

    # -- inside units of work (the writer thread) -------------------------------------

    def note(self, conn: Any, messages: Sequence[Message]) -> None:
        """Remember stored messages for a later apply (durably, in this transaction)."""
        if not messages:
            return
        _with_keys(conn, "INSERT INTO commerce_pending SELECT * FROM _pending_keys", messages)
        self._noted = [*(self._noted or []), *messages]

    def apply_first(self, conn: Any, count: int) -> list[Message]:
        """Apply the ``count`` oldest pending messages and forget their notes."""
        batch = self.pending[:count]
        self.apply(conn, batch)
        _forget(conn, batch)
        self._taken = len(batch)
        return batch

    def apply_with(self, conn: Any, messages: Sequence[Message]) -> None:
        """Apply every pending message, then ``messages`` (a unit that applies its own:
        what was noted before it goes first), as one apply."""
        batch = self.pending
        self.apply(conn, [*batch, *messages])
        if batch:
            _forget(conn, batch)
        self._taken = len(batch)

    def drop_first(self, conn: Any, error: BaseException) -> None:
        """The oldest pending message failed alone: a dead letter, and its note forgotten."""
        if not self.pending:  # applied meanwhile by a unit that applies its own
            return
        message = self.pending[0]
        log.error("commerce could not apply %s: %s (a dead letter)", message.message_id, error)
        payload = {  # the event as it was stored, for inspection (its replay re-applies it)
            "messageId": message.message_id, "type": message.type, "event": message.event,
            "userId": message.user_id, "anonymousId": message.anonymous_id,
            "timestamp": message.timestamp.isoformat(), "properties": message.properties,
        }  # fmt: skip
        reason = [{"field": "event", "reason": f"not applied: {error}"[:500]}]
        now = datetime.now(UTC)
        letter = DeadLetter(message.workspace_id, now, APPLY_ENDPOINT, payload, reason)
        insert_dead_letters(conn, [letter])
        _forget(conn, [message])
        self._dropped = 1

    def settle(self, committed: bool) -> None:
        """The running unit's outcome (a database outcome listener)."""
        if committed:
            del self.pending[: self._taken + self._dropped]
            self.settled_total += self._taken + self._dropped
            if self._noted:
                self.pending += self._noted
                self.noted_total += len(self._noted)
        self._noted, self._taken, self._dropped = None, 0, 0

    def recover(self, conn: Any) -> int:
        """At start: the messages a previous process noted and never applied, read back from
        the stored events (in the notes' order)."""
        if self.pending:
            return 0
        found = conn.execute(
            f"SELECT e.* FROM (SELECT *, rowid AS n FROM commerce_pending) p JOIN ({_STORED}) e"
            " ON e.workspace_id = p.workspace_id AND e.message_id = p.message_id ORDER BY p.n"
        ).fetchall()
        self.pending = [_message(row) for row in found]
        self.noted_total += len(self.pending)
        return len(self.pending)


def stored_message(conn: Any, workspace_id: str, message_id: str) -> Message | None:
    """The stored event with this key, as the appliers take it (None: not stored, or erased
    since)."""
    found = conn.execute(
        f"SELECT * FROM ({_STORED}) WHERE workspace_id = ? AND message_id = ? LIMIT 1",
        [workspace_id, message_id],
    ).fetchone()
    return _message(found) if found is not None else None


def _forget(conn: Any, messages: Sequence[Message]) -> None:
    _with_keys(
        conn,
        "DELETE FROM commerce_pending p USING _pending_keys k"
        " WHERE p.workspace_id = k.workspace_id AND p.message_id = k.message_id",
        messages,
    )


def _with_keys(conn: Any, sql: str, messages: Sequence[Message]) -> None:
    """Run ``sql``, which reads the messages' keys as ``_pending_keys`` (DuckDB finds the
    Arrow table among this frame's locals: nothing is left registered if it fails)."""
    _pending_keys = pa.table(
        {
            "workspace_id": pa.array([m.workspace_id for m in messages], pa.string()),
            "message_id": pa.array([m.message_id for m in messages], pa.string()),
        }
    )
    conn.execute(sql)


def _message(row: Sequence[Any]) -> Message:
    (ws, message_id, kind, timestamp, received_at, event, user_id, anonymous_id, original,
     sent_at, properties, traits, context, source, contact_id) = row  # fmt: skip
    return Message(
        ws, message_id, kind, timestamp, received_at, event=event, user_id=user_id,
        anonymous_id=anonymous_id, original_timestamp=original, sent_at=sent_at,
        properties=_json(properties), traits=_json(traits), context=_json(context),
        source=source, contact_id=contact_id,
    )  # fmt: skip


def _json(text: str | None) -> dict[str, Any]:
    found = orjson.loads(text) if text else {}
    return found if isinstance(found, dict) else {}
