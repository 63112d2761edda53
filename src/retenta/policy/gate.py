"""The policy at send time: which of a batch of claimed sends may go now.

The dispatcher hands each batch (one workspace, one channel) to :meth:`PolicyGate.split`
before the channel's step: the allowed sends go on; each held one comes back with its
decision — deferred to a time, or dropped — and is written to ``policy_log`` with the rule.
Sends allowed earlier in the same batch count towards the caps of the later ones, so a
batch holding five promos for one contact still respects "at most 2 a week".
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from retenta.policy.decide import Decision, Sent, decide
from retenta.policy.rules import Policy
from retenta.policy.store import Held, PolicyStore
from retenta.storage.base import Database

CACHE_S = 5.0


class SendLike(Protocol):
    @property
    def send_id(self) -> str: ...
    @property
    def contact_id(self) -> int: ...
    @property
    def category(self) -> str: ...


S = TypeVar("S", bound=SendLike)


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
        if not (policy.caps or policy.quiet_hours or policy.fatigue):
            return list(sends), []
        with self.db.read() as cur:
            history = self.store.history(cur, workspace_id, {s.contact_id for s in sends}, now=now)
        allowed: list[S] = []
        held: list[tuple[S, Decision]] = []
        for send in sends:
            past = history.setdefault(send.contact_id, [])
            decision = decide(policy, channel=channel, category=send.category, at=now,
                              timezone=timezones.get(send.contact_id), history=past)  # fmt: skip
            if decision.allowed:
                allowed.append(send)
                past.append(Sent(channel, send.category, now))
            else:
                held.append((send, decision))
        if held:
            rows = [Held(s.send_id, s.contact_id, channel, s.category, d) for s, d in held]
            self.db.write(lambda conn: PolicyStore.log(conn, workspace_id, rows, now))
        return allowed, held
