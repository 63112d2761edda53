"""Keep the event log clustered by contact: a three-tier log-structured merge.

Why: "the last 100 events of a contact" on an unsorted 50M-row table scans every row
group (~40 ms); on a table clustered by contact, zone maps skip all but one or two
(~1 ms). Appending sorted chunks alone does not keep a table clustered: every chunk
spans every contact, so each one adds a row group to every read. So:

- ``events_recent`` (L0) takes every append; it stays small, so a full scan is cheap;
- a *flush* moves L0 into ``events_l1_runs`` as one sorted run (the runs are part of L1,
  and the one table indexed by contact: each run spans every contact, so zone maps cannot
  skip them; migration 0050);
- when L1 holds too many runs, a *range pass* rewrites L1 (``events_l1`` and its runs),
  one contact-id range per transaction, into one sorted run in ``events_l1``;
- when L1 outgrows a fraction of ``events`` (L2), a range pass merges L1 into L2.

A range pass step reads ``[lo, hi)`` from its source tiers, deletes those rows, appends
them back sorted to the target and records ``next_lo`` — all in one writer transaction,
so an event is never lost or doubled, a crash resumes at the step after the last
commit, and no step holds the writer for long. Steps go in ascending contact order, so
what a pass appends is globally sorted; checkpoints drop the emptied row groups.
Rows the demo generator bulk-loads into ``events`` (sorted) are simply part of L2.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from retenta.storage.duckdb import event_facts, event_summary, order_summary, tier_members
from retenta.storage.duckdb.events import EVENT_SCHEMA

log = logging.getLogger(__name__)

COLUMNS = ", ".join(EVENT_SCHEMA.names)
# Contact ids are unique across workspaces, so ordering by contact clusters each
# workspace's contacts too; a range pass walks contact ids, so this is its global order.
CLUSTER_ORDER = "contact_id, timestamp, message_id"
L0, L1, L2 = tier_members.L0_TIER, tier_members.L1_TIER, tier_members.L2_TIER
RUNS = tier_members.L1_RUNS
# A pass's target tier → the tables it reads from.
PASS_SOURCES: dict[str, tuple[str, ...]] = {L1: (L1, RUNS), L2: (L2, L1, RUNS)}
_STEP_TABLE = "_compaction_step"


@dataclass(frozen=True)
class CompactionPolicy:
    """When each move happens and how big one transaction may get."""

    flush_rows: int = 100_000  # flush L0 once it holds this many rows
    # Rows per transaction, so that an ingestion unit queued behind a step waits little (the
    # ingest p99 bound is 100 ms): a step of 50k rows held the writer 225-335 ms (flush) and
    # 225-255 ms (range pass over a 300k-row L1) on the 2-core machine, one of 10k 50-90 and
    # 60-145 ms (session 12; a step's fixed part, L1's scans and the COMMIT, is ~35 ms).
    max_flush_rows: int = 10_000
    step_rows: int = 10_000
    # Consolidate L1 once it holds this many runs (flushes): 40 runs of 10k rows leave as
    # many unsorted rows in L1 between passes (~400k) as the former 8 of 50k did.
    l1_max_runs: int = 40
    l1_merge_ratio: float = 0.1  # merge L1 into L2 once L1 > ratio × L2 …
    l1_merge_min_rows: int = 1_000_000  # … and L1 holds at least this many rows
    # While ingestion commits units, a range pass may take this share of the writer's time;
    # flushes are not held back (L0 is scanned whole by reads, so it must stay small).
    busy_pass_share: float = 0.2
    pause_s: float = 0.02  # between two busy steps at least, so queued units go first


@dataclass(frozen=True)
class TierSizes:
    recent: int
    l1: int
    l2: int
    l1_runs: int


def next_action(sizes: TierSizes, policy: CompactionPolicy, pass_tier: str | None) -> str | None:
    """The next bounded unit of work: ``flush``, ``pass:<tier>``, ``start:<tier>`` or None.

    >>> p = CompactionPolicy(flush_rows=10, l1_max_runs=2, l1_merge_min_rows=100)
    >>> next_action(TierSizes(recent=10, l1=0, l2=0, l1_runs=0), p, None)
    'flush'
    >>> next_action(TierSizes(recent=1, l1=50, l2=0, l1_runs=2), p, None)
    'start:events_l1'
    >>> next_action(TierSizes(recent=1, l1=150, l2=1000, l1_runs=1), p, None)
    'start:events'
    >>> next_action(TierSizes(recent=1, l1=150, l2=1000, l1_runs=1), p, 'events')
    'pass:events'
    >>> next_action(TierSizes(recent=1, l1=5, l2=1000, l1_runs=1), p, None) is None
    True
    """
    if sizes.recent >= policy.flush_rows:
        return "flush"  # first, even mid-pass: L0 is the one tier that is scanned whole
    if pass_tier is not None:
        return f"pass:{pass_tier}"
    if sizes.l1 >= max(policy.l1_merge_min_rows, policy.l1_merge_ratio * sizes.l2):
        return f"start:{L2}"
    if sizes.l1_runs >= policy.l1_max_runs:
        return f"start:{L1}"
    return None


def pause_after(action: str, took_s: float, *, ingesting: bool, policy: CompactionPolicy) -> float:
    """Seconds to leave the writer to others after a step of ``action`` that took ``took_s``.

    A range pass is not urgent: while ingestion is committing units it gets at most
    ``busy_pass_share`` of the writer, so a long L1→L2 pass after a burst stretches out
    instead of halving the ingest rate for its whole length. Idle, it drains at full speed.

    >>> p = CompactionPolicy(busy_pass_share=0.2, pause_s=0.02)
    >>> pause_after("pass:events", 0.05, ingesting=True, policy=p)
    0.2
    >>> pause_after("pass:events", 0.05, ingesting=False, policy=p)
    0.02
    >>> pause_after("flush", 0.05, ingesting=True, policy=p)
    0.02
    """
    if not ingesting or action == "flush":
        return policy.pause_s
    share = min(max(policy.busy_pass_share, 0.01), 1.0)
    return max(policy.pause_s, round(took_s * (1.0 - share) / share, 6))


def step_width(lo: int, hi: int, rows: int, step_rows: int) -> int:
    """Contact ids per step so that one step rewrites about ``step_rows`` rows.

    >>> step_width(1, 1_000_001, 50_000_000, 50_000)
    1000
    >>> step_width(1, 11, 5, 200_000)
    10
    """
    span = max(1, hi - lo)
    if rows <= 0:
        return span
    return min(span, max(1, span * step_rows // rows))


class Compactor:
    """Runs one bounded unit of compaction per call, inside the caller's writer transaction."""

    def __init__(self, policy: CompactionPolicy | None = None) -> None:
        self.policy = policy or CompactionPolicy()
        # committed steps and their seconds in the writer, by action kind ("flush", "start",
        # "pass") and tier (empty for a flush): ``/metrics``
        self.steps: dict[tuple[str, str], int] = {}
        self.step_seconds: dict[tuple[str, str], float] = {}

    def record(self, action: str | None, seconds: float) -> None:
        """A step ``timed_step`` returned, once its unit has committed.

        >>> c = Compactor(); c.record("start:events_l1", 0.5); c.record(None, 0.1); c.steps
        {('start', 'events_l1'): 1}
        """
        if action is None:
            return
        kind, _, tier = action.partition(":")
        self.steps[(kind, tier)] = self.steps.get((kind, tier), 0) + 1
        self.step_seconds[(kind, tier)] = self.step_seconds.get((kind, tier), 0.0) + seconds

    def timed_step(self, conn: Any) -> tuple[str | None, float]:
        """``step``, and the seconds it took in the writer (queueing behind others not
        counted: that would pace compaction by the load it waited for)."""
        started = time.perf_counter()
        action = self.step(conn)
        return action, time.perf_counter() - started

    def step(self, conn: Any) -> str | None:
        """Do the next unit of work (see :func:`next_action`); returns what was done."""
        order_summary.fold(conn)  # the orders marked FOLD_AFTER ago (segments' order traits)
        action = next_action(tier_sizes(conn), self.policy, pass_in_progress(conn))
        if action == "flush":
            flush(conn, max_rows=self.policy.max_flush_rows)
        elif action is not None and action.startswith("start:"):
            start_pass(conn, action.split(":", 1)[1], step_rows=self.policy.step_rows)
        elif action is not None:
            pass_step(conn, action.split(":", 1)[1])
        return action


def _count(conn: Any, sql: str, params: list[Any] | None = None) -> int:
    row = conn.execute(sql, params or []).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def tier_sizes(conn: Any) -> TierSizes:
    """Row counts of the three tiers and L1's run count."""
    return TierSizes(
        recent=_count(conn, f"SELECT count(*) FROM {L0}"),
        l1=_count(conn, f"SELECT (SELECT count(*) FROM {L1}) + (SELECT count(*) FROM {RUNS})"),
        l2=_count(conn, f"SELECT count(*) FROM {L2}"),
        l1_runs=_count(conn, "SELECT runs FROM event_tier_state WHERE tier = ?", [L1]),
    )


def pass_in_progress(conn: Any) -> str | None:
    row = conn.execute("SELECT tier FROM event_compaction ORDER BY tier DESC LIMIT 1").fetchone()
    return str(row[0]) if row else None


def flush(conn: Any, *, max_rows: int) -> int:
    """Move the oldest ``max_rows`` rows of L0 into L1's runs as one sorted run; returns
    rows moved.

    Nothing else writes while the writer runs this, so the rows at or below a row id
    are the same for the copy and the delete.
    """
    bound = conn.execute(
        f"SELECT max(rowid), count(*) FROM (SELECT rowid FROM {L0} ORDER BY rowid LIMIT ?)",
        [int(max_rows)],
    ).fetchone()
    if bound is None or bound[0] is None:
        return 0
    conn.execute(
        f"INSERT INTO {RUNS} ({COLUMNS}) SELECT {COLUMNS} FROM {L0} WHERE rowid <= ?"
        f" ORDER BY {CLUSTER_ORDER}",
        [bound[0]],
    )
    members = tier_members.of(conn)
    if members is not None:  # L1's bits before the COMMIT, L0's after it (``tier_members``)
        found = conn.execute(
            f"SELECT DISTINCT contact_id, rowid <= ? AS moving FROM {L0}"
            " WHERE contact_id IS NOT NULL",
            [bound[0]],
        ).fetchnumpy()
        moving = np.asarray(found["moving"], dtype=bool)
        contacts = np.asarray(found["contact_id"], dtype=np.int64)
        members.added(L1, contacts[moving])
        members.replaced(L0, contacts[~moving])
    moved = f"(SELECT * FROM {L0} WHERE rowid <= ?)"
    event_summary.add_events(conn, moved, [bound[0]])
    event_facts.add_events(conn, moved, [bound[0]])  # the time-ordered copy segments scan
    conn.execute(f"DELETE FROM {L0} WHERE rowid <= ?", [bound[0]])
    conn.execute("UPDATE event_tier_state SET runs = runs + 1 WHERE tier = ?", [L1])
    return int(bound[1])


def start_pass(conn: Any, tier: str, *, step_rows: int) -> None:
    """Plan a range pass over the contact ids its source tiers hold."""
    sources = PASS_SOURCES[tier]
    union = " UNION ALL ".join(f"SELECT contact_id FROM {t}" for t in sources)
    lo, hi, rows = conn.execute(
        f"SELECT min(contact_id), max(contact_id) + 1, count(*) FROM ({union})"
    ).fetchone()
    # Every pass reads all of L1, so what L1 holds afterwards is one sorted run plus
    # whatever flushes land while the pass runs.
    conn.execute("UPDATE event_tier_state SET runs = 0 WHERE tier = ?", [L1])
    if lo is None:
        return
    conn.execute(
        "INSERT INTO event_compaction (tier, next_lo, hi, width, started_at)"
        " VALUES (?, ?, ?, ?, ?)",
        [tier, lo, hi, step_width(int(lo), int(hi), int(rows), step_rows), datetime.now(UTC)],
    )


def pass_step(conn: Any, tier: str) -> int:
    """Rewrite the next contact-id range of a pass sorted into ``tier``; returns rows moved."""
    next_lo, hi, width = conn.execute(
        "SELECT next_lo, hi, width FROM event_compaction WHERE tier = ?", [tier]
    ).fetchone()
    lo, upper = int(next_lo), min(int(next_lo) + int(width), int(hi))
    moved = rewrite_range(conn, PASS_SOURCES[tier], tier, lo, upper)
    members = tier_members.of(conn)
    if members is not None and L1 in PASS_SOURCES[tier] and tier != L1:
        members.cleared(L1, lo, upper)  # once this unit has committed (``tier_members``)
    event_summary.fold_range(conn, lo, upper)  # the rows stay in L1 ∪ L2: only re-cluster
    if upper >= int(hi):
        conn.execute("DELETE FROM event_compaction WHERE tier = ?", [tier])
    else:
        conn.execute("UPDATE event_compaction SET next_lo = ? WHERE tier = ?", [upper, tier])
    return moved


def rewrite_range(conn: Any, sources: tuple[str, ...], target: str, lo: int, hi: int) -> int:
    """Move every event with ``lo <= contact_id < hi`` from ``sources`` to ``target``, sorted."""
    where = "contact_id >= ? AND contact_id < ?"
    union = " UNION ALL ".join(f"SELECT {COLUMNS} FROM {t} WHERE {where}" for t in sources)
    conn.execute(
        f"CREATE OR REPLACE TEMP TABLE {_STEP_TABLE} AS SELECT * FROM ({union})"
        f" ORDER BY {CLUSTER_ORDER}",
        [lo, hi] * len(sources),
    )
    for table in sources:
        conn.execute(f"DELETE FROM {table} WHERE {where}", [lo, hi])
    conn.execute(f"INSERT INTO {target} ({COLUMNS}) SELECT {COLUMNS} FROM {_STEP_TABLE}")
    moved = _count(conn, f"SELECT count(*) FROM {_STEP_TABLE}")
    conn.execute(f"DROP TABLE {_STEP_TABLE}")
    return moved


def compact_until_idle(
    db: Any, compactor: Compactor | None = None, *, max_steps: int = 100_000
) -> list[str]:
    """Run compaction steps through the writer until there is nothing left to do."""
    compactor = compactor or Compactor()
    done: list[str] = []
    for _ in range(max_steps):
        action = db.write(compactor.step)
        if action is None:
            break
        done.append(action)
    return done
