"""Automation (issue #5): journeys as validated graphs, run durably, one contact at a time.

- ``definition.py`` — the JSON language of a journey and its validation (paths in errors);
- ``engine.py`` — pure: given a run, the journey and the facts, what happens next (sends,
  waits, branches, exit) and why — every decision lands in the run's trace;
- ``entry.py`` — the ingest applier that starts runs from events (inside the event's own
  writer transaction, so an accepted event and the runs it starts commit together) and
  wakes runs waiting for an event;
- ``store.py`` — journeys, versions, runs and traces in DuckDB (migration 0024);
- ``runner.py`` — the lifecycle service that advances due runs: timers, and sends handed
  to the messaging send path with ids derived from (run, node), so a send is never made
  twice, even when the process dies mid-step;
- ``router.py`` — ``/api/v1/journeys``.
"""
