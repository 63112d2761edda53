"""The engine's visits to the action nodes (pure): each fills the step and returns the next
node, or None when the run waits or has finished.

Side effects are data (``Step.effects``, ``Step.sends``) with ids from (run, node[, channel
index]); ``effects.py`` and the send ledger do each once, so a replayed step repeats nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import Any

from retenta.journeys.nodes import (
    CascadeNode,
    GoalNode,
    ListNode,
    UpdateContactNode,
    WaitUntilNode,
    WebhookNode,
    clock_time,
    zone,
)
from retenta.journeys.steps import (
    Effect,
    Facts,
    MessageState,
    Run,
    SendAction,
    Step,
    cascade_send_id,
    marker,
    send_id_for,
)
from retenta.journeys.timing import next_local_time

RECHECK = timedelta(minutes=15)  # a cascade send not yet handed over (policy-deferred)
_TEMPLATES: dict[str, Any] = {}
MAX_TEMPLATES = 4_096


def update_contact(node: UpdateContactNode, run: Run, step: Step, facts: Facts) -> str:
    variables = {"contact": facts.contact(), "trigger": dict(run.context)}
    values: dict[str, Any] = {}
    for name, value in node.set.items():
        try:
            values[name] = render_value(value, variables, f"{node.id}.set.{name}")
        except ValueError as exc:
            step.note(node.id, "skipped", f"{name} not set: {exc}")
    if values or node.unset:
        spec = {"set": values, "unset": list(node.unset)}
        step.effects.append(Effect(node.id, send_id_for(run.run_id, node.id), "update_contact",
                                   spec))  # fmt: skip
        said = [f"set {', '.join(values)}"] if values else []
        said += [f"unset {', '.join(node.unset)}"] if node.unset else []
        step.note(node.id, "updated", "; ".join(said))
    return node.next


def list_membership(node: ListNode, run: Run, step: Step) -> str:
    spec = {"action": node.action, "kind": node.kind, "name": node.name}
    step.effects.append(Effect(node.id, send_id_for(run.run_id, node.id), "list", spec))
    where = "to" if node.action == "add" else "from"
    step.note(node.id, "updated", f"{node.action} {node.kind} {node.name!r}"
              if node.kind == "tag" else f"{node.action} {where} list {node.name!r}")  # fmt: skip
    return node.next


def webhook(node: WebhookNode, run: Run, step: Step, facts: Facts) -> str:
    variables = {"contact": facts.contact(), "trigger": dict(run.context)}
    try:
        headers = {k: str(render_value(v, variables, f"{node.id}.headers.{k}"))
                   for k, v in node.headers.items()}  # fmt: skip
        body = render_json(node.body, variables, f"{node.id}.body")
    except ValueError as exc:
        step.note(node.id, "skipped", f"webhook not called: {exc}")
        return node.next
    effect_id = send_id_for(run.run_id, node.id)
    spec = {"url": node.url, "method": node.method, "headers": headers, "body": body}
    step.effects.append(Effect(node.id, effect_id, "webhook", spec))
    step.note(node.id, "called", f"{node.method} {node.url} queued as {effect_id}")
    return node.next


def goal(node: GoalNode, run: Run, step: Step, facts: Facts) -> str | None:
    if node.event is not None and not facts.event_matching(node.event, node.where,
                                                            run.entered_at):  # fmt: skip
        step.note(node.id, "branch", f"goal {node.name!r} not met: no {node.event!r} since entry")
        return node.next
    convert(step, run, node.id, node.name, "reached" if node.event is None
            else f"{node.event!r} since entry")  # fmt: skip
    return None


def convert(step: Step, run: Run, node_id: str, name: str, why: str) -> None:
    """The run reached its goal: recorded once (journey_goals) and finished."""
    step.effects.append(Effect(node_id, send_id_for(run.run_id, node_id), "goal", {"goal": name}))
    step.finished = True
    step.note(node_id, "converted", f"goal {name!r}: {why}")


def wait_until(node: WaitUntilNode, step: Step, facts: Facts, now: datetime) -> str | None:
    zone_name = facts.timezone() if node.timezone == "contact" else node.timezone
    try:
        tz = zone(zone_name)
    except ValueError:
        zone_name, tz = "UTC", zone("UTC")
    at = time(facts.best_hour() % 24) if node.at == "best" else clock_time(node.at)
    due = next_local_time(step.node_entered_at, at, tz, node.weekdays)
    label = f"{at:%H:%M} {zone_name}" + (" (best hour)" if node.at == "best" else "")
    if now >= due:
        step.note(node.id, "waited", f"{label} came")
        return node.next
    step.wake_at = due
    step.note(node.id, "waiting", f"until {label} ({due:%Y-%m-%d %H:%M}Z)")
    return None


def cascade(node: CascadeNode, run: Run, step: Step, facts: Facts, now: datetime) -> str | None:
    """One channel at a time. Channels before the last one already sent were decided in an
    earlier step (their trace was written then); the walk starts at that one."""
    states = [facts.message(cascade_send_id(run.run_id, node.id, i))
              for i in range(len(node.channels))]  # fmt: skip
    tried = [i for i, s in enumerate(states) if s is not None]
    for index in range(tried[-1] if tried else 0, len(node.channels)):
        channel, state = node.channels[index], states[index]
        if state is None:
            if _try_channel(node, run, step, facts, now, index):
                return None
            continue
        outcome = _settled(node, channel, state, now)
        if outcome == "done":
            step.note(node.id, "branch", f"{channel} {_goal_word(node)}")
            return node.next
        if outcome is not None:
            step.note(node.id, "skipped", f"{channel} left: {outcome}")
            continue
        step.wake_at = (now + RECHECK if state.handed_at is None
                        else state.handed_at + node.within.delta())  # fmt: skip
        step.waiting_for = marker(_goal_word(node), cascade_send_id(run.run_id, node.id, index))
        step.note(node.id, "waiting", f"for {channel} to be {_goal_word(node)} until"
                  f" {step.wake_at:%Y-%m-%d %H:%M}Z")  # fmt: skip
        return None
    step.note(node.id, "branch", f"no channel left for {node.message_id}")
    return node.next


def _try_channel(node: CascadeNode, run: Run, step: Step, facts: Facts, now: datetime,
                 index: int) -> bool:  # fmt: skip
    """Send on the channel and wait, or say why it is skipped; True when sent."""
    channel = node.channels[index]
    allowed, why = facts.can_receive(channel, node.category, node.topic)
    if not allowed:
        step.note(node.id, "skipped", f"{channel}: {why}")
        return False
    send_id = cascade_send_id(run.run_id, node.id, index)
    step.sends.append(SendAction(node.id, send_id, node.message_id, (channel,), node.category,
                                 node.topic))  # fmt: skip
    step.wake_at = now + node.within.delta()
    step.waiting_for = marker(_goal_word(node), send_id)  # a report wakes it: reports.py
    step.note(node.id, "sent", f"{node.message_id} on {channel} queued as {send_id}")
    step.note(node.id, "waiting", f"for {channel} to be {_goal_word(node)} within"
              f" {node.within.amount} {node.within.unit} of its hand-over")  # fmt: skip
    return True


def _settled(node: CascadeNode, channel: str, state: MessageState, now: datetime) -> str | None:
    """ "done" (delivered/opened), why the channel is left, or None (keep waiting)."""
    if state.reached("delivered" if node.move_on == "not_delivered" else "opened"):
        return "done"
    if state.failed:
        return f"{state.status} ({state.error})" if state.error else state.status
    if state.handed_at is not None and now >= state.handed_at + node.within.delta():
        return f"not {_goal_word(node)} within {node.within.amount} {node.within.unit}"
    return None


def _goal_word(node: CascadeNode) -> str:
    return "delivered" if node.move_on == "not_delivered" else "opened"


def render_value(value: Any, variables: Mapping[str, Any], name: str) -> Any:
    """A string with ``{{ … }}`` rendered in the messaging sandbox; other values as they are.

    >>> render_value("Hi {{ contact.first_name }}", {"contact": {"first_name": "Ann"}}, "x")
    'Hi Ann'
    >>> render_value(5, {}, "x")
    5
    """
    if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
        return value
    from retenta.messaging.templates import RenderError, compile_template

    try:
        template = _TEMPLATES.get(value)
        if template is None:
            if len(_TEMPLATES) >= MAX_TEMPLATES:
                _TEMPLATES.clear()
            template = _TEMPLATES[value] = compile_template(value, name=name, html=False)
        return template.render(variables)
    except RenderError as exc:
        raise ValueError(f"template {name}: {exc.reason}") from None


def render_json(value: Any, variables: Mapping[str, Any], name: str) -> Any:
    """Every string in a JSON value rendered (keys stay as they are)."""
    if isinstance(value, Mapping):
        return {k: render_json(v, variables, f"{name}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render_json(v, variables, f"{name}[{i}]") for i, v in enumerate(value)]
    return render_value(value, variables, name)
