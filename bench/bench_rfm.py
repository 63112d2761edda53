"""RFM for all contacts, and what the logical views' live-contact mapping costs.

Bound (issue #3): RFM for all contacts ≤ 3 s at 1M contacts / 50M events.

Reads a demo store (``python -m retenta.demo.generate --data DIR --contacts 1000000``)
read-only and measures, medians of ``--runs``:

- ``rfm report``: the report query (buyers per R × F cell, views prepended), as the API runs it;
- ``rfm scores``: every buyer's ``(contact_id, recency_days, frequency, monetary, r, f, m,
  cell)`` fetched as Arrow (``rfm_query`` + ``views.with_views``);
- baseline: a hand-written quintile RFM over the raw ``orders`` table (``ntile``, no merge
  mapping) — the FACTS.md shape;
- views: ``count(*)`` and events per contact over the ``events`` view vs the raw tiers
  (the cost of mapping merged contacts), and the ``_live_contacts`` map alone.

    uv run python -m bench.bench_rfm --data /tmp/segbench/1m
    uv run python -m bench.bench_rfm --quick          # generates 20k contacts in a temp dir
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import sqlglot

from retenta.segments import views
from retenta.segments.rfm import RfmConfig, rfm_query
from retenta.segments.rfm_service import report_query

BOUND_S = 3.0
DEFAULT_DATA = ("/tmp/retenta-bench-1m", "/tmp/segbench/1m")

BASELINE = """
WITH per AS (
    SELECT contact_id, max(placed_at) AS last_at, count(*) AS freq,
        sum(COALESCE(revenue, total)) AS money
    FROM orders
    WHERE workspace_id = $ws AND status IN ('placed', 'paid', 'shipped')
      AND placed_at > $now - INTERVAL 365 DAY AND placed_at <= $now
    GROUP BY contact_id
)
SELECT contact_id, date_diff('day', last_at, $now) AS recency_days, freq, money,
    ntile(5) OVER (ORDER BY last_at) AS r, ntile(5) OVER (ORDER BY freq) AS f,
    ntile(5) OVER (ORDER BY money) AS m
FROM per
"""


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """Median seconds of ``runs`` calls (after one warm-up) and the last result."""
    result = fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def quick_store() -> Path:
    """A 20k-contact demo store in a temp directory (for a smoke run)."""
    out = Path(tempfile.mkdtemp(prefix="bench-rfm-"))
    subprocess.run(
        [sys.executable, "-m", "retenta.demo.generate", "--data", str(out), "--contacts", "20000"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out


def find_data(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    for candidate in DEFAULT_DATA:
        if (Path(candidate) / "retenta.duckdb").exists():
            return Path(candidate)
    raise SystemExit("no demo store: pass --data DIR (see /tmp/retenta-bench-1m.README)")


def workspace_of(data: Path, conn: duckdb.DuckDBPyConnection) -> str:
    meta = data / "demo.json"
    if meta.exists():
        return str(json.loads(meta.read_text())["workspace_id"])
    row = conn.execute("SELECT id FROM workspaces ORDER BY created_at LIMIT 1").fetchone()
    assert row is not None, "the store has no workspace"
    return str(row[0])


def view_sql(ws: str, sql: str) -> str:
    query = sqlglot.parse_one(sql, dialect="duckdb")
    assert isinstance(query, sqlglot.exp.Query)
    return views.with_views(query, ws, "duckdb").sql("duckdb")


def measure(conn: duckdb.DuckDBPyConnection, ws: str, runs: int) -> list[tuple[str, float, str]]:
    now = datetime.now(UTC)
    config = RfmConfig()
    report = report_query(config, ws, now).sql("duckdb")
    scores = views.with_views(rfm_query(config, "duckdb", now), ws, "duckdb").sql("duckdb")
    rows: list[tuple[str, float, str]] = []

    t, result = timed(lambda: conn.execute(report).fetchall(), runs)
    rows.append(("rfm report (grid + cells)", t, f"{sum(r[3] for r in result):,} buyers"))
    t, table = timed(lambda: conn.sql(scores).to_arrow_table(), runs)
    rows.append(("rfm scores, all buyers to Arrow", t, f"{table.num_rows:,} rows"))
    params = {"ws": ws, "now": now}
    t, base = timed(lambda: conn.sql(BASELINE, params=params).to_arrow_table(), runs)
    rows.append(("baseline: hand-written ntile RFM, raw", t, f"{base.num_rows:,} rows"))

    name, live_map = views.view_ctes(ws, ["events"])[0]
    assert name == views.LIVE_MAP
    live = f"SELECT count(*), count(live_id) FROM ({live_map.sql('duckdb')})"
    t, got = timed(lambda: conn.execute(live).fetchall(), runs)
    note = f"{got[0][0]:,} merged or erased ({got[0][1]:,} merged into a live one)"
    rows.append(("views: _live_contacts map alone", t, note))
    through = view_sql(ws, "SELECT count(DISTINCT contact_id) FROM events")
    t, got = timed(lambda: conn.execute(through).fetchall(), runs)
    rows.append(("views: distinct contacts of events view", t, f"{got[0][0]:,}"))
    raw = "SELECT count(DISTINCT contact_id) FROM all_events WHERE workspace_id = $ws"
    t, got = timed(lambda: conn.execute(raw, {"ws": ws}).fetchall(), runs)
    rows.append(("  same over raw all_events (no mapping)", t, f"{got[0][0]:,}"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="demo store directory (holds retenta.duckdb)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="20k contacts, 2 runs")
    args = parser.parse_args()
    data = quick_store() if args.quick else find_data(args.data)
    runs = 2 if args.quick else args.runs
    conn = duckdb.connect(str(data / "retenta.duckdb"), read_only=True)
    conn.execute("SET TimeZone = 'UTC'")
    ws = workspace_of(data, conn)
    contacts = conn.execute("SELECT count(*) FROM contacts WHERE workspace_id = ?", [ws])
    total = contacts.fetchone()
    print(f"store {data} · workspace {ws} · {total[0] if total else 0:,} contacts")
    print(f"load before: {os.getloadavg()[0]:.2f} (1-min average, 2 cores shared)")
    results = measure(conn, ws, runs)
    print(f"\n| what (median of {runs}) | seconds | bound | rows |\n|---|---|---|---|")
    for name, seconds, note in results:
        bound = f"≤ {BOUND_S:g} s" if name.startswith("rfm") else ""
        ok = " ✓" if bound and seconds <= BOUND_S else (" ✗" if bound else "")
        print(f"| {name} | {seconds:.3f}{ok} | {bound} | {note} |")
    print(f"\nload after: {os.getloadavg()[0]:.2f}")
    conn.close()
    if args.quick:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
