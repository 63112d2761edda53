"""The sends ledger's writer units against its size (issue #5, docs/messaging-sends.md).

At 1,000,000 recipients a broadcast's writer statements cost the sender 138 µs of CPU a
message against 65 at 100,000: they grew with the ledger. This bench builds a synthetic
store per size (``--sizes``: settled sends appended from Arrow, with their ``queued`` and
``sent`` events and their hand-over rows, then an open campaign of ``--open`` queued sends)
and times each writer unit of ``--unit`` sends on it:

- **claim**: ``SendLedger.claim`` (the due ids, then queued → sending);
- **handover copy**: ``absorb_journal`` of that many journal records (into
  ``send_handovers``), the copy made before every orphan lookup;
- **settle**: ``SendLedger.settle`` (statuses + one ``sent`` event each);
- **events**: ``events.append`` of that many events alone (a report path's append);
- **reports**: ``delivery.follow_reports`` of that many ``delivered`` reports (the sends move);
- **enqueue**: ``SendLedger.enqueue`` of that many new sends (a campaign's chunk);
- **orphans**: ``SendLedger.orphans(expired_only=True)`` (the lease reconcile), per call.

Each figure is process CPU (DuckDB's threads included) per send, the median of ``--reps``
units, printed per size with the ratio to the smallest size beside the bound (1M within
±20% of 10k). Stores are kept under ``--dir`` (default ``/tmp/ledger7``) and reused.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from retenta.messaging.events import MessageEvent, SendContext
from retenta.messaging.events import append as append_events
from retenta.messaging.outbox.delivery import follow_reports
from retenta.messaging.outbox.journal import HandoverJournal
from retenta.messaging.outbox.ledger import NEW_SENDS, NewSend, SendLedger, Settlement
from retenta.storage.duckdb.engine import DuckDatabase

WS = "ws_bench"
CHUNK = 200_000  # rows appended per Arrow statement while building


def build(path: Path, settled: int, open_sends: int) -> None:
    """A store with ``settled`` sends settled over the last 30 days (time order), their
    events and hand-over rows, then ``open_sends`` queued and due now (one campaign)."""
    db = DuckDatabase(path)
    now = datetime.now(UTC)
    start = now - timedelta(days=30)
    step = timedelta(days=30) / max(settled, 1)
    for first in range(0, settled, CHUNK):
        n = min(CHUNK, settled - first)
        rows = range(first, first + n)
        created = [start + step * i for i in rows]
        sends = _sends(rows, created, status=_settled, campaign=lambda i: f"cmp_{i // 50_000}")
        db.write(lambda conn, t=sends, c=created, r=rows: _append_settled(conn, t, c, r))
    rows = range(settled, settled + open_sends)
    due = [now - timedelta(minutes=5)] * open_sends
    sends = _sends(rows, due, status=lambda i: "queued", campaign=lambda i: "cmp_open")
    db.write(lambda conn: _append_open(conn, sends, rows, due))
    db.write(lambda conn: conn.execute("SELECT 1"))
    db.close()


def _settled(i: int) -> str:
    """Mostly ``sent``, mixed as a real ledger is (so zone maps on status prune nothing)."""
    return MIX[i % len(MIX)]


MIX = ["sent"] * 92 + ["delivered"] * 3 + ["failed"] * 2 + ["suppressed"] * 2 + ["bounced"]


def send_id(i: int) -> str:
    """Random-looking ids, as real ones are (so zone maps on send_id prune nothing)."""
    return "snd_" + hashlib.blake2b(i.to_bytes(8, "little"), digest_size=10).hexdigest()


def _sends(
    rows: range,
    created: list[datetime],
    *,
    status: Callable[[int], str],
    campaign: Callable[[int], str],
) -> pa.Table:
    n = len(rows)
    return pa.table(
        {
            "send_id": [send_id(i) for i in rows],
            "workspace_id": [WS] * n,
            "idempotency_key": [None] * n,
            "request_hash": [None] * n,
            "response": [None] * n,
            "contact_id": list(rows),
            "channel": ["email"] * n,
            "cascade": ['["email"]'] * n,
            "message_id": ["msg_bench"] * n,
            "category": ["promo"] * n,
            "topic": [None] * n,
            "campaign_id": [campaign(i) for i in rows],
            "language": [None] * n,
            "data": ["{}"] * n,
            "status": [status(i) for i in rows],
            "next_attempt_at": created,
            "created_at": created,
        },
        schema=NEW_SENDS,
    )


def _append_settled(conn: object, sends: pa.Table, created: list[datetime], rows: range) -> None:
    c = conn  # the writer's cursor
    c.register("_b", sends)  # type: ignore[attr-defined]
    c.execute(  # type: ignore[attr-defined]
        "INSERT INTO sends SELECT send_id, workspace_id, idempotency_key, request_hash,"
        ' response, contact_id, channel, "cascade", 0, message_id, 1, \'{"b": 1}\', category,'
        " topic, campaign_id, language, data, status, 1, NULL, NULL, NULL, 'rid', created_at,"
        " created_at + INTERVAL 2 SECOND FROM _b"
    )
    for status, offset in (("queued", 0), ("sent", 2)):
        c.execute(  # type: ignore[attr-defined]
            "INSERT INTO message_events SELECT workspace_id, contact_id, send_id, channel,"
            f" campaign_id, message_id, [], '{status}',"
            f" created_at + INTERVAL {offset} SECOND, false, '{{}}' FROM _b"
        )
    c.execute(  # type: ignore[attr-defined]
        "INSERT INTO send_handovers SELECT send_id, 1, created_at + INTERVAL 1 SECOND FROM _b"
    )
    c.unregister("_b")  # type: ignore[attr-defined]


def _append_open(conn: object, sends: pa.Table, rows: range, due: list[datetime]) -> None:
    c = conn
    c.register("_b", sends)  # type: ignore[attr-defined]
    c.execute(  # type: ignore[attr-defined]
        'INSERT INTO sends (send_id, workspace_id, contact_id, channel, "cascade", message_id,'
        " category, campaign_id, data, status, next_attempt_at, created_at, updated_at)"
        ' SELECT send_id, workspace_id, contact_id, channel, "cascade", message_id, category,'
        " campaign_id, data, status, next_attempt_at, created_at, created_at FROM _b"
    )
    c.execute(  # type: ignore[attr-defined]
        "INSERT INTO message_events SELECT workspace_id, contact_id, send_id, channel,"
        " campaign_id, message_id, [], 'queued', created_at, false, '{}' FROM _b"
    )
    c.unregister("_b")  # type: ignore[attr-defined]


def cpu(fn: Callable[[], object]) -> float:
    before = time.process_time()
    fn()
    return time.process_time() - before


def measure(path: Path, unit: int, reps: int, journal_dir: Path) -> dict[str, float]:
    """µs of process CPU per send for each unit, the median of ``reps`` units."""
    db = DuckDatabase(path)
    journal = HandoverJournal(journal_dir)
    ledger = SendLedger(db, journal=journal)
    out: dict[str, list[float]] = {}
    for rep in range(reps + 1):  # the first round warms caches and is not counted
        times = _one_round(ledger, db, journal, unit, rep)
        if rep:
            for name, seconds in times.items():
                out.setdefault(name, []).append(seconds)
    journal.close()
    db.close()
    per_call = {"orphans"}
    return {
        name: statistics.median(v) * 1e6 / (1 if name in per_call else unit)
        for name, v in out.items()
    }


def _one_round(
    ledger: SendLedger, db: DuckDatabase, journal: HandoverJournal, unit: int, rep: int
) -> dict[str, float]:
    times: dict[str, float] = {}
    claimed: list = []
    times["claim"] = cpu(lambda: claimed.extend(ledger.claim(unit)))
    assert len(claimed) == unit, f"claimed {len(claimed)} of {unit}: the open campaign ran out"
    asyncio.run(journal.commit([(s.send_id, s.attempts) for s in claimed], ()))
    times["handover copy"] = cpu(ledger.absorb_journal)
    now = datetime.now(UTC)
    settlements = [
        Settlement(
            s.send_id,
            "sent",
            s.channel,
            s.cascade_index,
            remote_id=f"r{s.send_id}",
            versions_used={"b": 1},
            message_revision=1,
            events=(MessageEvent(s.context(), "sent", now, properties={"remote_id": "r"}),),
        )
        for s in claimed
    ]
    times["settle"] = cpu(lambda: asyncio.run(ledger.settle(settlements)))
    events = [
        MessageEvent(SendContext(WS, s.contact_id, s.send_id, "email"), "delivered", now)
        for s in claimed
    ]
    times["events"] = cpu(lambda: db.write(lambda conn: append_events(conn, events)))
    times["reports"] = cpu(lambda: db.write(lambda conn: follow_reports(conn, events)))
    news = [
        NewSend(WS, 10**9 + rep * unit + i, "msg_bench", ("email",), "promo",
                campaign_id="cmp_new", not_before=now + timedelta(days=1),
                send_id=f"snd_new{rep:04d}{i:06d}")
        for i in range(unit)
    ]  # fmt: skip
    times["enqueue"] = cpu(lambda: ledger.enqueue(news))
    times["orphans"] = cpu(lambda: ledger.orphans(expired_only=True))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--open", type=int, default=100_000, help="queued sends of the campaign")
    parser.add_argument("--unit", type=int, default=200)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--dir", default="/tmp/ledger7")
    parser.add_argument("--rebuild", action="store_true", help="build the stores again")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    base = Path(args.dir)
    base.mkdir(parents=True, exist_ok=True)
    results: dict[int, dict[str, float]] = {}
    for size in sizes:
        path = base / f"ledger-{size}.duckdb"
        if args.rebuild or not path.exists():
            for p in (path, Path(f"{path}.wal")):
                p.unlink(missing_ok=True)
            started = time.perf_counter()
            build(path, size, args.open)
            print(f"built {path} ({size:,} settled + {args.open:,} open) in "
                  f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
        work = base / f"work-{size}.duckdb"  # each run on a fresh copy: units change the store
        shutil.copyfile(path, work)
        Path(f"{work}.wal").unlink(missing_ok=True)
        results[size] = measure(work, args.unit, args.reps, base / f"journal-{size}")
        work.unlink()
        print(f"{size:>9,}: " + "  ".join(f"{k} {v:,.1f}" for k, v in results[size].items()),
              flush=True)  # fmt: skip
    _report(results, args.unit)


def _report(results: dict[int, dict[str, float]], unit: int) -> None:
    sizes = sorted(results)
    load = os.getloadavg()[0]
    print(f"\nprocess CPU per send (µs; orphans: per call), units of {unit}, "
          f"load {load:.2f}")  # fmt: skip
    names = list(results[sizes[0]])
    print(f"{'unit':<14}" + "".join(f"{s:>12,}" for s in sizes) + f"{'ratio':>9}  bound")
    for name in names:
        row = [results[s][name] for s in sizes]
        ratio = row[-1] / row[0] if row[0] else float("nan")
        print(f"{name:<14}" + "".join(f"{v:>12,.1f}" for v in row) + f"{ratio:>8.2f}x  ≤ 1.20x")
    total = [sum(results[s][n] for n in names if n != "orphans") for s in sizes]
    ratio = total[-1] / total[0]
    print(f"{'all but orphans':<14}" + "".join(f"{v:>12,.1f}" for v in total)
          + f"{ratio:>8.2f}x  ≤ 1.20x  {'MET' if ratio <= 1.2 else 'NOT MET'}")  # fmt: skip


if __name__ == "__main__":
    main()
