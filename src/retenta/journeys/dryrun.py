"""Dry run: who would have entered a journey in a past window, and what each would have got.

The window's trigger occurrences (``dryrun_facts.candidates``: events replayed through the
live trigger matching, segment entries/exits, the other triggers' logs) pass the journey's
entry rules in time order; each admitted entry becomes a *virtual run* advanced by the pure
engine (``engine.advance``) with :class:`HistoricalFacts` as of each moment: a wait jumps
to its due time, a wait for an event to that event when it happened first, and a journey
goal event while the run is active converts it. Runs are followed up to the present.

Nothing is written: no run, trace, send or effect (a read cursor only). At most ``limit``
entries are simulated; later ones are only counted (by the entry rules, taken as ended on
entry: their concurrency is not known), up to :data:`MAX_COUNTED` occurrences. Entry rules
count the window's virtual entries only, not the journey's real past runs.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from retenta.journeys.definition import EntryRule, Journey
from retenta.journeys.dryrun_facts import Candidate, HistoricalFacts, candidates, event_names
from retenta.journeys.engine import Run, Step, advance

MAX_WAKES = 200  # a guard: more wake-ups than this in one virtual run stops it as "waiting"
MAX_COUNTED = 200_000  # trigger occurrences read at most (entries past ``limit`` are counted)


@dataclass(frozen=True, slots=True)
class PathEntry:
    node_id: str
    decision: str
    reason: str
    at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"node_id": self.node_id, "decision": self.decision, "reason": self.reason,
                "at": self.at.isoformat()}  # fmt: skip


@dataclass(frozen=True, slots=True)
class VirtualSend:
    node_id: str
    message_id: str
    channel: str
    at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"node_id": self.node_id, "message_id": self.message_id, "channel": self.channel,
                "at": self.at.isoformat()}  # fmt: skip


@dataclass
class VirtualRun:
    contact_id: int
    entered_at: datetime
    path: list[PathEntry] = field(default_factory=list)
    sends: list[VirtualSend] = field(default_factory=list)
    outcome: str = "waiting"  # finished | converted | waiting (still waiting at the horizon)
    ended_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"contact_id": self.contact_id, "entered_at": self.entered_at.isoformat(),
                "outcome": self.outcome, "path": [p.as_dict() for p in self.path],
                "sends": [s.as_dict() for s in self.sends]}  # fmt: skip


@dataclass
class DryRun:
    since: datetime
    until: datetime
    runs: list[VirtualRun] = field(default_factory=list)  # the simulated entries
    entered: int = 0  # every entry counted, simulated or not
    refused: int = 0  # occurrences the entry rules turned away
    complete: bool = True  # False: the window had more than MAX_COUNTED occurrences

    def by_node(self) -> dict[str, int]:
        """How many virtual runs reached each node."""
        return dict(Counter(n for r in self.runs for n in dict.fromkeys(p.node_id for p in r.path)))

    def as_dict(self) -> dict[str, Any]:
        return {"entered": self.entered, "contacts": [r.as_dict() for r in self.runs],
                "by_node": self.by_node(), "outcomes": summary(self.runs),
                "refused": self.refused, "simulated": len(self.runs),
                "truncated": len(self.runs) < self.entered or not self.complete,
                "complete": self.complete,
                "since": self.since.isoformat(), "until": self.until.isoformat()}  # fmt: skip


def may_enter(rule: EntryRule, last: datetime | None, active: int, at: datetime) -> bool:
    """The live entry rules (``entry.py``): concurrency, then once / once per / every time.

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> may_enter(EntryRule(), None, 0, t), may_enter(EntryRule(), t, 0, t)
    (True, False)
    >>> per = EntryRule(type="once_per", period={"amount": 1, "unit": "days"})
    >>> may_enter(per, t, 0, t + timedelta(hours=2)), may_enter(per, t, 0, t + timedelta(days=1))
    (False, True)
    >>> may_enter(EntryRule(type="every_time"), t, 1, t)
    False
    """
    if active >= rule.max_concurrent:
        return False
    if last is None or rule.type == "every_time":
        return True
    if rule.type == "once":
        return False
    return rule.period is None or at - last >= rule.period.delta()


def dry_run(cur: Any, workspace_id: str, journey: Journey, *, journey_id: str,
            since: datetime, until: datetime, limit: int, now: datetime) -> DryRun:  # fmt: skip
    """Replay ``[since, until)`` through ``journey``: the first ``limit`` entries simulated
    (followed up to ``now``), the rest only counted, up to :data:`MAX_COUNTED` occurrences."""
    out = DryRun(since, until)
    history: dict[int, list[tuple[datetime, datetime | None]]] = {}  # (entered, ended)
    names = event_names(journey)
    for seen, candidate in enumerate(candidates(cur, workspace_id, journey, journey_id,
                                                since, until)):  # fmt: skip
        if seen >= MAX_COUNTED:
            out.complete = False
            break
        mine = history.setdefault(candidate.contact_id, [])
        active = sum(1 for _, ended in mine if ended is None or ended > candidate.at)
        last = mine[-1][0] if mine else None
        if not may_enter(journey.entry.rule, last, active, candidate.at):
            out.refused += 1
            continue
        out.entered += 1
        if len(out.runs) >= limit:  # counted, not simulated: taken as ended on entry
            mine.append((candidate.at, candidate.at))
            continue
        run = simulate(cur, workspace_id, journey, _run_of(journey_id, journey, candidate), now,
                       names)  # fmt: skip
        mine.append((run.entered_at, run.ended_at))
        out.runs.append(run)
    return out


def _run_of(journey_id: str, journey: Journey, c: Candidate) -> Run:
    digest = hashlib.sha256(f"{journey_id}\x1f{c.key}".encode()).hexdigest()[:28]
    return Run(run_id=f"dry_{digest}", contact_id=c.contact_id, node_id=journey.start,
               node_entered_at=c.at, entered_at=c.at, context=c.context)  # fmt: skip


def simulate(cur: Any, workspace_id: str, journey: Journey, run: Run, horizon: datetime,
             names: frozenset[str] | None = None) -> VirtualRun:  # fmt: skip
    """One virtual run from its entry to its end, or to ``horizon`` while it still waits."""
    names = event_names(journey) if names is None else names
    facts = HistoricalFacts(cur, workspace_id, run.contact_id, run.entered_at, names)
    out = VirtualRun(run.contact_id, run.entered_at)
    out.path.append(PathEntry(run.node_id, "entered", _entered_reason(run), run.entered_at))
    now = run.entered_at
    for _ in range(MAX_WAKES):
        facts.moment = now
        step = advance(journey, run, facts, now)
        _record(out, facts, step, now)
        if step.finished:
            out.outcome, out.ended_at = _finished(step), now
            return out
        wake = _next_wake(facts, step, horizon)
        converted = _goal_before(
            journey, facts, now, horizon if wake is None else min(wake, horizon)
        )
        if converted is not None:
            _convert(out, journey, step.node_id, converted)
            return out
        if wake is None or wake > horizon:
            return out
        now = wake
        run = Run(run.run_id, run.contact_id, step.node_id, step.node_entered_at,
                  run.entered_at, run.context)  # fmt: skip
    return out


def _entered_reason(run: Run) -> str:
    return f"triggered by {run.context.get('event', 'the trigger')}"


def _record(out: VirtualRun, facts: HistoricalFacts, step: Step, now: datetime) -> None:
    out.path += [PathEntry(t.node_id, t.decision, t.reason, now) for t in step.trace]
    for send in step.sends:
        facts.sent[send.send_id] = now
        channel = send.cascade[0] if send.cascade else "email"
        out.sends.append(VirtualSend(send.node_id, send.message_id, channel, now))


def _finished(step: Step) -> str:
    return "converted" if any(t.decision == "converted" for t in step.trace) else "finished"


def _next_wake(facts: HistoricalFacts, step: Step, horizon: datetime) -> datetime | None:
    """When the run would be advanced next: its timer, or earlier the event it waits for."""
    wake = step.wake_at
    if step.waiting_for is not None:
        until = min(wake, horizon) if wake is not None else horizon
        seen = facts.first_matching(step.waiting_for, (), step.node_entered_at, until)
        if seen is not None:
            return max(seen, step.node_entered_at)
    return wake


def _goal_before(journey: Journey, facts: HistoricalFacts, after: datetime, until: datetime
                 ) -> datetime | None:  # fmt: skip
    """When the journey goal event happened while the run was active in ``(after, until]``."""
    goal = journey.goal
    if goal is None:
        return None
    return facts.first_matching(goal.event, goal.where, after + timedelta(microseconds=1), until)


def _convert(out: VirtualRun, journey: Journey, node_id: str, at: datetime) -> None:
    assert journey.goal is not None
    reason = f"goal {journey.goal.name!r}: {journey.goal.event!r} while active"
    out.path.append(PathEntry(node_id, "converted", reason, at))
    out.outcome, out.ended_at = "converted", at


def summary(runs: Iterable[VirtualRun]) -> dict[str, int]:
    """Virtual runs per outcome."""
    return dict(Counter(r.outcome for r in runs))
