"""The writer's in-memory identifier map, exact because there is one writer.

``OwnerCache`` maps ``(workspace, type, value)`` to the live contact and remembers, per
contact, the fingerprint of the last profile input applied. It is bounded (oldest entries
are evicted first) and is touched only from the writer thread.

Changes made inside a transaction are kept in a ``Pending`` overlay and move into the cache
only once the transaction is known to have committed: the next ``resolve`` checks that the
transaction id changed and that a contact stamped by the pending work carries its stamp.
If not (the unit of work rolled back), the cache is cleared; it is only a cache.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

Key = tuple[str, str, str]


class OwnerCache:
    def __init__(self, max_entries: int) -> None:
        self.max_entries = max(16, max_entries)
        self.owners: dict[Key, int] = {}
        self.fingerprints: dict[int, int] = {}

    def put(self, key: Key, contact_id: int) -> None:
        self.owners[key] = contact_id
        if len(self.owners) > self.max_entries:
            _evict(self.owners, self.max_entries // 10)

    def put_fingerprint(self, contact_id: int, fp: int) -> None:
        self.fingerprints[contact_id] = fp
        if len(self.fingerprints) > self.max_entries:
            _evict(self.fingerprints, self.max_entries // 10)

    def drop_contacts(self, contact_ids: Collection[int]) -> None:
        """Forget every identifier of these contacts (O(cache); erasure and unmerge are rare)."""
        ids = set(contact_ids)
        for key in [k for k, c in self.owners.items() if c in ids]:
            del self.owners[key]
        for cid in ids:
            self.fingerprints.pop(cid, None)

    def clear(self) -> None:
        self.owners.clear()
        self.fingerprints.clear()


def _evict(mapping: dict[Key, int] | dict[int, int], n: int) -> None:
    """Drop the ``n`` oldest entries (dicts keep insertion order)."""
    for key in list(itertools.islice(mapping, n)):
        del mapping[key]  # type: ignore[arg-type]


@dataclass
class Pending:
    """What one transaction changed, until it is known to have committed."""

    txid: int
    probe: tuple[int, datetime] | None = None
    owners: dict[Key, int | None] = field(default_factory=dict)
    fingerprints: dict[int, int | None] = field(default_factory=dict)

    def apply_to(self, cache: OwnerCache) -> None:
        for key, cid in self.owners.items():
            if cid is None:
                cache.owners.pop(key, None)
            else:
                cache.put(key, cid)
        for contact_id, fp in self.fingerprints.items():
            if fp is None:
                cache.fingerprints.pop(contact_id, None)
            else:
                cache.put_fingerprint(contact_id, fp)

    def drop_contacts(self, contact_ids: Collection[int]) -> None:
        ids = set(contact_ids)
        for key, cid in self.owners.items():
            if cid in ids:
                self.owners[key] = None
        for cid in ids:
            self.fingerprints[cid] = None
