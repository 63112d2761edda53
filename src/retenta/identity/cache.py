"""The writer's in-memory identifier map, exact because there is one writer.

``OwnerCache`` maps ``(workspace, type, value)`` to the live contact and remembers, per
contact, the fingerprints of the profile inputs known to leave it as it is (the last one that
changed it, then up to three that changed nothing since: a storefront alternates an identify's
traits with the locale of its page views, and each switch would otherwise reload the contact).
It is bounded (oldest entries are evicted first) and is touched only from the writer thread.

Changes made inside a transaction are kept in a ``Pending`` overlay and move into the cache
only once the transaction is known to have committed: the next ``resolve`` checks that the
transaction id changed and that a contact stamped by the pending work carries its stamp.
If not (the unit of work rolled back), the cache is cleared; it is only a cache.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Key = tuple[str, str, str]


#: hashes of profile inputs known to be no-ops on a contact, the newest last
Fingerprints = tuple[int, ...]
MAX_FINGERPRINTS = 4


class KeyMap:
    """``(workspace, type, value) -> contact id``, nested by workspace and type.

    No key tuple and no copy of the workspace id per entry: about 130 bytes an identifier
    instead of 270 for a flat dict of tuples (3M identifiers: ~400 MB instead of ~800 MB).

    >>> m = KeyMap()
    >>> m.put(("ws_1", "email", "ann@x.io"), 7)
    >>> m.get(("ws_1", "email", "ann@x.io")), m.get(("ws_2", "email", "ann@x.io")), len(m)
    (7, None, 1)
    >>> m.pop(("ws_1", "email", "ann@x.io")), len(m)
    (7, 0)
    """

    __slots__ = ("maps", "size")

    def __init__(self) -> None:
        self.maps: dict[str, dict[str, dict[str, int]]] = {}
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def get(self, key: Key) -> int | None:
        by_type = self.maps.get(key[0])
        if by_type is None:
            return None
        values = by_type.get(key[1])
        return None if values is None else values.get(key[2])

    def put(self, key: Key, contact_id: int) -> None:
        ws, id_type, value = key
        by_type = self.maps.get(ws)
        if by_type is None:
            by_type = self.maps[sys.intern(ws)] = {}
        values = by_type.get(id_type)
        if values is None:
            values = by_type[sys.intern(id_type)] = {}
        before = len(values)
        values[value] = contact_id
        self.size += len(values) - before

    def put_columns(
        self, workspaces: list[str], types: list[str], values: list[str], contacts: list[int]
    ) -> None:
        """``put`` for every row of four columns (start-up: a million rows in about a second).

        >>> m = KeyMap(); m.put_columns(["w", "w"], ["email", "email"], ["a", "b"], [1, 2])
        >>> m.get(("w", "email", "b")), len(m)
        (2, 2)
        """
        current: tuple[str, str] | None = None
        target: dict[str, int] = {}
        for ws, id_type, value, cid in zip(workspaces, types, values, contacts, strict=True):
            if (ws, id_type) != current:
                by_type = self.maps.setdefault(sys.intern(ws), {})
                target = by_type.setdefault(sys.intern(id_type), {})
                current = (ws, id_type)
            before = len(target)
            target[value] = cid
            self.size += len(target) - before

    def pop(self, key: Key, default: int | None = None) -> int | None:
        values = self.maps.get(key[0], {}).get(key[1])
        if values is None or key[2] not in values:
            return default
        self.size -= 1
        return values.pop(key[2])

    def items(self) -> Iterator[tuple[Key, int]]:
        for ws, by_type in self.maps.items():
            for id_type, values in by_type.items():
                for value, cid in values.items():
                    yield (ws, id_type, value), cid

    def evict(self, fraction: float) -> None:
        """Drop the oldest ``fraction`` of every (workspace, type) map."""
        for by_type in self.maps.values():
            for values in by_type.values():
                n = math.ceil(len(values) * fraction)
                for value in list(itertools.islice(values, n)):
                    del values[value]
                self.size -= n

    def clear(self) -> None:
        self.maps.clear()
        self.size = 0


class OwnerCache:
    def __init__(self, max_entries: int) -> None:
        self.max_entries = max(16, max_entries)
        self.owners = KeyMap()
        self.fingerprints: dict[int, Fingerprints] = {}

    def put(self, key: Key, contact_id: int) -> None:
        self.owners.put(key, contact_id)
        if len(self.owners) > self.max_entries:
            self.owners.evict(0.1)

    def warm(self, columns: tuple[list[Any], ...]) -> None:
        """Start with these owners (``store.recent_owners``: oldest first, evicted first)."""
        workspaces, types, values, contacts = columns
        self.owners.put_columns(workspaces, types, values, contacts)
        while len(self.owners) > self.max_entries:
            self.owners.evict(0.1)

    def put_fingerprint(self, contact_id: int, fp: Fingerprints) -> None:
        self.fingerprints[contact_id] = fp
        if len(self.fingerprints) > self.max_entries:
            _evict(self.fingerprints, self.max_entries // 10)

    def drop_contacts(self, contact_ids: Collection[int]) -> None:
        """Forget every identifier of these contacts (O(cache); erasure and unmerge are rare)."""
        ids = set(contact_ids)
        for key in [k for k, c in self.owners.items() if c in ids]:
            self.owners.pop(key)
        for cid in ids:
            self.fingerprints.pop(cid, None)

    def clear(self) -> None:
        self.owners.clear()
        self.fingerprints.clear()


def _evict(mapping: dict[int, Fingerprints], n: int) -> None:
    """Drop the ``n`` oldest entries (dicts keep insertion order)."""
    for key in list(itertools.islice(mapping, n)):
        del mapping[key]


@dataclass
class Pending:
    """What one transaction changed, until it is known to have committed."""

    txid: int
    probe: tuple[int, datetime] | None = None
    writer: int | None = None  # the writer thread that made it, when units report outcomes
    owners: dict[Key, int | None] = field(default_factory=dict)
    fingerprints: dict[int, Fingerprints | None] = field(default_factory=dict)

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
