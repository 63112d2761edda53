"""The pure engine: waits, event waits, conditions, splits, sends — deterministic and traced."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from retenta.journeys.definition import parse
from retenta.journeys.engine import Run, advance, send_id_for, split_branch
from tests.journeys.test_definition import CART

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


@dataclass
class FakeFacts:
    events: list[tuple[str, datetime]] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    segments: set[str] = field(default_factory=set)

    def event_since(self, event: str, since: datetime | None) -> bool:
        return any(e == event and (since is None or at >= since) for e, at in self.events)

    def attribute(self, name: str) -> Any:
        return self.attributes.get(name)

    def in_segment(self, segment_id: str) -> bool:
        return segment_id in self.segments


def start(run_id: str = "run_a") -> Run:
    return Run(run_id, 7, "wait", T0, T0, {"event": "Checkout Started"})


def test_waits_for_the_event_until_the_timeout() -> None:
    journey = parse(CART)
    step = advance(journey, start(), FakeFacts(), T0 + timedelta(minutes=5))
    assert (step.node_id, step.wake_at, step.waiting_for, step.sends) == (
        "wait", T0 + timedelta(hours=1), "Order Completed", [],
    )  # fmt: skip
    assert step.trace[-1].decision == "waiting"


def test_a_purchase_in_time_ends_the_run_without_a_message() -> None:
    facts = FakeFacts(events=[("Order Completed", T0 + timedelta(minutes=20))])
    step = advance(parse(CART), start(), facts, T0 + timedelta(minutes=21))
    assert step.finished
    assert step.sends == []
    assert [t.decision for t in step.trace] == ["branch", "exit"]


def test_no_purchase_sends_the_reminder_with_a_stable_id() -> None:
    journey = parse(CART)
    later = T0 + timedelta(hours=1)
    first = advance(journey, start(), FakeFacts(), later)
    again = advance(journey, start(), FakeFacts(), later)  # the same step replayed
    assert first.finished
    assert first.sends[0].send_id == send_id_for("run_a", "remind") == again.sends[0].send_id
    assert first.sends[0].cascade == ("push", "email")
    assert [s.message_id for s in first.sends] == [s.message_id for s in again.sends]


def test_a_split_is_fixed_per_run_and_proportional() -> None:
    picks = [split_branch(f"run_{n}", "ab", [90, 10]) for n in range(10_000)]
    assert picks == [split_branch(f"run_{n}", "ab", [90, 10]) for n in range(10_000)]
    holdout = picks.count(1) / len(picks)
    assert 0.085 < holdout < 0.115


def test_a_condition_on_an_attribute() -> None:
    journey = parse({
        "name": "VIP", "entry": {"trigger": {"type": "api"}}, "start": "vip",
        "nodes": [
            {"id": "vip", "type": "condition",
             "if": {"kind": "attribute", "attribute": "tier", "op": "equals", "value": "gold"},
             "then": "thanks", "else": "out"},
            {"id": "thanks", "type": "send", "message_id": "msg_vip", "next": "out"},
            {"id": "out", "type": "exit"},
        ],
    })  # fmt: skip
    run = Run("run_v", 1, "vip", T0, T0)
    gold = advance(journey, run, FakeFacts(attributes={"tier": "gold"}), T0)
    plain = advance(journey, run, FakeFacts(), T0)
    assert [s.message_id for s in gold.sends] == ["msg_vip"]
    assert plain.sends == []
    assert plain.trace[0].reason == "tier equals: no"


def test_a_fixed_wait() -> None:
    journey = parse({
        "name": "Later", "entry": {"trigger": {"type": "api"}}, "start": "w",
        "nodes": [{"id": "w", "type": "wait", "duration": {"amount": 2, "unit": "days"},
                   "next": "s"},
                  {"id": "s", "type": "send", "message_id": "m", "next": "x"},
                  {"id": "x", "type": "exit"}],
    })  # fmt: skip
    run = Run("run_w", 1, "w", T0, T0)
    early = advance(journey, run, FakeFacts(), T0 + timedelta(days=1))
    due = advance(journey, run, FakeFacts(), T0 + timedelta(days=2))
    assert early.wake_at == T0 + timedelta(days=2)
    assert early.sends == []
    assert due.finished
    assert len(due.sends) == 1
