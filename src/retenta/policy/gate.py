"""The policy at send time: which of a batch of claimed sends may go now.

The dispatcher hands each batch (one workspace, one channel) to :meth:`PolicyGate.split`
before the channel's step: the allowed sends go on; each held one comes back with its
decision — deferred to a time, or dropped — and is written to ``policy_log`` with the rule.

Priorities: the batch is decided highest priority first, and a limit also counts the
queued higher-priority sends due within the pre-emption horizon, so a trigger takes the
last slot under a cap before a promo claimed beside it or ahead of it. Sends allowed
earlier in the same batch count towards the limits of the later ones.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from retenta.policy.decide import Decision, Sent, decide, quiet_until, zone_of
from retenta.policy.rules import Policy
from retenta.policy.store import Held, Pending, PolicyStore
from retenta.storage.base import Database

CACHE_S = 5.0


class SendLike(Protocol):
    """A claimed send; its ``campaign_id`` (campaign or journey, optional) may carry a
    priority override."""

    @property
    def send_id(self) -> str: ...
    @property
    def contact_id(self) -> int: ...
    @property
    def category(self) -> str: ...


S = TypeVar("S", bound=SendLike)


def source_of(send: SendLike) -> str | None:
    value = getattr(send, "campaign_id", None)
    return value if isinstance(value, str) else None


class PolicyGate:
    def __init__(self, db: Database, store: PolicyStore | None = None) -> None:
        self.db = db
        self.store = store or PolicyStore(db)
        self._cache: dict[str, tuple[float, Policy]] = {}

    def policy(self, workspace_id: str) -> Policy:
        cached = self._cache.get(workspace_id)
        if cached is None or time.monotonic() - cached[0] > CACHE_S:
            cached = (time.monotonic(), self.store.get(workspace_id))
            self._cache[workspace_id] = cached
        return cached[1]

    def split(self, workspace_id: str, channel: str, sends: Sequence[S],
              timezones: Mapping[int, str | None], now: datetime
              ) -> tuple[list[S], list[tuple[S, Decision]]]:  # fmt: skip
        """``(allowed, held)``; the held are logged. Without rules, everything is allowed."""
        policy = self.policy(workspace_id)
        contacts = {s.contact_id for s in sends}
        with self.db.read() as cur:
            chosen = (self.store.frequencies(cur, workspace_id, contacts)
                      if policy.preferences.enabled else {})  # fmt: skip
            if not (policy.has_rules or chosen):
                return list(sends), []
            history = self.store.history(cur, workspace_id, contacts, now=now)
            ahead = self._ahead(cur, policy, workspace_id, contacts, chosen, now, timezones)
        batch = Batch(policy, channel, now, timezones, chosen, history, ahead)
        allowed, held = batch.decide_all(sends)
        if held:
            rows = [Held(s.send_id, s.contact_id, channel, s.category, d,
                         batch.priority(s)) for s, d in held]  # fmt: skip
            self.db.write(lambda conn: PolicyStore.log(conn, workspace_id, rows, now))
        return allowed, held

    def _ahead(self, cur: object, policy: Policy, workspace_id: str, contacts: set[int],
               chosen: Mapping[int, str], now: datetime, timezones: Mapping[int, str | None]
               ) -> dict[int, list[Sent]]:  # fmt: skip
        """Queued sends due within the horizon, as slots they may claim first — unless
        quiet hours will hold them at their due time (they would not take the slot)."""
        if not policy.preemption.enabled or not (policy.caps or chosen):
            return {}
        until = now + policy.preemption.horizon.delta()
        out: dict[int, list[Sent]] = defaultdict(list)
        for p in self.store.pending(cur, workspace_id, contacts, until=until):
            claim = _claim(policy, p, now)
            if not _quiet_then(policy, claim, timezones.get(p.contact_id)):
                out[p.contact_id].append(claim)
        return out


def _quiet_then(policy: Policy, claim: Sent, timezone: str | None) -> bool:
    quiet = policy.quiet_hours
    if (
        quiet is None
        or claim.channel not in quiet.channels
        or claim.category not in (quiet.categories)
    ):
        return False
    return quiet_until(quiet, claim.at, zone_of(timezone, policy.default_timezone)) is not None


def _claim(policy: Policy, pending: Pending, now: datetime) -> Sent:
    level = policy.priorities.of(pending.category, pending.source_id)
    return Sent(
        pending.channel,
        pending.category,
        max(now, pending.due),
        send_id=pending.send_id,
        priority=level,
    )


class Batch:
    """One batch's decisions, highest priority first; what is allowed counts for the rest."""

    def __init__(
        self,
        policy: Policy,
        channel: str,
        now: datetime,
        timezones: Mapping[int, str | None],
        chosen: Mapping[int, str],
        history: dict[int, list[Sent]],
        ahead: Mapping[int, list[Sent]],
    ) -> None:
        self.policy, self.channel, self.now = policy, channel, now
        self.timezones, self.chosen, self.history, self.ahead = timezones, chosen, history, ahead

    def priority(self, send: SendLike) -> int:
        return self.policy.priorities.of(send.category, source_of(send))

    def decide_all(self, sends: Sequence[S]) -> tuple[list[S], list[tuple[S, Decision]]]:
        """Decided highest priority first; both lists keep the batch's order."""
        order = list(range(len(sends)))
        if self.policy.preemption.enabled:  # stable: equal priorities keep the claim order
            order.sort(key=lambda i: -self.priority(sends[i]))
        decisions = {i: self.decide_one(sends[i]) for i in order}
        allowed = [s for i, s in enumerate(sends) if decisions[i].allowed]
        held = [(s, decisions[i]) for i, s in enumerate(sends) if not decisions[i].allowed]
        return allowed, held

    def decide_one(self, send: SendLike) -> Decision:
        past = self.history.setdefault(send.contact_id, [])
        level = self.priority(send)
        decision = decide(
            self.policy, channel=self.channel, category=send.category, at=self.now,
            timezone=self.timezones.get(send.contact_id), history=past, priority=level,
            frequency=self.chosen.get(send.contact_id), ahead=self.ahead.get(send.contact_id, ()),
        )  # fmt: skip
        if decision.allowed:
            ranked = level if self.policy.preemption.enabled else None
            past.append(Sent(self.channel, send.category, self.now, send_id=send.send_id,
                             priority=ranked))  # fmt: skip
        return decision
