"""The storage contract every backend implements.

Services depend on these Protocols only. The embedded default is DuckDB
(``storage/duckdb``); PostgreSQL and ClickHouse adapters implement the same
contract (see docs/adr/0001-storage.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Cursor(Protocol):
    """The DB-API subset the services use (DuckDB and psycopg cursors both fit)."""

    def execute(self, query: str, parameters: Any = ...) -> Any: ...
    def fetchone(self) -> tuple[Any, ...] | None: ...
    def fetchall(self) -> list[tuple[Any, ...]]: ...


def _always() -> bool:
    return True


@dataclass(frozen=True, slots=True)
class TierProbe:
    """Event tiers a point read may skip for some contacts (``absent``), and whether that
    still holds (``held()``, asked after the read: False when the tiers changed while it
    ran, and the read must be done again without skipping)."""

    absent: frozenset[str] = frozenset()
    held: Callable[[], bool] = _always


class Database(Protocol):
    """One writer, many readers.

    Every change runs in the single writer thread, inside one transaction per
    submitted unit of work; reads run on per-thread cursors and see committed
    data (MVCC). Keeping the writer single is what lets DuckDB's one-writer
    rule and the identity cache be correct by construction.
    """

    def submit(self, work: Callable[[Any], T]) -> Future[T]: ...
    def write(self, work: Callable[[Any], T]) -> T: ...
    async def awrite(self, work: Callable[[Any], T]) -> T: ...
    def read(self) -> AbstractContextManager[Any]: ...
    def read_together(self, works: Sequence[Callable[[Any], T]]) -> list[T]: ...
    def probe_event_tiers(self, contact_ids: list[int]) -> TierProbe: ...
    def close(self) -> None: ...


def rows_as_dicts(cursor: Any) -> Iterator[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    for row in cursor.fetchall():
        yield dict(zip(names, row, strict=True))
