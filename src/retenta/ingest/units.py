"""What a request and a unit of ingestion work hold, and what is done to them outside the
writer: preparing (dedup hashes, the events' Arrow columns), merging into one unit,
answering, and the unit as an intake-journal record (``journal.py``) and back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import attrgetter

import numpy as np
import pyarrow as pa

from retenta.core.messages import Message
from retenta.errors import ApiError
from retenta.ingest.deadletters import DeadLetter
from retenta.ingest.dedup import Key, hash_keys
from retenta.ingest.wire import decode_unit, encode_unit
from retenta.storage.duckdb.events import messages_to_base

log = logging.getLogger(__name__)
_CONTACT_ID = attrgetter("contact_id")
MAX_GROUP_EVENTS = 50_000


@dataclass(frozen=True)
class IngestOutcome:
    stored: int
    duplicates: int
    dropped: int
    # False: answered once journaled, before the writer counted anything (all three are 0)
    applied: bool = True


JOURNALED = IngestOutcome(stored=0, duplicates=0, dropped=0, applied=False)


@dataclass
class PendingRequest:
    """One caller's share of a group: its messages, its dead letters, its future."""

    messages: Sequence[Message]
    dead_letters: Sequence[DeadLetter] = ()
    waiter: asyncio.Future[IngestOutcome] | None = None
    outcome: IngestOutcome | None = field(default=None)
    early: bool = False  # answered once journaled (``ingest/journal.py``)


@dataclass
class Unit:
    """Requests prepared for the writer outside it: their keys, hashes and Arrow columns."""

    requests: list[PendingRequest]
    messages: list[Message]
    keys: list[Key]
    hashes: np.ndarray
    base: pa.Table
    defer: bool = False  # its appliers' work noted for a later unit (``ingest/deferred.py``)
    journal_seq: int = 0  # the last intake-journal record it holds (0: none)
    encoded: bytes | None = None  # its journal record's payload, as a worker sent it
    # what the writer made of it, counted into ``IngestStats`` once its COMMIT has ended (a
    # unit rolled back and retried in halves is counted once, by its halves)
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def events(self) -> int:
        return len(self.messages)


def prepare(requests: list[PendingRequest]) -> Unit:
    """Everything of a unit that needs no database: done before the writer's turn."""
    messages = [m for req in requests for m in req.messages]
    keys: list[Key] = [(m.workspace_id, m.message_id) for m in messages]
    return Unit(requests, messages, keys, hash_keys(keys), messages_to_base(messages))


def merge(units: Sequence[Unit]) -> Unit:
    """One unit of several prepared ones, in order. Its columns are made contiguous here,
    in the event loop: DuckDB's scan of a table of one chunk costs the writer about a third
    less than of the 256-event chunks it was prepared in (1.35 against 2.01 µs an event of
    process CPU for a 2,000-event append; the copy costs 0.1 µs an event)."""
    if len(units) == 1:
        return units[0]
    return Unit(
        [r for u in units for r in u.requests],
        [m for u in units for m in u.messages],
        [k for u in units for k in u.keys],
        np.concatenate([u.hashes for u in units]),
        contiguous(pa.concat_tables([u.base for u in units])),
        journal_seq=max(u.journal_seq for u in units),
    )


def contiguous(table: pa.Table) -> pa.Table:
    """``table`` in one chunk; as it is when a string column would pass Arrow's 2 GB of
    32-bit offsets (a unit of 50,000 events at a raised ``ingest_max_event_bytes``): this
    runs in the group-commit loop, which must never raise."""
    try:
        return table.combine_chunks()
    except (pa.ArrowInvalid, pa.ArrowCapacityError):
        return table


def take_units(ready: list[Unit]) -> tuple[Unit, list[Unit]]:
    """The prepared units that fit in one group (at least one), merged; and the rest."""
    events, n = 0, 0
    while n < len(ready) and (n == 0 or events + ready[n].events <= MAX_GROUP_EVENTS):
        events += ready[n].events
        n += 1
    return merge(ready[:n]), ready[n:]


def take_units_or_one(ready: list[Unit]) -> tuple[Unit, list[Unit]]:
    """``take_units``; if merging fails, the first prepared unit alone (a unit is never
    merged with nothing, so that cannot fail): the loop itself must never die."""
    try:
        return take_units(ready)
    except Exception:
        log.exception("could not merge %d prepared ingest units; committing them apart", len(ready))
        return ready[0], ready[1:]


def prepare_or_fail(req: PendingRequest) -> Unit | None:
    try:
        return prepare([req])
    except Exception as exc:
        log.exception("could not prepare an ingest request of %d events", len(req.messages))
        settle_request(req, exc)
        return None


def encode_units(units: Sequence[Unit]) -> list[bytes]:
    """Each unit as an intake-journal record (``wire.encode_unit``)."""
    return [
        u.encoded
        or encode_unit([(r.messages, r.dead_letters) for r in u.requests], u.hashes, u.base)
        for u in units
    ]


def journaled_unit(seq: int, payload: bytes) -> Unit | None:
    """A journal record as a unit again, its requests answered long ago (``early``)."""
    try:
        decoded = decode_unit(payload)
    except Exception:  # intact by its checksum, yet unreadable: kept in the file, logged
        log.exception("intake-journal record #%d cannot be decoded; skipped", seq)
        return None
    requests = [PendingRequest(m, d, early=True) for m, d in decoded.requests]
    unit = prepared_unit(requests, decoded.hashes, decoded.base)
    unit.journal_seq = seq
    return unit


def journal_letter(m: Message, exc: BaseException) -> DeadLetter:
    """A journaled event the writer could not store, as a dead letter its replay stores
    (the payload of its type's endpoint, its clock already corrected)."""
    payload = {
        "type": m.type, "messageId": m.message_id, "event": m.event, "userId": m.user_id,
        "anonymousId": m.anonymous_id, "previousId": m.previous_id, "groupId": m.group_id,
        "timestamp": m.timestamp.isoformat(), "properties": m.properties,
        "traits": m.traits, "context": m.context,
    }  # fmt: skip
    payload = {k: v for k, v in payload.items() if v is not None}
    reason = [{"field": "event", "reason": f"not stored: {exc}"[:500]}]
    return DeadLetter(m.workspace_id, m.received_at, m.type, payload, reason)


def touched_contacts(messages: Sequence[Message]) -> dict[str, list[int]]:
    """Stored messages' contacts by workspace (duplicates and dropped ones have none)."""
    touched: dict[str, set[int]] = {}
    for m in messages:
        if m.contact_id is not None and m.dropped is None:
            touched.setdefault(m.workspace_id, set()).add(m.contact_id)
    return {ws: sorted(ids) for ws, ids in touched.items()}


def contact_ids_of(stored: Sequence[Message]) -> list[int]:
    ids = list(map(_CONTACT_ID, stored))
    if None in ids:
        raise ValueError(f"message {stored[ids.index(None)].message_id} has no contact")
    return ids


def outcome_of(unit: Unit) -> IngestOutcome:
    outcome = unit.requests[0].outcome
    assert outcome is not None
    return outcome


def count_outcomes(
    group: Sequence[PendingRequest], fresh_mask: list[bool], drops: list[str | None]
) -> dict[str, int]:
    """Set each request's outcome (``drops``: each message's ``dropped``); returns the
    group's totals."""
    totals = {"events": 0, "stored": 0, "duplicates": 0, "dropped": 0}
    simple = all(fresh_mask) and drops.count(None) == len(drops)
    i = 0
    for req in group:
        n = len(req.messages)
        if simple:
            stored, duplicates, dropped = n, 0, 0
        else:
            new, gone = fresh_mask[i : i + n], drops[i : i + n]
            duplicates = new.count(False)
            dropped = sum(1 for f, d in zip(new, gone, strict=True) if f and d is not None)
            stored = n - duplicates - dropped
        i += n
        req.outcome = IngestOutcome(stored=stored, duplicates=duplicates, dropped=dropped)
        totals["events"] += n
        totals["stored"] += stored
        totals["duplicates"] += duplicates
        totals["dropped"] += dropped
    return totals


def settle_request(req: PendingRequest, exc: BaseException | None) -> None:
    waiter = req.waiter
    if waiter is None or waiter.done():
        return
    if exc is not None:
        waiter.set_exception(exc)
    else:
        assert req.outcome is not None
        waiter.set_result(req.outcome)


def prepared_unit(requests: list[PendingRequest], hashes: np.ndarray, base: pa.Table) -> Unit:
    messages = [m for req in requests for m in req.messages]
    keys: list[Key] = [(m.workspace_id, m.message_id) for m in messages]
    if len(hashes) != len(messages) or base.num_rows != len(messages):
        raise ValueError(
            f"a prepared unit of {len(messages)} messages came with {len(hashes)} hashes"
            f" and {base.num_rows} rows"
        )
    return Unit(requests, messages, keys, hashes, base)


def settle_now(req: PendingRequest, store: bool) -> None:
    """A request the loop cannot take: stored as-is when storage is off (the bench bound),
    otherwise refused (the pipeline is not running)."""
    if not store:
        n = len(req.messages)
        req.outcome = IngestOutcome(stored=n, duplicates=0, dropped=0)
        settle_request(req, None)
    else:
        settle_request(
            req, ApiError(503, "unavailable", "ingestion is not running; retry the request")
        )
