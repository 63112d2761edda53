"""A ready scenario as data: its parameters, the messages and segments it prebuilds, and a
function from (parameters, prebuilt ids) to a journey document — plus node builders."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from retenta.errors import ApiError
from retenta.journeys.scenarios.content import Copy

Params = Mapping[str, Any]
PARAM_TYPES = ("integer", "number", "text", "boolean", "choice")


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: Any
    label: str
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "type": self.type, "default": self.default, "label": self.label}
        if self.choices:
            out["choices"] = list(self.choices)
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        return out

    def check(self, value: Any) -> Any:
        """The value, checked; a wrong one raises a 422 naming ``params.<name>``."""
        ok = {
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "text": isinstance(value, str) and len(value) <= 500 and (value or self.default == ""),
            "boolean": isinstance(value, bool),
            "choice": value in self.choices,
        }[self.type]
        if not ok:
            expected = f"one of {list(self.choices)}" if self.type == "choice" else f"a {self.type}"
            _bad(self.name, f"expected {expected}, got {value!r}")
        if self.minimum is not None and value < self.minimum:
            _bad(self.name, f"must be at least {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            _bad(self.name, f"must be at most {self.maximum}")
        return value


def _bad(name: str, reason: str) -> None:
    raise ApiError(422, "validation_error", f"params.{name}: {reason}", field=f"params.{name}")


@dataclass(frozen=True)
class Prebuilt:
    """The ids of what a scenario made before its journey: ``messages[key]``, ``segments[key]``."""

    messages: dict[str, str] = field(default_factory=dict)
    segments: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Template:
    key: str
    name: str
    description: str
    params: tuple[Param, ...]
    messages: Callable[[Params], dict[str, Copy]]
    journey: Callable[[Params, Prebuilt], dict[str, Any]]
    segments: Callable[[Params], dict[str, dict[str, Any]]] = lambda _p: {}
    events: tuple[str, ...] = ()  # the events it listens to (documentation, the gallery)

    def summary(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "description": self.description,
                "events": list(self.events),
                "params": [p.as_dict() for p in self.params]}  # fmt: skip

    def bind(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with ``given``; unknown names and bad values are 422s."""
        known = {p.name: p for p in self.params}
        for name in given:
            if name not in known:
                _bad(name, f"unknown parameter (known: {', '.join(known) or 'none'})")
        return {p.name: p.check(given[p.name]) if p.name in given else p.default
                for p in self.params}  # fmt: skip


# --- node builders ---------------------------------------------------------------------


def send(node_id: str, message_id: str, after: str, *, channels: str = "email",
         category: str = "trigger") -> dict[str, Any]:  # fmt: skip
    cascade = [c.strip() for c in channels.split(",") if c.strip()]
    return {"id": node_id, "type": "send", "message_id": message_id, "cascade": cascade,
            "category": category, "next": after}  # fmt: skip


def wait(node_id: str, amount: float, unit: str, after: str) -> dict[str, Any]:
    return {"id": node_id, "type": "wait", "duration": {"amount": int(amount), "unit": unit},
            "next": after}  # fmt: skip


def wait_event(node_id: str, event: str, amount: float, unit: str, then: str, otherwise: str
               ) -> dict[str, Any]:  # fmt: skip
    return {"id": node_id, "type": "wait_event", "event": event,
            "timeout": {"amount": int(amount), "unit": unit},
            "then": then, "else": otherwise}  # fmt: skip


def happened(node_id: str, event: str, then: str, otherwise: str) -> dict[str, Any]:
    """Branch on whether ``event`` happened since the run entered."""
    return {"id": node_id, "type": "condition",
            "if": {"kind": "event_happened", "event": event, "since": "entry"},
            "then": then, "else": otherwise}  # fmt: skip


SEND_TIMES = ("now", "best", "09:00", "10:00", "12:00", "18:00", "19:00")


def send_time_param(default: str = "best") -> Param:
    return Param("send_time", "choice", default, "Send at (the contact's local time; best:"
                 " the contact's best hour)", SEND_TIMES)  # fmt: skip


def at_send_time(
    when: str, target: str, node_id: str = "send_time"
) -> tuple[str, list[dict[str, Any]]]:
    """Where to go for a send at ``when``: the send itself (``now``), or a ``wait_until`` of
    the contact's local time (``best``: the contact's best hour) in front of it.

    >>> at_send_time("now", "send")
    ('send', [])
    >>> at_send_time("best", "send")[1][0]["at"]
    'best'
    """
    if when == "now":
        return target, []
    return node_id, [{"id": node_id, "type": "wait_until", "at": when, "timezone": "contact",
                      "next": target}]  # fmt: skip


def done(node_id: str = "done") -> dict[str, Any]:
    return {"id": node_id, "type": "exit"}


def event_trigger(event: str, *where: dict[str, Any]) -> dict[str, Any]:
    return {"type": "event", "event": event, "where": list(where)}


def rule(kind: str = "once", *, days: float | None = None, concurrent: int = 1) -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind, "max_concurrent": concurrent}
    if days is not None:
        out["period"] = {"amount": int(days), "unit": "days"}
    return out


def journey(name: str, trigger: dict[str, Any], entry_rule: dict[str, Any], start: str,
            *nodes: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    return {"name": name, "entry": {"trigger": trigger, "rule": entry_rule}, "start": start,
            "nodes": list(nodes)}  # fmt: skip
