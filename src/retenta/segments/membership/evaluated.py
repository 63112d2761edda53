"""When each contact was last evaluated in real time, per segment, since its last full pass.

A full pass of a time-dependent segment must tell changes caused by time passing from
drift. For a contact evaluated in real time at ``t_c`` (after the pass at ``T_s``), time
explains a change exactly when its membership at ``t_c`` differs from the one at the pass's
``now`` — so the pass re-evaluates the previous state per group of contacts sharing a
``t_c``. Real-time `now`s are rounded up to a quantum, which bounds those groups.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from datetime import UTC, datetime

QUANTUM_S = 5.0

Key = tuple[str, str]  # (workspace_id, segment_id)


def rounded_up(at: datetime, quantum_s: float = QUANTUM_S) -> datetime:
    """The next multiple of ``quantum_s`` (epoch seconds) at or after ``at``.

    >>> rounded_up(datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC)).isoformat()
    '2026-01-01T12:00:05+00:00'
    >>> rounded_up(datetime(2026, 1, 1, 12, 0, 5, tzinfo=UTC)).isoformat()
    '2026-01-01T12:00:05+00:00'
    """
    steps = math.ceil(round(at.timestamp() / quantum_s, 6))
    return datetime.fromtimestamp(steps * quantum_s, UTC)


class EvaluatedSince:
    """``(workspace, segment) → {contact_id: last real-time now}`` (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_segment: dict[Key, dict[int, datetime]] = {}

    def record(self, key: Key, contact_ids: Iterable[int], at: datetime) -> None:
        with self._lock:
            seen = self._by_segment.setdefault(key, {})
            for cid in contact_ids:
                seen[cid] = at

    def snapshot(self, key: Key) -> dict[int, datetime]:
        with self._lock:
            return dict(self._by_segment.get(key, {}))

    def groups(self, key: Key) -> dict[datetime, list[int]]:
        """The contacts of a segment grouped by their last real-time `now`."""
        out: dict[datetime, list[int]] = {}
        for cid, at in sorted(self.snapshot(key).items()):
            out.setdefault(at, []).append(cid)
        return out

    def forget(self, key: Key, seen: dict[int, datetime] | None = None) -> None:
        """Drop what a full pass accounted for (all of it when ``seen`` is None)."""
        with self._lock:
            current = self._by_segment.get(key)
            if current is None:
                return
            if seen is None:
                del self._by_segment[key]
                return
            for cid, at in seen.items():
                if current.get(cid) == at:
                    del current[cid]
