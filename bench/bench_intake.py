"""The event loop's CPU an event, from a ``/v1/batch`` body to a prepared unit, in process.

What the server's event loop does for each request, phase by phase, with the thread's own
CPU time (``time.thread_time``), which a loaded machine changes less than wall time:

* ``load``: ``intake.load_json`` (orjson);
* ``parse``: ``batch_defaults`` and ``parse_request`` (the Segment checks, the size check of
  each event of a body over ``ingest_max_event_bytes``, the Messages);
* ``prepare``: the pipeline's ``prepare`` (``messages_to_base``, keys, ``hash_keys``);
* ``free``: dropping a request's objects once its unit is done (the server does it in the
  event loop when the request's answer is sent); 20 requests are kept alive meanwhile.

Bodies are ``bench_ingest``'s storefront mix, 100 events each (about 39 KB, so the size
check runs). The collector is set as ``retenta serve`` sets it (``settle_heap``). To compare
with an older commit, run it with that commit's ``src`` first on ``PYTHONPATH`` (a git
worktree), alternating. Usage: ``uv run python -m bench.bench_intake [--runs 5] [--quick]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from bench.bench_ingest import sample_bodies
from retenta.ingest import intake
from retenta.ingest.pipeline import GC_YOUNG_THRESHOLD
from retenta.ingest.units import PendingRequest, prepare

PHASES = ("load", "parse", "prepare", "free")
KEPT_REQUESTS = 20


def one_pass(bodies: list[bytes], limits: intake.Limits) -> dict[str, float]:
    """Seconds of thread CPU per phase over every body."""
    spent = dict.fromkeys(PHASES, 0.0)
    kept: list[Any] = []
    for body in bodies:
        t0 = time.thread_time()
        doc = intake.load_json(body)
        t1 = time.thread_time()
        defaults = intake.batch_defaults(
            doc, workspace_id="ws_bench", received_at=datetime.now(UTC), ip="127.0.0.1"
        )
        parsed = intake.parse_request(doc, "batch", defaults, limits, len(body))
        t2 = time.thread_time()
        unit = prepare([PendingRequest(parsed.messages)])
        t3 = time.thread_time()
        kept.append((doc, parsed, unit))
        del doc, parsed, unit
        done = kept.pop(0) if len(kept) > KEPT_REQUESTS else None
        t4 = time.thread_time()
        del done
        t5 = time.thread_time()
        for phase, seconds in zip(PHASES, (t1 - t0, t2 - t1, t3 - t2, t5 - t4), strict=True):
            spent[phase] += seconds
    return spent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bodies", type=int, default=200, help="100-event bodies a run")
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 runs of 50 bodies")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.bodies = 2, 50
    bodies = sample_bodies(args.bodies, 100_000)
    limits = intake.Limits(event_bytes=32 * 1024, batch_bytes=500 * 1024)
    events = 100 * len(bodies)
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    one_pass(bodies[:2], limits)  # Arrow's first timestamp column costs ~1 s, once a process
    runs = [one_pass(bodies, limits) for _ in range(args.runs)]
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"bench_intake: {events:,} events a run, {args.runs} runs, load average {load}")
    print("µs of thread CPU an event, median (min):")
    for phase in (*PHASES, "total"):
        values = [(sum(r.values()) if phase == "total" else r[phase]) / events * 1e6 for r in runs]
        print(f"  {phase:8s} {statistics.median(values):6.2f} ({min(values):.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
