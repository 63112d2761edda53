"""Answers for busy workspaces, from memory.

A journey whose runs reach ``wait_until: "best"`` asks for one contact's best hour per run;
each answer scans ``message_events`` for that contact (20 ms CPU at 1M engaged sends, see
docs/sendtime.md). Once a workspace has asked enough times within one cache step (10
minutes; see :class:`HotAnswers`), every live contact's answer is computed in one batch
(about 13 µs a contact) and served from compact arrays (7 bytes a contact) until the step
ends. The price: in a
busy workspace an open from the last few minutes may not count yet — a habit over 180 days
barely moves with one open. Quiet workspaces, and answers "as of" a past moment (the dry
run), are always computed on the spot.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from retenta.sendtime import store
from retenta.sendtime.model import Answers, BestHour, answers
from retenta.sendtime.service import POPULATION_TTL_S, best_hours, population_hours, window

HOT_CALLS = 64
CONTACTS_PER_CALL = 1_000


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every live contact's answer at one moment."""

    ids: npt.NDArray[np.int64]  # ascending
    zones: npt.NDArray[np.int32]
    zone_names: list[str]
    found: Answers

    def get(self, contact_id: int) -> BestHour | None:
        i = int(np.searchsorted(self.ids, contact_id))
        if i == len(self.ids) or int(self.ids[i]) != contact_id:
            return None
        return self.found.at(i, self.zone_names[int(self.zones[i])])


def snapshot(cur: Any, workspace_id: str, now: datetime) -> Snapshot:
    since, until = window(now)
    zone = store.workspace_zone(cur, workspace_id)
    live = store.live_contact_hours(cur, workspace_id, zone=zone, since=since, until=until)
    population = population_hours(cur, workspace_id, zone=zone, until=until)
    return Snapshot(live.ids, live.zones, live.zone_names, answers(live.counts, population))


class HotAnswers:
    """Single best-hour answers, from a workspace snapshot once the workspace is busy:
    :data:`HOT_CALLS` answers in one step, and at least one per :data:`CONTACTS_PER_CALL`
    live contacts (a snapshot costs ~15 µs a contact, one answer alone ~20 ms: building
    it for a million contacts pays off only after several hundred answers)."""

    def __init__(self, threshold: int = HOT_CALLS, step_s: int = POPULATION_TTL_S,
                 build: Callable[[Any, str, datetime], Snapshot] = snapshot) -> None:  # fmt: skip
        self.threshold = threshold
        self.step_s = step_s
        self.build = build
        self._calls: dict[tuple[str, int], int] = {}
        self._needed: dict[tuple[str, int], int] = {}  # the step's threshold, once sized
        self._snapshots: dict[tuple[str, int], Snapshot] = {}
        self._lock = threading.Lock()

    def best_hour(self, cur: Any, workspace_id: str, contact_id: int, now: datetime) -> BestHour:
        key = (workspace_id, int(now.timestamp()) // self.step_s)
        found = self._snapshot(cur, key, now)
        answer = found.get(int(contact_id)) if found is not None else None
        if answer is None:  # quiet workspace, or a contact newer than the snapshot
            answer = best_hours(cur, workspace_id, [contact_id], now=now)[int(contact_id)]
        return answer

    def _snapshot(self, cur: Any, key: tuple[str, int], now: datetime) -> Snapshot | None:
        with self._lock:
            found = self._snapshots.get(key)
            if found is not None:
                return found
            self._forget_before(key[1])
            calls = self._calls[key] = self._calls.get(key, 0) + 1
            needed = self._needed.get(key)
        if needed is None and calls == self.threshold:
            needed = max(self.threshold, store.live_count(cur, key[0]) // CONTACTS_PER_CALL)
            with self._lock:
                self._needed[key] = needed
        if calls != needed:  # under it; or over it while another call builds
            return None
        built = self.build(cur, key[0], now)  # outside the lock: other workspaces go on
        with self._lock:
            self._snapshots[key] = built
        return built

    def _forget_before(self, step: int) -> None:
        """Drop the counters and snapshots of earlier steps (caller holds the lock)."""
        for table in (self._calls, self._needed, self._snapshots):
            for old in [k for k in table if k[1] < step]:
                del table[old]


HOT = HotAnswers()
