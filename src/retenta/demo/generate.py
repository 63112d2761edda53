"""Generate a demo store straight into the database, chunk by chunk.

``generate_store`` is deterministic in ``(contacts, seed, days, now)``: chunk ``k`` is
simulated from ``numpy.random.default_rng([seed, k])`` with a fixed chunk size, so the
same arguments give the same rows. Memory stays bounded by one chunk being simulated
while the previous one is written (the writer thread and this thread overlap).

Run without the server: ``python -m retenta.demo.generate --data DIR --contacts N``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from retenta.demo import behaviour as bh
from retenta.demo import entities
from retenta.demo.catalog import Catalog, build_catalog, catalog_size, catalog_table
from retenta.demo.jsonparts import json_safe
from retenta.demo.model import Calendar, Mix
from retenta.demo.people import make_people, name_book, uuids
from retenta.demo.tables import CatalogText, Chunk, events_table, order_money
from retenta.demo.timeline import build_timeline
from retenta.demo.writer import insert_arrow, reserve_contact_ids, write_chunk
from retenta.storage.base import Database

CHUNK_CONTACTS = 20_000
Progress = Callable[[int, int, dict[str, int]], None]  # (contacts done, total, rows so far)


@dataclass
class GenerationReport:
    contacts: int
    seconds: float
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def events(self) -> int:
        return self.rows.get("events", 0)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


@dataclass(frozen=True)
class StoreSpec:
    workspace_id: str
    contacts: int
    seed: int
    days: int
    now: datetime
    mix: Mix

    @property
    def tag(self) -> str:
        """Short hash of the seed in message/order/cart ids (ids are unique per workspace)."""
        return hashlib.blake2b(f"retenta-demo:{self.seed}".encode(), digest_size=4).hexdigest()


def simulate_chunk(
    spec: StoreSpec, cal: Calendar, cat: Catalog, ctext: CatalogText, number: int, ids: np.ndarray
) -> tuple[dict[str, pa.Table], pa.Table]:
    """Simulate chunk ``number`` (people get the reserved ``ids``) and build its tables."""
    rng = np.random.default_rng([spec.seed, number])
    n = len(ids)
    ordinal = number * CHUNK_CONTACTS + np.arange(n)
    pop = bh.simulate_people(rng, n, cal, spec.mix)
    people = make_people(
        rng, np.asarray(["uk", "ru", "en", "pl"], dtype=object)[pop.lang], pop.gender, ordinal
    )
    anon = (uuids(rng, n), uuids(rng, n))
    orders = bh.plan_orders(rng, pop, cat, cal, spec.mix)
    sessions = bh.plan_sessions(rng, pop, orders, cal)
    visit_events, fate = bh.expand_sessions(rng, pop, cat, sessions, orders, cal)
    emails = bh.plan_emails(rng, pop, cal, spec.mix)
    tl, placed = build_timeline(rng, pop, orders, sessions, visit_events, emails, cal)
    ch = Chunk(
        workspace_id=spec.workspace_id, number=number, tag=spec.tag, contact_ids=ids,
        ordinal=ordinal, pop=pop, people=people, anon=anon, orders=orders, placed=placed,
        fate=fate, tl=tl, cal=cal, cat=cat, text=ctext, campaigns=bh.campaign_times(cal),
    )  # fmt: skip
    return _chunk_tables(rng, ch)


def _chunk_tables(rng: np.random.Generator, ch: Chunk) -> tuple[dict[str, pa.Table], pa.Table]:
    money = order_money(rng, ch)
    message_id = ch.message_ids()
    events = events_table(rng, ch, money, message_id)
    tables = {
        "contacts": entities.contacts_table(ch, message_id),
        "identities": entities.identities_table(ch),
        "consents": entities.consents_table(ch),
        **entities.orders_tables(ch, money, message_id),
        **entities.carts_tables(ch),
        "wishlist_items": entities.wishlist_table(ch),
        "searches": entities.searches_table(ch, message_id),
    }
    return tables, events


def _check_vocabularies(cat: Catalog) -> None:
    book = name_book()
    words = [cat.name, cat.brand, *book.first.values(), *book.last.values()]
    if not all(json_safe(w) for w in words):
        raise ValueError("a demo vocabulary word needs JSON escaping")


def _merge(total: dict[str, int], counts: dict[str, int]) -> None:
    for name, value in counts.items():
        total[name] = total.get(name, 0) + value


def generate_store(
    db: Database,
    workspace_id: str,
    *,
    contacts: int,
    seed: int,
    days: int = 365,
    now: datetime | None = None,
    progress: Progress | None = None,
    message_ids: bool = True,
) -> GenerationReport:
    """Generate a whole store (catalog, people, their year) into ``workspace_id``.

    ``message_ids=False`` skips recording event ids for dedup (faster; benchmarks only).
    """
    if contacts < 0 or days < 1:
        raise ValueError("contacts must be >= 0 and days >= 1")
    started = time.perf_counter()
    spec = StoreSpec(workspace_id, contacts, seed, days, now or datetime.now(UTC), Mix())
    cal = Calendar.build(spec.now, days)
    cat = build_catalog(
        np.random.default_rng([seed, 1 << 30]), catalog_size(contacts), now=spec.now
    )
    _check_vocabularies(cat)
    rows: dict[str, int] = {
        "products": db.write(
            lambda c: insert_arrow(c, "products", catalog_table(cat, workspace_id, now=spec.now))
        )
    }
    _generate_chunks(db, spec, cal, cat, rows, progress, message_ids)
    return GenerationReport(contacts, time.perf_counter() - started, rows)


def _generate_chunks(
    db: Database,
    spec: StoreSpec,
    cal: Calendar,
    cat: Catalog,
    rows: dict[str, int],
    progress: Progress | None,
    message_ids: bool,
) -> None:
    ctext = CatalogText.build(cat)
    pending: Future[dict[str, int]] | None = None
    done = 0
    for number, start in enumerate(range(0, spec.contacts, CHUNK_CONTACTS)):
        n = min(CHUNK_CONTACTS, spec.contacts - start)
        ids = db.write(partial(reserve_contact_ids, n=n))
        tables, events = simulate_chunk(spec, cal, cat, ctext, number, ids)
        if pending is not None:  # at most one chunk in flight: bounded memory
            _merge(rows, pending.result())
            done += CHUNK_CONTACTS
            _report(progress, min(done, spec.contacts), spec.contacts, rows)
        write = partial(write_chunk, tables=tables, events=events, message_ids=message_ids)
        pending = db.submit(write)
    if pending is not None:
        _merge(rows, pending.result())
    _report(progress, spec.contacts, spec.contacts, rows)


def _report(progress: Progress | None, done: int, total: int, rows: dict[str, int]) -> None:
    if progress is not None:
        progress(done, total, dict(rows))


def main(argv: list[str] | None = None) -> int:
    """``python -m retenta.demo.generate``: make (or reuse) a demo data dir without serving."""
    from retenta.demo.setup import prepare_demo

    parser = argparse.ArgumentParser(description="Generate a Retenta demo store.")
    parser.add_argument("--data", type=Path, default=Path("./demo-data"))
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--reset", action="store_true")
    args = parser.parse_args(argv)
    info: Any = prepare_demo(
        args.data, contacts=args.contacts, seed=args.seed, days=args.days, reset=args.reset
    )
    sys.stdout.write(f"{info}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
