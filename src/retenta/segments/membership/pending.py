"""Contacts touched by committed ingest units, waiting for (or in) a real-time round."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

PENDING_LIMIT = 1_000_000  # touched contacts queued at most while no round takes them


class PendingContacts:
    """Per workspace, the contacts commits reported and no round has finished yet (any
    thread adds). A full pass leaves these out of its diff: their round decides them.

    Bounded: in a process whose real-time loop never runs (a CLI import), past ``limit``
    contacts new ones are dropped — the server's periodic full pass repairs them (drift).
    """

    def __init__(self, limit: int = PENDING_LIMIT) -> None:
        self._lock = threading.Lock()
        self._by_ws: dict[str, set[int]] = {}
        self._in_round: dict[str, set[int]] = {}
        self._count = 0
        self.limit = limit
        self.dropped = 0
        self._recorders: list[set[int]] = []

    def start_recording(self) -> set[int]:
        """From now on, every added contact id also goes into the returned set."""
        recorder: set[int] = set()
        with self._lock:
            self._recorders.append(recorder)
        return recorder

    def stop_recording(self, recorder: set[int]) -> None:
        with self._lock:
            self._recorders = [r for r in self._recorders if r is not recorder]

    def add(self, workspace_id: str, contact_ids: Sequence[int]) -> None:
        with self._lock:
            for recorder in self._recorders:
                recorder.update(contact_ids)
            if self._count + len(contact_ids) > self.limit:
                self.dropped += len(contact_ids)
                return
            self._by_ws.setdefault(workspace_id, set()).update(contact_ids)
            self._count += len(contact_ids)

    def take(self) -> dict[str, set[int]]:
        """Everything waiting; it stays visible to ``snapshot`` until ``done``."""
        with self._lock:
            taken, self._by_ws, self._count = self._by_ws, {}, 0
            for workspace_id, ids in taken.items():
                self._in_round.setdefault(workspace_id, set()).update(ids)
        return taken

    def done(self, workspace_id: str, contact_ids: Iterable[int]) -> None:
        """A round finished with these contacts."""
        with self._lock:
            in_round = self._in_round.get(workspace_id)
            if in_round is not None:
                in_round.difference_update(contact_ids)

    def snapshot(self, workspace_id: str) -> set[int]:
        """Waiting or in a round."""
        with self._lock:
            return set(self._by_ws.get(workspace_id, ())) | self._in_round.get(workspace_id, set())

    def __bool__(self) -> bool:
        """Whether any contact is waiting for a round."""
        with self._lock:
            return bool(self._by_ws)
