"""The action nodes in the pure engine: what each step says to do (effects, sends, waits) and
why, from facts given in the test; and the definition checks with their paths."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from retenta.journeys.definition import DefinitionError, parse
from retenta.journeys.engine import MessageState, Run, advance, cascade_send_id, send_id_for

T0 = datetime(2026, 3, 20, 10, 0, tzinfo=UTC)


@dataclass
class Facts:
    """Answers set by the test (the runner's ``ContactFacts`` reads them from storage)."""

    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)
    messages: dict[str, MessageState] = field(default_factory=dict)
    blocked: dict[str, str] = field(default_factory=dict)  # channel -> why not
    zone: str = "UTC"
    hour: int = 19

    def event_since(self, event: str, since: datetime | None) -> bool:
        return bool(self.events.get(event))

    def event_matching(self, event: str, where: Sequence[Any], since: datetime | None) -> bool:
        return any(
            all(props.get(f.property) == f.value for f in where)
            for props in self.events.get(event, [])
        )

    def attribute(self, name: str) -> Any:
        return self.traits.get(name)

    def in_segment(self, segment_id: str) -> bool:
        return False

    def message(self, send_id: str) -> MessageState | None:
        return self.messages.get(send_id)

    def can_receive(self, channel: str, category: str, topic: str | None) -> tuple[bool, str]:
        why = self.blocked.get(channel)
        return (False, why) if why else (True, "subscribed")

    def timezone(self) -> str:
        return self.zone

    def best_hour(self) -> int:
        return self.hour

    def contact(self) -> Mapping[str, Any]:
        return {**self.traits, "contact_id": 7, "attributes": self.traits}


def journey(*nodes: dict[str, Any], goal: dict[str, Any] | None = None) -> Any:
    doc: dict[str, Any] = {
        "name": "J",
        "entry": {"trigger": {"type": "event", "event": "Checkout Started"}},
        "start": nodes[0]["id"],
        "nodes": [*nodes, {"id": "end", "type": "exit"}],
    }
    if goal:
        doc["goal"] = goal
    return parse(doc)


def run_at(node: str, at: datetime = T0, **context: Any) -> Run:
    return Run("run_1", 7, node, at, at, context or {"properties": {"cart_id": "C-9"}})


def test_update_contact_renders_templates_over_the_trigger_and_the_contact() -> None:
    j = journey({"id": "u", "type": "update_contact", "next": "end",
                 "set": {"last_cart": "{{ trigger.properties.cart_id }}", "vip": True,
                         "greeting": "Hi {{ contact.first_name }}"},
                 "unset": ["churn_risk"]})  # fmt: skip
    step = advance(j, run_at("u"), Facts(traits={"first_name": "Olena"}), T0)
    [effect] = step.effects
    assert effect.kind == "update_contact"
    assert effect.effect_id == send_id_for("run_1", "u")
    assert effect.spec == {"set": {"last_cart": "C-9", "vip": True, "greeting": "Hi Olena"},
                           "unset": ["churn_risk"]}  # fmt: skip
    assert step.finished
    assert [t.decision for t in step.trace] == ["updated", "exit"]


def test_a_template_that_fails_skips_that_trait_with_the_reason() -> None:
    j = journey({"id": "u", "type": "update_contact", "next": "end",
                 "set": {"n": "{{ 1 // 0 }}", "ok": "yes"}})  # fmt: skip
    step = advance(j, run_at("u"), Facts(), T0)
    assert step.effects[0].spec["set"] == {"ok": "yes"}
    assert "ZeroDivisionError" in step.trace[0].reason
    assert step.trace[0].decision == "skipped"


def test_list_and_webhook_nodes_are_effects_with_ids_from_run_and_node() -> None:
    j = journey(
        {"id": "tag", "type": "list", "action": "add", "kind": "tag", "name": "vip",
         "next": "hook"},
        {"id": "hook", "type": "webhook", "url": "https://crm.example/leads",
         "headers": {"X-Cart": "{{ trigger.properties.cart_id }}"},
         "body": {"contact": "{{ contact.contact_id }}",
                  "items": ["{{ trigger.properties.cart_id }}", 2]},
         "next": "end"},
    )  # fmt: skip
    step = advance(j, run_at("tag"), Facts(), T0)
    assert [(e.kind, e.effect_id) for e in step.effects] == [
        ("list", send_id_for("run_1", "tag")),
        ("webhook", send_id_for("run_1", "hook")),
    ]
    assert step.effects[0].spec == {"action": "add", "kind": "tag", "name": "vip"}
    assert step.effects[1].spec == {"url": "https://crm.example/leads", "method": "POST",
                                    "headers": {"X-Cart": "C-9"},
                                    "body": {"contact": "7", "items": ["C-9", 2]}}  # fmt: skip
    again = advance(j, run_at("tag"), Facts(), T0)  # a replay: the very same effects
    assert again.effects == step.effects


def test_goal_node_converts_when_its_event_happened_else_goes_on() -> None:
    j = journey({"id": "g", "type": "goal", "name": "Purchased", "event": "Order Completed",
                 "where": [{"property": "total", "op": "equals", "value": 80}],
                 "next": "end"})  # fmt: skip
    not_yet = advance(j, run_at("g"), Facts(events={"Order Completed": [{"total": 5}]}), T0)
    assert not_yet.effects == []
    assert not_yet.trace[0].decision == "branch"
    assert not_yet.node_id == "end"
    met = advance(j, run_at("g"), Facts(events={"Order Completed": [{"total": 80}]}), T0)
    assert met.finished
    assert met.node_id == "g"
    assert [(e.kind, dict(e.spec)) for e in met.effects] == [("goal", {"goal": "Purchased"})]
    assert [t.decision for t in met.trace] == ["converted"]


def test_wait_until_nine_in_kyiv_across_the_spring_dst_change() -> None:
    # Saturday 28 March 2026 12:00 UTC; Kyiv moves from +2 to +3 on Sunday 29 March 03:00.
    j = journey({"id": "w", "type": "wait_until", "at": "09:00", "weekdays": [0],
                 "timezone": "contact", "next": "end"})  # fmt: skip
    entered = datetime(2026, 3, 28, 12, tzinfo=UTC)
    facts = Facts(zone="Europe/Kyiv")
    step = advance(j, run_at("w", entered), facts, entered)
    assert step.wake_at == datetime(2026, 3, 30, 6, tzinfo=UTC)  # Monday 09:00 EEST (+3)
    assert step.trace[0].decision == "waiting"
    assert "Europe/Kyiv" in step.trace[0].reason
    early = advance(j, run_at("w", entered), facts, datetime(2026, 3, 30, 5, 59, tzinfo=UTC))
    assert early.wake_at == step.wake_at
    assert not early.finished
    due = advance(j, run_at("w", entered), facts, datetime(2026, 3, 30, 6, tzinfo=UTC))
    assert due.finished
    assert due.trace[0].decision == "waited"
    before = advance(j, run_at("w", datetime(2026, 3, 21, 12, tzinfo=UTC)), facts, T0)
    assert before.wake_at == datetime(2026, 3, 23, 7, tzinfo=UTC)  # a week earlier: EET (+2)


def test_wait_until_in_new_york_across_the_autumn_change_and_a_fixed_zone() -> None:
    j = journey({"id": "w", "type": "wait_until", "at": "01:30",
                 "timezone": "America/New_York", "next": "end"})  # fmt: skip
    entered = datetime(2026, 11, 1, 4, tzinfo=UTC)  # 00:00 EDT on the fall-back day
    step = advance(j, run_at("w", entered), Facts(zone="Asia/Tokyo"), entered)
    assert step.wake_at == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # the first 01:30 (EDT)
    after = datetime(2026, 11, 2, 4, tzinfo=UTC)  # Sunday 23:00 EST: Monday 01:30 EST is next
    later = advance(j, run_at("w", after), Facts(), after)
    assert later.wake_at == datetime(2026, 11, 2, 6, 30, tzinfo=UTC)
    spring = datetime(2026, 3, 8, 5, tzinfo=UTC)  # 00:00 EST; 02:00-03:00 does not exist
    gap = journey({"id": "w", "type": "wait_until", "at": "02:30",
                   "timezone": "America/New_York", "next": "end"})  # fmt: skip
    assert advance(gap, run_at("w", spring), Facts(), spring).wake_at == datetime(
        2026, 3, 8, 7, tzinfo=UTC
    )  # 03:00 EDT: the moment the clock jumps past 02:30


def test_wait_until_best_uses_the_contact_best_hour() -> None:
    j = journey({"id": "w", "type": "wait_until", "at": "best", "next": "end"})
    step = advance(j, run_at("w"), Facts(zone="Europe/Kyiv", hour=19), T0)
    assert step.wake_at == datetime(2026, 3, 20, 17, tzinfo=UTC)  # 19:00 EET
    assert "best hour" in step.trace[0].reason


def test_message_status_condition_reads_the_send_of_that_node() -> None:
    j = journey(
        {"id": "mail", "type": "send", "message_id": "msg_1", "next": "c"},
        {"id": "c", "type": "condition", "if": {"kind": "message", "node": "mail",
                                                  "status": "opened"},
         "then": "end", "else": "other"},
        {"id": "other", "type": "exit"},
    )  # fmt: skip
    mine = send_id_for("run_1", "mail")
    opened = Facts(messages={mine: MessageState("sent", T0, frozenset({"sent", "clicked"}))})
    assert advance(j, run_at("c"), opened, T0).node_id == "end"  # a click implies an open
    delivered = Facts(messages={mine: MessageState("delivered", T0, frozenset({"delivered"}))})
    assert advance(j, run_at("c"), delivered, T0).node_id == "other"
    assert advance(j, run_at("c"), Facts(), T0).node_id == "other"


def test_cascade_skips_what_the_contact_cannot_receive_and_sends_the_next() -> None:
    j = journey({"id": "cas", "type": "cascade", "message_id": "msg_cart",
                 "channels": ["push", "email", "sms"], "within": {"amount": 1, "unit": "hours"},
                 "next": "end"})  # fmt: skip
    facts = Facts(blocked={"push": "no push subscription or device"})
    step = advance(j, run_at("cas"), facts, T0)
    [send] = step.sends
    assert (send.send_id, send.cascade) == (cascade_send_id("run_1", "cas", 1), ("email",))
    assert [(t.decision, t.reason) for t in step.trace] == [
        ("skipped", "push: no push subscription or device"),
        ("sent", f"msg_cart on email queued as {send.send_id}"),
        ("waiting", "for email to be delivered within 1 hours of its hand-over"),
    ]
    assert step.wake_at == T0 + timedelta(hours=1)


def test_cascade_moves_on_when_not_delivered_within_the_time() -> None:
    j = journey({"id": "cas", "type": "cascade", "message_id": "m",
                 "channels": ["email", "viber", "sms"], "within": {"amount": 1, "unit": "hours"},
                 "next": "end"})  # fmt: skip
    email = cascade_send_id("run_1", "cas", 0)
    handed = T0 + timedelta(minutes=2)
    facts = Facts(messages={email: MessageState("sent", handed, frozenset({"queued", "sent"}))},
                  blocked={"viber": "no_consent"})  # fmt: skip
    waiting = advance(j, run_at("cas"), facts, T0 + timedelta(minutes=30))
    assert waiting.sends == []
    assert waiting.wake_at == handed + timedelta(hours=1)
    moved = advance(j, run_at("cas"), facts, handed + timedelta(hours=1))
    assert [s.cascade for s in moved.sends] == [("sms",)]
    assert [t.reason for t in moved.trace][:2] == ["email left: not delivered within 1 hours",
                                                   "viber: no_consent"]  # fmt: skip
    # Later wakes start at the last channel tried: earlier decisions are not traced again.
    sms = cascade_send_id("run_1", "cas", 2)
    facts.messages[sms] = MessageState("delivered", handed, frozenset({"delivered"}))
    done = advance(j, run_at("cas"), facts, handed + timedelta(hours=2))
    assert done.finished
    assert [t.reason for t in done.trace] == ["sms delivered", "reached the exit"]


def test_cascade_moves_on_at_once_after_a_failure_and_waits_for_a_deferred_send() -> None:
    j = journey({"id": "cas", "type": "cascade", "message_id": "m", "move_on": "not_opened",
                 "channels": ["email", "sms"], "next": "end"})  # fmt: skip
    email = cascade_send_id("run_1", "cas", 0)
    bounced = Facts(messages={email: MessageState("bounced", T0, frozenset({"bounced"}),
                                                  "550 5.1.1 no such user")})  # fmt: skip
    step = advance(j, run_at("cas"), bounced, T0 + timedelta(minutes=1))
    assert [s.cascade for s in step.sends] == [("sms",)]
    assert step.trace[0].reason == "email left: bounced (550 5.1.1 no such user)"
    deferred = Facts(messages={email: MessageState("queued", None, frozenset({"queued"}))})
    held = advance(j, run_at("cas"), deferred, T0 + timedelta(hours=5))
    assert held.sends == []
    assert held.wake_at == T0 + timedelta(hours=5, minutes=15)
    delivered = Facts(messages={email: MessageState("delivered", T0, frozenset({"delivered"}))})
    still = advance(j, run_at("cas"), delivered, T0 + timedelta(minutes=10))
    assert still.sends == []
    assert not still.finished


def test_cascade_with_no_channel_left_goes_on() -> None:
    j = journey({"id": "cas", "type": "cascade", "message_id": "m", "channels": ["sms"],
                 "next": "end"})  # fmt: skip
    step = advance(j, run_at("cas"), Facts(blocked={"sms": "no phone"}), T0)
    assert step.finished
    assert step.sends == []
    assert [t.reason for t in step.trace][:2] == ["sms: no phone", "no channel left for m"]


@pytest.mark.parametrize(
    ("node", "path", "reason"),
    [
        ({"type": "update_contact", "next": "end"}, "nodes[0]", "set or unset"),
        ({"type": "update_contact", "set": {"a": "{{ x"}, "next": "end"}, "nodes[0].set.a",
         "template"),
        ({"type": "update_contact", "set": {"a": 1}, "unset": ["a"], "next": "end"},
         "nodes[0].unset[0]", "also set"),
        ({"type": "webhook", "url": "ftp://x", "next": "end"}, "nodes[0].url", "http(s)"),
        ({"type": "webhook", "url": "https://x.example", "headers": {"Idempotency-Key": "k"},
          "next": "end"}, "nodes[0].headers.Idempotency-Key", "header"),
        ({"type": "webhook", "url": "https://x.example", "body": {"a": ["{% if %}"]},
          "next": "end"}, "nodes[0].body.a[0]", "template"),
        ({"type": "webhook", "url": "https://x.example", "method": "DELETE", "body": {"a": 1},
          "next": "end"}, "nodes[0].body", "a DELETE call carries no body"),
        ({"type": "wait_until", "at": "25:00", "next": "end"}, "nodes[0].at", "HH:MM"),
        ({"type": "wait_until", "at": "09:00", "timezone": "Mars/Base", "next": "end"},
         "nodes[0].timezone", "IANA"),
        ({"type": "wait_until", "at": "09:00", "weekdays": [7], "next": "end"},
         "nodes[0].weekdays", "0 (Monday)"),
        ({"type": "cascade", "message_id": "m", "channels": ["email", "email"], "next": "end"},
         "nodes[0].channels", "twice"),
        ({"type": "cascade", "message_id": "m", "channels": ["fax"], "next": "end"},
         "nodes[0].channels[0]", "push"),
        ({"type": "goal", "name": "G", "event": "Order Completed"}, "nodes[0].next", "needs"),
        ({"type": "list", "action": "add", "name": " vip", "next": "end"}, "nodes[0].name",
         "spaces"),
        ({"type": "condition", "if": {"kind": "message", "node": "end", "status": "opened"},
          "then": "end", "else": "end"}, "nodes[0].if.node", "no send or cascade node"),
    ],
)  # fmt: skip
def test_bad_nodes_are_refused_with_the_path(node: dict[str, Any], path: str, reason: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        journey({"id": "n", **node})
    found = {e["path"]: e["reason"] for e in caught.value.errors}
    assert path in found, found
    assert reason in found[path]


def test_a_goal_without_event_is_a_terminal_node() -> None:
    doc = {"name": "J", "entry": {"trigger": {"type": "event", "event": "Signed Up"}},
           "start": "g", "nodes": [{"id": "g", "type": "goal", "name": "Reached"}]}  # fmt: skip
    j = parse(doc)
    step = advance(j, run_at("g"), Facts(), T0)
    assert step.finished
    assert [t.decision for t in step.trace] == ["converted"]
