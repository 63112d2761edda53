"""Mass campaigns (issue #5 item 5): a message (or an A/B/n test) to a segment, now, at a
time, or at a local time in each contact's timezone, throttled, with holdouts.

- ``definition.py`` — the JSON document and its validation (errors name the field);
- ``assign.py`` — pure: hash draws for variants, holdout and the global control group;
  local send times; throttle spacing; the deterministic send id of each recipient;
- ``stats.py`` — pure: the two-proportion z-test, the winner rule, holdout lift;
- ``store.py`` — campaigns and the workspace settings (migration 0026);
- ``snapshot.py`` — the audience fixed into ``campaign_recipients`` when a campaign starts;
- ``runner.py`` — the lifecycle service: start, queue sends in chunks exactly once, finish;
- ``winner.py`` — the A/B decision and the rest's schedule;
- ``report.py`` — progress, A/B results, holdout comparison;
- ``service.py``, ``router.py`` — ``/api/v1/campaigns``.
"""
