"""The side effects of journey steps (``Step.effects``), each done once per (run, node).

``apply_effects`` runs in one writer unit per runner tick, before the runs are saved: each
effect's row goes into ``journey_effects`` (primary key = the effect id from run and node)
and only the rows that were new are applied — in the same unit, so an effect and its row
commit together. A tick replayed after a crash (effects done, runs not saved) finds the
rows and repeats nothing.

- ``update_contact`` sets/unsets the contact's traits (``contacts.attributes``);
- ``list`` joins or leaves a list or tag (``lists.py``, history in ``contact_lists``);
- ``goal`` records the conversion in ``journey_goals`` (attributed to journey and version);
- ``webhook`` waits ``pending`` for :class:`WebhookEffects`, which calls it through the
  webhook channel (SSRF guard, HMAC signature, ``Idempotency-Key`` = the effect id: a call
  retried after a crash carries the same key) and retries temporary failures with backoff.
  Idle, it reads the next call's due time (no writer unit) and sleeps until then; a tick
  that queues a webhook wakes it (``apply_effects``), and the wait between reads doubles
  from ``interval_s`` to ``idle_max_s`` while nothing is pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson
import pyarrow as pa

from retenta.core.ticking import IdleBackoff, wait_for_wake
from retenta.journeys import lists
from retenta.journeys.steps import Effect, Run, Step
from retenta.messaging.outbox.model import backoff_s
from retenta.storage.base import Database

log = logging.getLogger(__name__)


class Stepped(Protocol):
    """The runner's claimed run (row: run_id, workspace, journey, version, …) and its step."""

    @property
    def row(self) -> Sequence[Any]: ...

    @property
    def run(self) -> Run: ...

    @property
    def step(self) -> Step | None: ...


MAX_WEBHOOK_ATTEMPTS = 6
EFFECT_COLUMNS = ("effect_id", "workspace_id", "journey_id", "run_id", "contact_id",
                  "node_id", "kind", "spec", "status", "next_attempt_at", "created_at",
                  "updated_at")  # fmt: skip
INSERT_SQL = (
    f"INSERT INTO journey_effects ({', '.join(EFFECT_COLUMNS)})"
    f" SELECT {', '.join(EFFECT_COLUMNS)} FROM _new_effects n"
    " WHERE NOT EXISTS (SELECT 1 FROM journey_effects e WHERE e.effect_id = n.effect_id)"
    " RETURNING effect_id"
)


ChangedListener = Callable[[str, list[int]], None]  # (workspace, contact ids), after COMMIT
_LISTENERS: weakref.WeakKeyDictionary[Any, list[ChangedListener]] = weakref.WeakKeyDictionary()


_WEBHOOK_WAKES: weakref.WeakKeyDictionary[Any, list[Callable[[], None]]] = (
    weakref.WeakKeyDictionary()
)


def on_contacts_changed(db: Database, listener: ChangedListener) -> None:
    """Call ``listener`` after effects changed contacts' traits in ``db`` (the segments'
    re-evaluation, the identity cache); wired by ``service.wire``."""
    _LISTENERS.setdefault(db, []).append(listener)


def apply_effects(db: Database, steps: Sequence[Stepped], now: datetime) -> int:
    """Do the steps' effects not done before (one writer unit); how many were new."""
    wanted = [
        (tuple(s.row), s.run, effect)
        for s in steps
        if s.step is not None
        for effect in s.step.effects
    ]
    if not wanted:
        return 0
    changed: dict[str, set[int]] = {}
    done = int(db.write(lambda conn: _apply(conn, wanted, now, changed)))
    if any(effect.kind == "webhook" for _, _, effect in wanted):
        for wake in _WEBHOOK_WAKES.get(db, ()):
            wake()  # after COMMIT: the worker reads the new call as due
    for workspace_id, contact_ids in changed.items():
        for listener in _LISTENERS.get(db, ()):
            try:
                listener(workspace_id, sorted(contact_ids))
            except Exception:  # a listener must not fail the tick (the effects committed)
                log.exception("contacts-changed listener failed")
    return done


def _apply(conn: Any, wanted: list[tuple[tuple[Any, ...], Run, Effect]], now: datetime,
           changed: dict[str, set[int]]) -> int:  # fmt: skip
    rows = [_effect_row(row, run, effect, now) for row, run, effect in wanted]
    conn.register("_new_effects", pa.Table.from_pylist(rows))
    try:
        new = {str(r[0]) for r in conn.execute(INSERT_SQL).fetchall()}
    finally:
        conn.unregister("_new_effects")
    changed.clear()  # a retried unit starts over
    done = 0
    for row, run, effect in wanted:
        if effect.effect_id in new:
            new.discard(effect.effect_id)  # a step naming one effect twice does it once
            _do(conn, row, run, effect, now)
            done += 1
            if effect.kind == "update_contact":
                changed.setdefault(str(row[1]), set()).add(run.contact_id)
    return done


def _effect_row(row: tuple[Any, ...], run: Run, effect: Effect, now: datetime
                ) -> dict[str, Any]:  # fmt: skip
    pending = effect.kind == "webhook"
    return {
        "effect_id": effect.effect_id, "workspace_id": row[1], "journey_id": row[2],
        "run_id": run.run_id, "contact_id": run.contact_id, "node_id": effect.node_id,
        "kind": effect.kind, "spec": orjson.dumps(dict(effect.spec), default=str).decode(),
        "status": "pending" if pending else "done", "next_attempt_at": now if pending else None,
        "created_at": now, "updated_at": now,
    }  # fmt: skip


def _do(conn: Any, row: tuple[Any, ...], run: Run, effect: Effect, now: datetime) -> None:
    workspace_id, journey_id, version = row[1], row[2], row[3]
    spec = effect.spec
    if effect.kind == "update_contact":
        update_traits(conn, workspace_id, run.contact_id, spec.get("set", {}),
                      spec.get("unset", ()), now)  # fmt: skip
    elif effect.kind == "list":
        source = f"journey:{journey_id}:{run.run_id}:{effect.node_id}"
        if spec["action"] == "add":
            lists.join(conn, workspace_id, run.contact_id, spec["kind"], spec["name"],
                       source=source, at=now)  # fmt: skip
        else:
            lists.leave(conn, workspace_id, run.contact_id, spec["kind"], spec["name"], at=now)
    elif effect.kind == "goal":
        record_goal(conn, workspace_id, journey_id, int(version), run.run_id, run.contact_id,
                    effect.node_id, str(spec["goal"]), None, now)  # fmt: skip


def update_traits(conn: Any, workspace_id: str, contact_id: int, values: Mapping[str, Any],
                  unset: Sequence[str], now: datetime) -> bool:  # fmt: skip
    """Writer-side: set and unset traits of a live contact; False when it is gone."""
    row = conn.execute(
        "SELECT attributes FROM contacts WHERE workspace_id = ? AND id = ? AND erased_at IS NULL",
        [workspace_id, contact_id],
    ).fetchone()
    if row is None:
        return False
    attributes = orjson.loads(row[0]) if row[0] else {}
    attributes.update(values)
    for name in unset:
        attributes.pop(name, None)
    conn.execute(
        "UPDATE contacts SET attributes = ?, updated_at = ? WHERE workspace_id = ? AND id = ?",
        [orjson.dumps(attributes, default=str).decode(), now, workspace_id, contact_id],
    )
    return True


def record_goal(conn: Any, workspace_id: str, journey_id: str, version: int, run_id: str,
                contact_id: int, node_id: str, goal: str, event_id: str | None,
                at: datetime) -> None:  # fmt: skip
    """Writer-side: the conversion, once per (run, node)."""
    conn.execute(
        "INSERT INTO journey_goals VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [workspace_id, journey_id, version, run_id, contact_id, node_id, goal, event_id, at],
    )


# --- webhooks -------------------------------------------------------------------------------

CLAIM_SQL = """
UPDATE journey_effects SET status = 'sending', attempts = attempts + 1, lease_until = ?,
       updated_at = ?
WHERE effect_id IN (
    SELECT effect_id FROM journey_effects
    WHERE kind = 'webhook' AND next_attempt_at <= ?
      AND (status = 'pending' OR (status = 'sending' AND lease_until < ?))
    ORDER BY next_attempt_at LIMIT ?)
RETURNING effect_id, workspace_id, spec, attempts
"""
NEXT_SQL = """
SELECT min(CASE WHEN status = 'pending' THEN next_attempt_at ELSE lease_until END)
FROM journey_effects WHERE kind = 'webhook' AND status IN ('pending', 'sending')
"""


class WebhookEffects:
    """A lifecycle service that posts the journeys' pending webhook calls.

    Each call is built with the workspace's webhook channel settings (``default``, else the
    first): their secret signs it, their ``allow_private_targets`` decides the SSRF guard.
    """

    name = "journey-webhooks"

    def __init__(self, db: Database, channel_settings: Any, *, interval_s: float = 0.5,
                 batch: int = 100, lease_s: float = 120.0,
                 idle_max_s: float = 5.0) -> None:  # fmt: skip
        self.db, self.channel_settings = db, channel_settings
        self.interval_s, self.batch, self.lease_s = interval_s, batch, lease_s
        self.idle_max_s = idle_max_s
        self._task: asyncio.Task[None] | None = None
        self._woken: asyncio.Event | None = None
        self._event_loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._event_loop, self._woken = asyncio.get_running_loop(), asyncio.Event()
        _WEBHOOK_WAKES.setdefault(self.db, []).append(self.wake)
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            _WEBHOOK_WAKES.get(self.db, []).remove(self.wake)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """A webhook call was queued (thread-safe; a no-op when not started)."""
        loop, woken = self._event_loop, self._woken
        if loop is not None and woken is not None and not loop.is_closed():
            loop.call_soon_threadsafe(woken.set)

    async def _loop(self) -> None:
        woken_event = self._woken or asyncio.Event()
        backoff = IdleBackoff(self.interval_s, self.idle_max_s)
        while True:
            woken_event.clear()  # a wake during this round ends the next wait at once
            try:
                due_in = await asyncio.to_thread(self._due_in)
                done = await self.tick() if due_in is not None and due_in <= 0 else 0
            except Exception:  # logged; the lease lets the next tick retry
                log.exception("%s tick failed", self.name)
                done, due_in = 0, None
            if done >= self.batch:
                backoff.after(active=True)
                continue
            wait = backoff.current_s
            if due_in is not None and due_in > 0:
                wait = min(wait, due_in)
            woken = await wait_for_wake(woken_event, max(0.01, wait))
            backoff.after(active=bool(done) or woken)

    def _due_in(self) -> float | None:
        """Seconds until the next call is due (<= 0: due now; None: none pending) — a read."""
        now = datetime.now(UTC)
        with self.db.read() as cur:
            row = cur.execute(NEXT_SQL).fetchone()
        nxt = row[0] if row is not None else None
        return None if nxt is None else (nxt - now).total_seconds()

    async def tick(self, now: datetime | None = None) -> int:
        """Post the due calls once; how many were tried."""
        moment = now or datetime.now(UTC)
        lease = moment + timedelta(seconds=self.lease_s)
        claimed = await self.db.awrite(
            lambda c: c.execute(CLAIM_SQL, [lease, moment, moment, moment, self.batch]).fetchall()
        )
        if not claimed:
            return 0
        by_workspace: dict[str, list[tuple[str, dict[str, Any], int]]] = {}
        for effect_id, workspace_id, spec, attempts in claimed:
            by_workspace.setdefault(workspace_id, []).append(
                (effect_id, orjson.loads(spec), int(attempts))
            )
        settled: list[tuple[str, str, datetime | None, str]] = []
        for workspace_id, calls in by_workspace.items():
            settled += await self._post(workspace_id, calls, moment)
        await self.db.awrite(lambda c: _settle(c, settled, moment))
        return len(claimed)

    async def _post(self, workspace_id: str, calls: list[tuple[str, dict[str, Any], int]],
                    now: datetime) -> list[tuple[str, str, datetime | None, str]]:  # fmt: skip
        from retenta.messaging.channels import webhook

        config = await asyncio.to_thread(self._config, workspace_id)
        if config is None:
            why = "no webhook channel settings in this workspace (they hold the signing secret)"
            return [(effect_id, "failed", None, why) for effect_id, _, _ in calls]
        channel = webhook.build(config)
        try:
            made = [webhook.request(effect_id, spec.get("method", "POST"), spec["url"],
                                    spec.get("body"), spec.get("headers", {}))
                    for effect_id, spec, _ in calls]  # fmt: skip
            results = await channel.send(made)
        finally:
            await channel.close()
        attempts = {effect_id: n for effect_id, _, n in calls}
        return [_outcome(r, attempts[r.send_id], now) for r in results]

    def _config(self, workspace_id: str) -> Any:
        stored = self.channel_settings.all(workspace_id, "webhook")
        by_name = {item.name: item.config for item in stored}
        return by_name.get("default") or (stored[0].config if stored else None)


def _outcome(result: Any, attempts: int, now: datetime) -> tuple[str, str, datetime | None, str]:
    """``(effect id, status, next attempt, result)`` for one channel result."""
    from retenta.messaging.channels.base import Outcome

    reason = str(result.reason or result.outcome.value)
    if result.outcome is Outcome.SENT:
        return result.send_id, "done", None, reason
    if result.outcome is Outcome.TEMPORARY and attempts < MAX_WEBHOOK_ATTEMPTS:
        wait = max(backoff_s(attempts, base_s=30.0, cap_s=3600.0),
                   float(getattr(result, "retry_after", None) or 0.0))  # fmt: skip
        return result.send_id, "pending", now + timedelta(seconds=wait), reason
    return result.send_id, "failed", None, reason


def _settle(conn: Any, settled: list[tuple[str, str, datetime | None, str]],
            now: datetime) -> None:  # fmt: skip
    if not settled:
        return
    conn.execute(
        "UPDATE journey_effects e SET status = u.status, next_attempt_at = u.next_at,"
        " result = u.result, lease_until = NULL, updated_at = ?"
        " FROM (SELECT unnest(?::VARCHAR[]) AS effect_id, unnest(?::VARCHAR[]) AS status,"
        " unnest(?::TIMESTAMPTZ[]) AS next_at, unnest(?::VARCHAR[]) AS result) u"
        " WHERE e.effect_id = u.effect_id AND e.status = 'sending'",
        [now, [s[0] for s in settled], [s[1] for s in settled], [s[2] for s in settled],
         [s[3] for s in settled]],
    )  # fmt: skip
