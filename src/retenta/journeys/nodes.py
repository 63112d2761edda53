"""The action nodes of a journey: update contact, list/tag, webhook, goal, wait until a time of
day, the channel cascade, and the message-status condition (issue #5 items 2-3).

The models only say what a node is; what it does is the engine's (``engine.py``, pure) and
the side effects' executor's (``effects.py``). ``node_errors`` holds the checks pydantic
cannot make alone (templates compile, time zones exist, header names are tokens), each with
the path of the field to fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import time
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from retenta.journeys.triggers import Duration, PropertyFilter, Strict

TRAIT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$")
HEADER = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")  # RFC 9110 token
RESERVED_HEADERS = frozenset({"content-type", "user-agent", "idempotency-key",
                              "retenta-signature", "host", "content-length"})  # fmt: skip
CASCADE_CHANNELS = ("push", "email", "viber", "sms", "inapp")
MESSAGE_STATUSES = ("delivered", "opened", "clicked")


class UpdateContactNode(Strict):
    """Set traits (a value, or a ``{{ template }}`` over ``contact`` and ``trigger``) and unset
    others."""

    id: str
    type: Literal["update_contact"]
    set: dict[str, Any] = Field(default_factory=dict)
    unset: tuple[str, ...] = ()
    next: str


class ListNode(Strict):
    """Add the contact to (or remove it from) a list, or give (take away) a tag."""

    id: str
    type: Literal["list"]
    action: Literal["add", "remove"]
    kind: Literal["list", "tag"] = "list"
    name: str = Field(min_length=1, max_length=100)
    next: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value != value.strip():
            raise ValueError("a list or tag name has no leading or trailing spaces")
        return value


class WebhookNode(Strict):
    """One HTTP call to another system, made once per run (Idempotency-Key from run and node).

    String values of ``body`` and ``headers`` may be templates, like ``update_contact``'s."""

    id: str
    type: Literal["webhook"]
    url: str = Field(min_length=1, max_length=2000)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    next: str


class GoalNode(Strict):
    """A conversion point. With ``event``: converted when that event (matching ``where``)
    happened since the run entered, else the run goes on to ``next``. Without: reaching the
    node is the conversion. A conversion ends the run."""

    id: str
    type: Literal["goal"]
    name: str = Field(min_length=1, max_length=200)
    event: str | None = Field(default=None, min_length=1, max_length=200)
    where: tuple[PropertyFilter, ...] = ()
    next: str | None = None


class JourneyGoal(Strict):
    """The journey-level goal: this event while a run is active ends it as converted."""

    name: str = Field(default="goal", min_length=1, max_length=200)
    event: str = Field(min_length=1, max_length=200)
    where: tuple[PropertyFilter, ...] = ()


class WaitUntilNode(Strict):
    """Until the next ``at`` (``HH:MM``, or ``best``: the contact's best hour) on one of
    ``weekdays`` (0 = Monday; null: any day) in the contact's time zone or a fixed one."""

    id: str
    type: Literal["wait_until"]
    at: str
    weekdays: tuple[int, ...] | None = None
    timezone: str = "contact"
    next: str

    @field_validator("at")
    @classmethod
    def _at(cls, value: str) -> str:
        if value != "best":
            clock_time(value)
        return value

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if value is not None and (not value or any(not 0 <= d <= 6 for d in value)):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday), at least one")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        if value != "contact":
            zone(value)
        return value


class CascadeNode(Strict):
    """One message over channels in order: the next channel is tried when the previous one
    was not delivered (or not opened) ``within`` its hand-over, or failed; channels the
    contact cannot receive or has not consented to are skipped."""

    id: str
    type: Literal["cascade"]
    message_id: str = Field(min_length=1, max_length=100)
    channels: tuple[Literal["push", "email", "viber", "sms", "inapp"], ...] = Field(
        min_length=1, max_length=5
    )
    move_on: Literal["not_delivered", "not_opened"] = "not_delivered"
    within: Duration = Duration(amount=1, unit="hours")
    category: Literal["transactional", "trigger", "promo"] = "trigger"
    topic: str | None = Field(default=None, min_length=1, max_length=100)
    next: str

    @field_validator("channels")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a channel appears twice")
        return value


class MessageStatusIs(Strict):
    """A condition on a previous message of this run: the send (or cascade) node's send was
    delivered / opened / clicked."""

    kind: Literal["message"]
    node: str = Field(min_length=1, max_length=200)
    status: Literal["delivered", "opened", "clicked"]


ActionNode = UpdateContactNode | ListNode | WebhookNode | GoalNode | WaitUntilNode | CascadeNode


def clock_time(value: str) -> time:
    """``HH:MM`` as a time; ValueError naming the format otherwise.

    >>> clock_time("09:30"), clock_time("23:59")
    (datetime.time(9, 30), datetime.time(23, 59))
    """
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", value)
    if not match:
        raise ValueError("at must be HH:MM (00:00-23:59) or 'best'")
    return time(int(match.group(1)), int(match.group(2)))


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone such as 'Europe/Kyiv'") from None


def node_errors(node: Any, where: str) -> Iterator[dict[str, str]]:
    """Checks beyond the field types, each with its path (``where`` is ``nodes[i]``)."""
    if isinstance(node, UpdateContactNode):
        yield from _update_errors(node, where)
    elif isinstance(node, WebhookNode):
        yield from _webhook_errors(node, where)
    elif isinstance(node, GoalNode) and node.event is not None and node.next is None:
        yield {"path": f"{where}.next", "reason": "a goal with an event needs next (where the"
               " run goes when the goal was not met)"}  # fmt: skip
    elif isinstance(node, GoalNode) and node.event is None and node.next is not None:
        yield {"path": f"{where}.next", "reason": "a goal without an event always converts and"
               " ends the run: it has no next"}  # fmt: skip


def _update_errors(node: UpdateContactNode, where: str) -> Iterator[dict[str, str]]:
    if not node.set and not node.unset:
        yield {"path": where, "reason": "set or unset at least one trait"}
    for name, value in node.set.items():
        if not TRAIT.match(name):
            yield {"path": f"{where}.set.{name}", "reason": "a trait name is a letter or _ then"
                   " letters, digits, _ . - (at most 100)"}  # fmt: skip
        yield from _template_errors(value, f"{where}.set.{name}")
    for position, name in enumerate(node.unset):
        if not TRAIT.match(name):
            yield {"path": f"{where}.unset[{position}]", "reason": "not a trait name"}
        if name in node.set:
            yield {"path": f"{where}.unset[{position}]", "reason": f"{name!r} is also set"}


def _webhook_errors(node: WebhookNode, where: str) -> Iterator[dict[str, str]]:
    parts = urlsplit(node.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        yield {"path": f"{where}.url", "reason": "an http(s) URL with a host"}
    elif "{" in node.url:
        yield {"path": f"{where}.url", "reason": "the URL is fixed (no templates)"}
    for name, value in node.headers.items():
        if not HEADER.match(name) or name.lower() in RESERVED_HEADERS:
            yield {"path": f"{where}.headers.{name}", "reason": "not a header name this node"
                   " may set"}  # fmt: skip
        yield from _template_errors(value, f"{where}.headers.{name}")
    if node.method in ("GET", "DELETE") and node.body not in (None, {}, ""):
        yield {"path": f"{where}.body", "reason": f"a {node.method} call carries no body"}
    yield from _template_errors(node.body, f"{where}.body")


def _template_errors(value: Any, path: str) -> Iterator[dict[str, str]]:
    """Every string inside ``value`` that is a template must compile in the sandbox."""
    from retenta.messaging.templates import RenderError, compile_template

    for sub_path, text in strings(value, path):
        if "{{" in text or "{%" in text:
            try:
                compile_template(text, name=sub_path, html=False)
            except RenderError as exc:
                yield {"path": sub_path, "reason": f"template: {exc.reason}"}


def strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """``(path, text)`` for each string in a JSON value.

    >>> list(strings({"a": ["x", 1, {"b": "y"}]}, "body"))
    [('body.a[0]', 'x'), ('body.a[2].b', 'y')]
    """
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from strings(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from strings(item, f"{path}[{index}]")
