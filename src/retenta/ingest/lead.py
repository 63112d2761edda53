"""How far ahead of the writer the intake journal may answer, in the writer's own time.

A request answered from the journal is stored later, and the management API's reads wait
for what was answered (``IngestPipeline.caught_up``). The lead is what bounds that wait and
the memory of what is answered and not stored: past it, requests are answered after their
COMMIT again. A lead in events means different waits at different scales: 15,000 events
is ~1.5 s of the writer's work at 100k contacts (~10,000 events/s) and 4–7 s at 1M contacts
and 50M events (2,000–3,500 events/s), where a read under saturated ingestion could hit
``journal.CAUGHT_UP_MAX_S`` and go on without the newest events (``docs/ingest.md``).

So the lead is ``LEAD_S`` of the writer's measured rate, within ``MIN_EVENTS`` (a burst
after an idle spell, whose first units were small, still gets early answers) and
``MAX_EVENTS`` (the figure measured best at 100k contacts, and what bounds the RSS at 1M).
Two seconds keep 100k contacts at that 15,000 at the writer's ceiling (8,000 events/s of
100-event requests; ``/metrics`` showed 15,000 at the end of such a run), where 1.5 s gave
~12,000, a lead never measured there: at that rate p99 ranged 54–3,240 ms from run to run
with either lead (``docs/ingest.md``, session 23), so session 22's tuning is kept. At 1M
contacts two seconds is 6,900–9,000 events, and an API read's mean wait 2.9–3.4 s against
4.4–4.7 s (and the 5-s cap) with 15,000: about two of the writer's units there.

The rate is the events of the writer's recent units over the time each took from being
handed to the writer to its COMMIT. That includes waiting behind the checkpoints and
compaction steps the writer runs between units, so it is how fast the writer works off
what it is behind, which is what a waiting read sees.
"""

from __future__ import annotations

LEAD_S = 2.0
MIN_EVENTS = 5_000
# Measured as a fixed lead in session 22: it rides out a full checkpoint at 5,000 events/s
# (10,000 did not, once), and 25,000 made units of up to 25,000 events: ~200 MB more RSS at
# 1M contacts (1,524 MB) and a longer tail at 8,000 events/s.
MAX_EVENTS = 15_000
# Each unit's events and seconds weigh this much less at every later unit: the rate follows
# the last ~10 units (a second or two under load; a change of scale within a few units).
DECAY = 0.9


class WriterPace:
    """The writer's recent events a second, and the journal's lead from it."""

    def __init__(self) -> None:
        self._events = 0.0
        self._seconds = 0.0

    def unit(self, events: int, seconds: float) -> None:
        """A unit of ``events`` took the writer ``seconds`` (taken to committed)."""
        if events <= 0 or seconds <= 0:
            return
        self._events = self._events * DECAY + events
        self._seconds = self._seconds * DECAY + seconds

    @property
    def events_per_s(self) -> float | None:
        """None until a unit was measured."""
        return self._events / self._seconds if self._seconds else None

    def lead_events(self) -> int:
        """Events the writer may be behind while requests are answered from the journal.

        >>> pace = WriterPace()
        >>> pace.lead_events()  # nothing measured yet
        15000
        >>> pace.unit(2_000, 1.0)  # a slow store: 2,000 events a second
        >>> pace.lead_events()
        5000
        >>> pace.unit(7_000, 1.0)  # then 7,000: 8,800 events in 1.9 s, weighted
        >>> pace.lead_events()
        9263
        >>> pace.unit(60_000, 4.0)  # then a faster writer dominates the recent units
        >>> pace.lead_events()
        15000
        """
        rate = self.events_per_s
        if rate is None:
            return MAX_EVENTS
        return int(min(max(rate * LEAD_S, MIN_EVENTS), MAX_EVENTS))
