"""The dispatcher: a lifecycle service that claims due sends and takes each through its step.

Loop: claim a batch (``queued → sending``, committed) → group by workspace and channel →
look up the live contacts and resolve the content → the channel's step (gate, render, hand
over) → settle every send (status + message events, one writer unit). A send whose step is
missing, or that the channel cannot take, moves down its cascade (``decide.py``).

On start, and whenever a lease runs out, sends left ``sending`` are reconciled
(:meth:`Dispatcher.reconcile`): an attempt never handed over is queued again at once; one
that was handed follows its channel's rule (``channels/registry.py``): ``never`` hand it
twice (taken as ``sent``, marked ``unconfirmed``) or hand it again with the same key.

Idle, a round costs one read and no writer turn: ``run_once`` reads the earliest due time of
the queued sends first and claims (a writer unit) only when one is due. Between rounds it
waits for a wake (the ledger calls :meth:`Dispatcher.wake` whenever it queues a send), for
the next send's due time, or for a poll interval that doubles from ``poll_interval_s`` to
``idle_max_s`` while rounds find nothing — the interval is only a safety net, since every
queued send comes through the ledger, which wakes the dispatcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from retenta.core.ticking import IdleBackoff, wait_for_wake
from retenta.messaging.channels.base import Outcome, SendResult
from retenta.messaging.events import MessageEvent
from retenta.messaging.outbox.content import ContentSource, Resolved
from retenta.messaging.outbox.decide import Attempt, held, settle, unavailable
from retenta.messaging.outbox.ledger import Send, SendLedger, Settlement
from retenta.messaging.outbox.recipients import lookup
from retenta.messaging.outbox.steps import Step
from retenta.messaging.outbox.ticks import Tick
from retenta.policy.gate import PolicyGate
from retenta.storage.base import Database

log = logging.getLogger(__name__)
NEXT_DUE_SQL = "SELECT min(next_attempt_at) FROM sends WHERE status = 'queued'"


@dataclass(frozen=True, slots=True)
class DispatchSettings:
    batch_size: int = 500
    poll_interval_s: float = 0.25
    idle_max_s: float = 2.0  # the poll interval doubles up to this while nothing is due
    lease_s: float = 300.0
    # batches in flight at once: while one settles and the next is claimed, looked up and
    # gated, the other keeps the SMTP sessions busy (one round leaves them idle between
    # batches). The claim is one writer unit, so two rounds never take the same send.
    rounds: int = 2


class Dispatcher:
    def __init__(
        self,
        *,
        db: Database,
        ledger: SendLedger,
        content: ContentSource,
        steps: Sequence[Step],
        redeliver: Callable[[str], str] = lambda channel: "never",
        settings: DispatchSettings | None = None,
        policy: PolicyGate | None = None,
        ticks: Sequence[Tick] = (),
    ) -> None:
        self.db = db
        self.ledger = ledger
        self.content = content
        self.steps = {step.channel: step for step in steps}
        self.redeliver = redeliver
        self.settings = settings or DispatchSettings()
        self.policy = policy
        self.ticks = list(ticks)  # periodic work between rounds (ticks.py)
        self._wake = asyncio.Event()
        self._in_flight: set[tuple[str, int]] = set()  # (workspace, contact) being delivered
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_due: datetime | None = None  # the earliest queued send, as last read
        ledger.listeners.append(self.wake)

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.reconcile()
        self._task = asyncio.create_task(self._run(), name="retenta-dispatcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for step in self.steps.values():
            await step.close()

    def wake(self) -> None:
        """New sends are due (thread-safe: the API may call it from a worker thread)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        rounds = max(1, self.settings.rounds)
        await asyncio.gather(*(self._rounds(housekeeping=n == 0) for n in range(rounds)))

    async def _rounds(self, *, housekeeping: bool) -> None:
        """Round after round; one of the loops also runs the ticks and the lease reconcile."""
        last_reconcile = datetime.now(UTC)
        backoff = IdleBackoff(self.settings.poll_interval_s, self.settings.idle_max_s)
        while True:
            self._wake.clear()  # a wake during this round ends the next wait at once
            try:
                handled = await self.run_once()
                if housekeeping:
                    await self.run_ticks()
                    if datetime.now(UTC) - last_reconcile > timedelta(
                        seconds=self.settings.lease_s
                    ):
                        await self.reconcile(expired_only=True)
                        last_reconcile = datetime.now(UTC)
            except Exception:  # keep dispatching; the lease returns what this batch held
                log.exception("dispatch round failed")
                handled = 0
            if handled >= self.settings.batch_size:
                backoff.after(active=True)
                continue
            woken = await self._wait(backoff.current_s)
            backoff.after(active=bool(handled) or woken)

    async def _wait(self, idle_s: float) -> bool:
        """Until a wake, the next queued send's due time or ``idle_s``; whether woken."""
        timeout = idle_s
        if self._next_due is not None:
            until_due = (self._next_due - datetime.now(UTC)).total_seconds()
            timeout = min(timeout, max(0.01, until_due))
        return await wait_for_wake(self._wake, timeout)

    # --- one round ------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim and deliver one batch; the number of sends claimed (no claim, and so no
        writer unit, when a read finds nothing due)."""
        if not await asyncio.to_thread(self._due_now):
            return 0
        claimed = await asyncio.to_thread(
            self.ledger.claim, self.settings.batch_size, lease_s=self.settings.lease_s
        )
        if claimed:
            await self.deliver(claimed)
        return len(claimed)

    def _due_now(self) -> bool:
        """Whether a queued send is due (a read; notes the earliest due time)."""
        now = datetime.now(UTC)
        with self.db.read() as cur:
            row = cur.execute(NEXT_DUE_SQL).fetchone()
        self._next_due = row[0] if row is not None else None
        return self._next_due is not None and self._next_due <= now

    async def run_ticks(self, *, force: bool = False) -> dict[str, object]:
        """The periodic tasks that are due (all of them with ``force``); their results."""
        return {tick.name: await tick(force=force) for tick in self.ticks}

    async def run_until_idle(self, *, max_rounds: int = 1000) -> int:
        """Rounds until nothing is due (tests, the CLI); the number of sends claimed."""
        total = 0
        for _ in range(max_rounds):
            handled = await self.run_once()
            total += handled
            if handled == 0:
                break
        return total

    async def deliver(self, sends: Sequence[Send]) -> None:
        sends, later, contacts = self._take_contacts(sends)
        try:
            await self._deliver(sends, [_later(s, datetime.now(UTC)) for s in later])
        finally:
            self._in_flight.difference_update(contacts)

    def _take_contacts(
        self, sends: Sequence[Send]
    ) -> tuple[list[Send], list[Send], set[tuple[str, int]]]:
        """The sends whose contact has none in flight in another round, the others (they
        wait a second, so the contact policy always sees a contact's earlier send settled
        before it decides on the next), and the contacts this round now holds."""
        now_sending, later, mine = [], [], set()
        for send in sends:
            key = (send.workspace_id, send.contact_id)
            if key in self._in_flight and key not in mine:
                later.append(send)
                continue
            mine.add(key)
            now_sending.append(send)
        self._in_flight |= mine
        return now_sending, later, mine

    async def _deliver(self, sends: Sequence[Send], settlements: list[Settlement]) -> None:
        groups: dict[tuple[str, str], list[Send]] = defaultdict(list)
        for send in sends:
            groups[(send.workspace_id, send.channel)].append(send)
        for (workspace_id, channel), group in groups.items():
            try:
                attempts = await self._attempt(workspace_id, channel, group)
            except Exception as exc:  # a bug or an outage in one step: not the other groups
                log.exception("the %s step failed for %d sends", channel, len(group))
                settlements += await self._after_failure(group, exc)
                continue
            now = datetime.now(UTC)
            settlements += [settle(a, self.ledger.retry, now) for a in attempts]
        await self.ledger.settle(settlements)

    async def _after_failure(self, group: list[Send], exc: Exception) -> list[Settlement]:
        """A failed step's sends: those already handed over follow their channel's restart
        rule; the others count the attempt as temporary (backoff, then failed or the next
        channel), so a step that always fails cannot spin."""
        ids = [s.send_id for s in group]
        found = await asyncio.to_thread(self.ledger.orphans, send_ids=ids)
        now = datetime.now(UTC)
        out = []
        reason = f"internal error in the {group[0].channel} step: {type(exc).__name__}: {exc}"
        for send, handed in found:
            if handed and self.redeliver(send.channel) == "never":
                out.append(self._reconciled(send, handed, now))
                continue
            failed = SendResult(send.send_id, Outcome.TEMPORARY, reason[:500])
            out.append(settle(Attempt(send, "result", result=failed), self.ledger.retry, now))
        return out

    async def _attempt(self, workspace_id: str, channel: str, sends: list[Send]) -> list[Attempt]:
        step = self.steps.get(channel)
        if step is None:
            return [
                unavailable(s, f"the {channel} channel is not available on this server")
                for s in sends
            ]
        contacts = await asyncio.to_thread(
            lookup, self.db, workspace_id, [s.contact_id for s in sends]
        )
        held_back: list[Attempt] = []
        if self.policy is not None:
            zones = {cid: c.timezone for cid, c in contacts.items()}
            sends, held_sends = await asyncio.to_thread(
                self.policy.split, workspace_id, channel, sends, zones, datetime.now(UTC)
            )
            held_back = [
                held(s, d.action, f"policy {d.rule}: {d.reason}", d.until) for s, d in held_sends
            ]
            if not sends:
                return held_back
        content = self._resolve(workspace_id, channel, {s.message_id for s in sends})
        return held_back + await step.attempt(workspace_id, sends, contacts, content)

    def _resolve(
        self, workspace_id: str, channel: str, message_ids: set[str]
    ) -> Mapping[str, Resolved | Exception]:
        out: dict[str, Resolved | Exception] = {}
        for message_id in sorted(message_ids):
            try:
                out[message_id] = self.content.resolve(workspace_id, message_id, channel)
            except Exception as exc:  # unknown message, no content for the channel, compile error
                out[message_id] = exc
        return out

    # --- after a crash --------------------------------------------------------------------

    async def reconcile(self, *, expired_only: bool = False) -> dict[str, int]:
        """Settle the sends left ``sending``; the counts by what was done with them."""
        orphans = await asyncio.to_thread(self.ledger.orphans, expired_only=expired_only)
        now = datetime.now(UTC)
        settlements = [self._reconciled(send, handed, now) for send, handed in orphans]
        await self.ledger.settle(settlements)
        counts: dict[str, int] = defaultdict(int)
        for item in settlements:
            counts[item.status] += 1
        if settlements:
            log.info("reconciled %d sends left sending: %s", len(settlements), dict(counts))
        return dict(counts)

    def _reconciled(self, send: Send, handed: bool, now: datetime) -> Settlement:
        if handed and self.redeliver(send.channel) == "never":
            event = MessageEvent(
                send.context(),
                "sent",
                now,
                properties={
                    "unconfirmed": True,
                    "reason": "handed over before a restart; "
                    "the provider's answer was never recorded",
                },
            )
            return Settlement(
                send.send_id,
                "sent",
                send.channel,
                send.cascade_index,
                last_error="unconfirmed: handed over, answer not recorded",
                events=(event,),
            )
        # never handed: that attempt did not happen; handed with a same-key provider: hand
        # it again, the provider drops the copy
        attempts = None if handed else send.attempts - 1
        return Settlement(
            send.send_id,
            "queued",
            send.channel,
            send.cascade_index,
            next_attempt_at=now,
            attempts=attempts,
        )


def _later(send: Send, now: datetime) -> Settlement:
    """Back to the queue for a second, the claim's attempt not counted."""
    return Settlement(
        send.send_id,
        "queued",
        send.channel,
        send.cascade_index,
        next_attempt_at=now + timedelta(seconds=1),
        attempts=send.attempts - 1,
    )
