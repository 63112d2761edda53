"""Profiles: lookup, 360° view, timeline, consent, erase, export, computed traits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from retenta.contacts import queries as q
from retenta.contacts.consent import record_consent
from retenta.contacts.privacy import erase_person, related_rows
from retenta.contacts.profile_sql import read_profile
from retenta.contacts.schemas import ConsentIn, ContactUpsert
from retenta.contacts.traits import (
    LOOKUP_TYPES,
    SEARCH_TYPES,
    computed_traits,
    consent_state,
    decode_event_cursor,
    decode_id_cursor,
    encode_event_cursor,
    encode_id_cursor,
    looks_like_name,
    order_summary,
)
from retenta.core.messages import Message
from retenta.errors import ApiError, not_found
from retenta.identity.normalize import identifier_hash, normalize, normalize_with_reason
from retenta.settings import IdentitySettings
from retenta.storage.base import Database
from retenta.storage.duckdb.compaction import CompactionPolicy, Compactor, pause_after
from retenta.storage.duckdb.prewarm import DEFAULT_BUDGET_BYTES, prewarm

log = logging.getLogger(__name__)
T = TypeVar("T")
# With nothing to compact, the next step waits for ingestion to commit a unit (a flag looked
# at every ``compaction_idle_s``, no statement) or at most this long (other writers: folds).
COMPACTION_IDLE_MAX_S = 8.0


class IdentityPort(Protocol):
    """What the profile needs from identity resolution."""

    def timeline_contact_ids(self, cur: Any, workspace_id: str, contact_id: int) -> list[int]: ...
    def forget(self, workspace_id: str, contact_ids: Sequence[int]) -> None: ...
    def committed_owner(self, workspace_id: str, id_type: str, normalized: str) -> int | None: ...
    def owner_at_start(self, workspace_id: str, id_type: str, normalized: str) -> int | None: ...


class IngestPort(Protocol):
    async def ingest(self, messages: Sequence[Message]) -> Any: ...

    def notify_changed(self, workspace_id: str, contact_ids: Sequence[int]) -> None: ...

    def apply_noted(self, conn: Any) -> None: ...


class ContactService:
    def __init__(
        self,
        *,
        db: Database,
        identity: IdentityPort,
        ingest: IngestPort | None = None,
        identity_settings: IdentitySettings | None = None,
        compaction: CompactionPolicy | None = None,
        compaction_idle_s: float = 1.0,
        prewarm_budget_bytes: int = DEFAULT_BUDGET_BYTES,
    ) -> None:
        self.db = db
        self.identity = identity
        self.ingest = ingest
        self.identity_settings = identity_settings or IdentitySettings()
        self.compactor = Compactor(compaction)
        self.compaction_idle_s = compaction_idle_s
        self.prewarm_budget_bytes = prewarm_budget_bytes
        self.prewarmed: list[tuple[str, int]] = []
        self._task: asyncio.Task[None] | None = None
        self._prewarm_task: asyncio.Task[None] | None = None
        self._listening = False  # told of ingested units (``committed``)
        self._ingested = False  # a unit committed since the last compaction step began

    # --- background compaction -----------------------------------------------------------

    async def start(self) -> None:
        """Start background work (event compaction)."""
        add_listener = getattr(self.ingest, "add_listener", None)
        if add_listener is not None and not self._listening:
            add_listener(self)  # ``committed`` after each unit: compaction steps again
            self._listening = True
        if self._task is None:
            self._task = asyncio.create_task(self._compact_forever(), name="event-compaction")
        if self._prewarm_task is None and self.prewarm_budget_bytes > 0:
            self._prewarm_task = asyncio.create_task(
                asyncio.to_thread(self.prewarm), name="point-read-prewarm"
            )

    async def stop(self) -> None:
        """Stop background work; a step in flight finishes (it is one transaction), and so
        does the prewarm (a bounded scan in a thread: it cannot be cancelled)."""
        warming, self._prewarm_task = self._prewarm_task, None
        if warming is not None:
            with contextlib.suppress(Exception):
                await warming
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def prewarm(self) -> None:
        """Load the point reads' tables into the buffer pool, within the budget (a server
        does it at start, in a thread; ``storage/duckdb/prewarm``)."""
        try:
            with self.db.read() as cur:
                self.prewarmed = prewarm(cur, budget_bytes=self.prewarm_budget_bytes)
        except Exception:  # only a warm-up: the reads work without it
            log.exception("prewarming the point reads' tables failed")

    def committed(self, workspace_id: str, contact_ids: Sequence[int]) -> None:
        """Ingestion committed a unit (commit listener; any thread): step again soon."""
        self._ingested = True

    async def _compact_forever(self) -> None:
        while True:
            self._ingested = False  # a unit committed from here on is seen by the next wait
            try:
                action, took = await self.db.awrite(self.compactor.timed_step)
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed step rolled back whole; try again later
                log.exception("event compaction step failed")
                action, took = None, 0.0
            self.compactor.record(action, took)
            if action:  # between busy steps, leave the writer to ingestion for a while
                policy = self.compactor.policy
                await asyncio.sleep(pause_after(action, took, ingesting=self._ingested,
                                                policy=policy))  # fmt: skip
            else:
                await self._idle_wait()

    async def _idle_wait(self) -> None:
        """After a step with nothing to do: until a unit was ingested (looked at every
        ``compaction_idle_s``) or ``COMPACTION_IDLE_MAX_S`` passed. Without a pipeline to
        listen to, one ``compaction_idle_s``."""
        waited = 0.0
        while True:
            await asyncio.sleep(self.compaction_idle_s)
            waited += self.compaction_idle_s
            if not self._listening or self._ingested or waited >= COMPACTION_IDLE_MAX_S:
                return

    # --- reads -----------------------------------------------------------------------------

    def search(
        self, *, workspace_id: str, query: str | None, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        """Live contacts newest first; ``query``: an exact identifier or an email/name prefix."""
        before = decode_id_cursor(cursor) if cursor else None
        with self.db.read() as cur:
            if query and query.strip():
                ids = self._matching_ids(cur, workspace_id, query.strip(), before, limit + 1)
            else:
                ids = q.page_of_ids(cur, workspace_id, before=before, limit=limit + 1)
            items = q.list_rows(cur, workspace_id, ids[:limit])
        next_cursor = encode_id_cursor(ids[limit - 1]) if len(ids) > limit else None
        return {"items": items, "next_cursor": next_cursor}

    def _matching_ids(
        self, cur: Any, workspace_id: str, text: str, before: int | None, limit: int
    ) -> list[int]:
        """Exact identifier matches (index probes) when there are any, else prefix matches."""
        normalized = ((t, normalize(t, text, self.identity_settings)) for t in SEARCH_TYPES)
        wanted = [(t, value) for t, value in normalized if value]
        held = q.holders_of(cur, workspace_id, wanted)  # one statement for every type
        live = (q.live_contact_id(cur, workspace_id, cid) for cid in held)
        exact = {cid for cid in live if cid is not None}
        if exact:
            return sorted((i for i in exact if before is None or i < before), reverse=True)
        names = looks_like_name(text)
        return q.prefix_ids(cur, workspace_id, text, names=names, before=before, limit=limit)

    def lookup(self, *, workspace_id: str, id_type: str, value: str) -> dict[str, Any]:
        """The profile of the contact holding an identifier (422 if it is not a valid one)."""
        if id_type not in LOOKUP_TYPES:
            raise ApiError(
                422, "validation_error", f"unknown identifier type {id_type}", field=id_type
            )
        normalized, reason = normalize_with_reason(id_type, value, self.identity_settings)
        if normalized is None:
            raise ApiError(422, "validation_error", f"{id_type}: {reason}", field=id_type)
        found = self.identity.committed_owner(workspace_id, id_type, normalized)
        if found is None:
            candidate = self.identity.owner_at_start(workspace_id, id_type, normalized)
            if candidate is not None:
                held = self._profile_holding(workspace_id, candidate, id_type, normalized)
                if held is not None:
                    return held
            with self.db.read() as cur:  # one index probe; the profile follows merges itself
                found = q.holder_of(cur, workspace_id, id_type, normalized)
        if found is None:
            raise not_found("contact")
        return self.profile(workspace_id=workspace_id, contact_id=found)

    def _profile_holding(
        self, workspace_id: str, contact_id: int, id_type: str, normalized: str
    ) -> dict[str, Any] | None:
        """The profile of ``contact_id`` (or of the contact it was merged into) if it holds
        the identifier, else None: then the identifier is elsewhere, or nowhere."""
        try:
            found = self.profile(workspace_id=workspace_id, contact_id=contact_id)
        except ApiError as exc:
            if exc.status != 404:
                raise
            return None
        held = any(i["type"] == id_type and i["value"] == normalized for i in found["identifiers"])
        return found if held else None

    def find(self, *, workspace_id: str, id_type: str, value: str) -> int | None:
        """The live contact id holding an identifier (normalized here), or None."""
        with self.db.read() as cur:
            return self._find(cur, workspace_id, id_type, value)

    def _live_ids(self, cur: Any, workspace_id: str, contact_id: int) -> tuple[int, list[int]]:
        """The live contact for ``contact_id`` and every contact merged into it."""
        exists, merged_into, merged_in = q.liveness(cur, workspace_id, contact_id)
        if exists and merged_into is None and not merged_in:
            return contact_id, [contact_id]  # the common case: one statement
        live = q.live_contact_id(cur, workspace_id, contact_id) if exists else None
        if live is None:
            raise not_found("contact")
        if not q.has_merged_in(cur, workspace_id, live):
            return live, [live]
        ids = self.identity.timeline_contact_ids(cur, workspace_id, live)
        return live, [live, *sorted(i for i in set(ids) if i != live)]

    def profile(self, *, workspace_id: str, contact_id: int) -> dict[str, Any]:
        """The 360° profile; a merged-away id answers with the contact it was merged into."""
        with self.db.read() as cur:
            found = read_profile(
                cur,
                workspace_id,
                contact_id,
                self.identity.timeline_contact_ids,
                self.db.read_together,
                self.db.probe_event_tiers,
            )
        if found is None:
            raise not_found("contact")
        figures, bought = order_summary(found.orders, found.lines)
        return {
            **found.head.row,
            "identifiers": found.identifiers,
            "consents": {"current": consent_state(found.consents), "history": found.consents},
            "traits": computed_traits(figures, bought, found.viewed, found.last_activity),
            "merged_from": found.ids[1:],
        }

    def timeline(
        self, *, workspace_id: str, contact_id: int, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        """Events of the contact and everything merged into it, newest first."""
        before = decode_event_cursor(cursor) if cursor else None
        with self.db.read() as cur:
            items = None
            if before is None:  # the common first page: the live check in the same statement
                items = self._checked_read(
                    [contact_id],
                    lambda skip: q.live_first_page(
                        cur,
                        workspace_id,
                        contact_id,
                        limit=limit + 1,
                        skip=skip,
                        together=self.db.read_together,
                    ),
                )
            if items is None:
                _, ids = self._live_ids(cur, workspace_id, contact_id)
                items = self._checked_read(
                    ids,
                    lambda skip: q.timeline(
                        cur, workspace_id, ids, limit=limit + 1, before=before, skip=skip
                    ),
                )
        last = items[limit - 1] if len(items) > limit else None
        next_cursor = encode_event_cursor(last["timestamp"], last["message_id"]) if last else None
        return {"items": items[:limit], "next_cursor": next_cursor}

    def _checked_read(self, contact_ids: list[int], read: Callable[[frozenset[str]], T]) -> T:
        """``read`` skipping the event tiers that cannot hold ``contact_ids``; again with
        every tier if a unit committed meanwhile (``Database.probe_event_tiers``)."""
        probe = self.db.probe_event_tiers(contact_ids)
        found = read(probe.absent)
        if probe.absent and not probe.held():
            return read(frozenset())
        return found

    def export(self, *, workspace_id: str, contact_id: int) -> dict[str, Any]:
        """Everything stored about the person, as one JSON document."""
        profile = self.profile(workspace_id=workspace_id, contact_id=contact_id)
        with self.db.read() as cur:
            ids = [profile["id"], *profile["merged_from"]]
            events = q.timeline(cur, workspace_id, ids, limit=2**62)
            related = related_rows(cur, workspace_id, ids)
        return {
            "exported_at": datetime.now(UTC),
            "workspace_id": workspace_id,
            "contact": profile,
            "events": events,
            "related": related,
        }

    # --- writes ----------------------------------------------------------------------------

    async def upsert(
        self, *, workspace_id: str, body: ContactUpsert
    ) -> tuple[dict[str, Any], bool]:
        """Create or update the contact the identifiers name; returns ``(profile, created)``."""
        given = self._normalized_identifiers(body)
        _check_timezone(body.timezone)
        existing = self._first_known(workspace_id, given)
        message = upsert_message(workspace_id, body)
        if self.ingest is None:
            raise RuntimeError("ContactService was built without an ingest pipeline")
        await self.ingest.ingest([message])
        if message.dropped:
            raise ApiError(409, "suppressed", f"contact not stored: {message.dropped}")
        contact_id = message.contact_id or self._first_known(workspace_id, given)
        if contact_id is None:
            raise ApiError(409, "not_stored", "the contact was not stored (see dead letters)")
        await self.db.awrite(lambda c: _apply_explicit(c, workspace_id, contact_id, body))
        self._changed(workspace_id, [contact_id])
        return self.profile(workspace_id=workspace_id, contact_id=contact_id), existing is None

    def _normalized_identifiers(self, body: ContactUpsert) -> dict[str, str]:
        given = body.identifiers.given()
        if not given and not body.identifiers.custom:
            raise ApiError(
                422, "validation_error", "at least one identifier is required", field="identifiers"
            )
        out = {}
        for id_type, raw in given.items():
            value, reason = normalize_with_reason(id_type, raw, self.identity_settings)
            if value is None:
                msg = f"identifiers.{id_type}: {reason}"
                raise ApiError(422, "validation_error", msg, field=f"identifiers.{id_type}")
            out[id_type] = value
        return out

    def _first_known(self, workspace_id: str, given: Mapping[str, str]) -> int | None:
        with self.db.read() as cur:
            for id_type, value in given.items():
                found = q.find_contact(cur, workspace_id, id_type, value)
                if found is not None:
                    return found
        return None

    def _find(self, cur: Any, workspace_id: str, id_type: str, raw: str) -> int | None:
        """The contact holding ``raw`` as an identifier of this type, once normalized."""
        value = normalize(id_type, raw, self.identity_settings)
        return q.find_contact(cur, workspace_id, id_type, value) if value else None

    def record_consent(self, conn: Any, **change: Any) -> None:
        """``consent.record_consent`` for callers holding the service (inside a writer unit)."""
        record_consent(conn, **change)

    async def change_consent(
        self, *, workspace_id: str, contact_id: int, consent: ConsentIn
    ) -> dict[str, Any]:
        """Record one consent change; returns the contact's consent state and history."""

        def work(conn: Any) -> int:
            live, _ = self._live_ids(conn, workspace_id, contact_id)
            record_consent(
                conn, workspace_id=workspace_id, contact_id=live, **_consent_args(consent)
            )
            return live

        live = await self.db.awrite(work)
        self._changed(workspace_id, [live])
        with self.db.read() as cur:
            _, ids = self._live_ids(cur, workspace_id, live)
            history = q.consent_history(cur, workspace_id, ids)
        return {"contact_id": live, "current": consent_state(history), "history": history}

    async def erase(
        self, *, workspace_id: str, contact_id: int, requested_by: str
    ) -> dict[str, Any]:
        """GDPR erasure of the person (all contacts merged together), in one transaction."""

        erased: list[int] = []

        def work(conn: Any) -> dict[str, Any]:
            if self.ingest is not None:  # their events noted for commerce: applied, then erased
                self.ingest.apply_noted(conn)
            _, ids = self._live_ids(conn, workspace_id, contact_id)
            erased.extend(ids)
            result = erase_person(
                conn,
                workspace_id=workspace_id,
                ids=ids,
                requested_by=requested_by,
                hash_identifier=self._hash_identifier,
            )
            self.identity.forget(workspace_id, ids)
            return result

        result = await self.db.awrite(work)
        self._changed(workspace_id, erased)
        return result

    def _changed(self, workspace_id: str, contact_ids: list[int]) -> None:
        """Segments re-evaluate contacts changed here as they do after ingested events."""
        if self.ingest is not None and contact_ids:
            self.ingest.notify_changed(workspace_id, contact_ids)

    def _hash_identifier(self, id_type: str, value: str) -> str | None:
        normalized = normalize(id_type, value, self.identity_settings)
        return identifier_hash(id_type, normalized) if normalized is not None else None


def _consent_args(consent: ConsentIn) -> dict[str, Any]:
    return {
        "channel": consent.channel,
        "topic": consent.topic,
        "status": consent.status,
        "source": consent.source,
        "changed_at": consent.changed_at or datetime.now(UTC),
    }


def _check_timezone(name: str | None) -> None:
    if name is None:
        return
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        msg = "timezone: not an IANA time zone name such as 'Europe/Kyiv'"
        raise ApiError(422, "validation_error", msg, field="timezone") from exc


def upsert_message(workspace_id: str, body: ContactUpsert) -> Message:
    """The ``identify`` message an API upsert becomes (so identity rules and policies apply)."""
    ids, now = body.identifiers, datetime.now(UTC)
    traits = {**body.attributes, **body.identifiers.custom}
    traits.update({k: v for k, v in (("email", ids.email), ("phone", ids.phone)) if v})
    context: dict[str, Any] = {"library": {"name": "retenta-api"}}
    if body.language:
        context["locale"] = body.language
    if body.timezone:
        context["timezone"] = body.timezone
    if ids.push_token:
        context["device"] = {"token": ids.push_token}
    return Message(
        workspace_id=workspace_id,
        message_id=f"api-contact-{uuid.uuid4().hex}",
        type="identify",
        timestamp=now,
        received_at=now,
        user_id=ids.external_id or None,
        anonymous_id=ids.anonymous_id or None,
        traits=traits,
        context=context,
        source="api",
    )


def _apply_explicit(conn: Any, workspace_id: str, contact_id: int, body: ContactUpsert) -> None:
    """Language, time zone and consents sent explicitly are recorded as sent."""
    if body.language or body.timezone:
        conn.execute(
            "UPDATE contacts SET language = coalesce(?, language), timezone = coalesce(?, timezone)"
            " WHERE workspace_id = ? AND id = ?",
            [body.language, body.timezone, workspace_id, contact_id],
        )
    for consent in body.consents:
        record_consent(
            conn, workspace_id=workspace_id, contact_id=contact_id, **_consent_args(consent)
        )
