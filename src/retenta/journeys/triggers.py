"""Entry triggers and entry rules: what starts a journey's run, and when a contact may enter.

The shared model bases (``Strict``, ``Duration``, ``PropertyFilter``) live here too, so the
node models in ``definition.py`` import them from one place; ``definition`` re-exports all
of these names, so ``from retenta.journeys.definition import EventTrigger`` keeps working.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

UNIT_SECONDS = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}
OPS = ("equals", "not_equals", "gt", "gte", "lt", "lte", "exists", "contains", "in")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Duration(Strict):
    amount: int = Field(ge=0, le=100_000)
    unit: Literal["minutes", "hours", "days", "weeks"] = "hours"

    def delta(self) -> timedelta:
        return timedelta(seconds=self.amount * UNIT_SECONDS[self.unit])


class PropertyFilter(Strict):
    property: str = Field(min_length=1, max_length=200)
    op: Literal["equals", "not_equals", "gt", "gte", "lt", "lte", "exists", "contains", "in"]
    value: Any = None


class EventTrigger(Strict):
    type: Literal["event"]
    event: str = Field(min_length=1, max_length=200)
    where: tuple[PropertyFilter, ...] = ()


class ApiTrigger(Strict):
    """Runs started by ``POST /api/v1/journeys/{id}/runs`` (a backend, a call centre)."""

    type: Literal["api"]


class SegmentTrigger(Strict):
    """Contacts entering (or leaving) a segment, read from its durable entry/exit log."""

    type: Literal["segment"]
    segment_id: str = Field(min_length=1, max_length=100)
    on: Literal["entered", "exited"] = "entered"


ZONE_HELP = '"contact" (each contact\'s own timezone) or an IANA name such as "Europe/Kyiv"'


def check_zone(value: str) -> str:
    """``"contact"`` or a known IANA zone.

    >>> check_zone("Europe/Kyiv"), check_zone("contact")
    ('Europe/Kyiv', 'contact')
    """
    if value == "contact":
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {value!r}: use {ZONE_HELP}") from None
    return value


def check_cron(value: str) -> str:
    """Five cron fields (minute hour day-of-month month day-of-week), as Debian cron reads them.

    >>> check_cron("0 9 * * 1")
    '0 9 * * 1'
    """
    if len(value.split()) != 5:
        raise ValueError("cron needs exactly 5 fields: minute hour day-of-month month weekday")
    try:
        CronSim(value, datetime(2000, 1, 1))
    except CronSimError as exc:
        raise ValueError(f"bad cron expression: {exc}") from None
    return value


class ScheduleTrigger(Strict):
    """A segment's current members enter at each cron time ("every Monday at 9:00"), in each
    contact's own timezone or one fixed zone."""

    type: Literal["schedule"]
    cron: str = Field(min_length=1, max_length=200)
    timezone: str = "contact"
    segment_id: str = Field(min_length=1, max_length=100)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)


class DateOffset(Strict):
    amount: int = Field(default=0, ge=0, le=3650)
    unit: Literal["days", "weeks"] = "days"

    def days(self) -> int:
        return self.amount * (7 if self.unit == "weeks" else 1)


class DateTrigger(Strict):
    """A date trait ± an offset, at a local time: "3 days before the birthday at 09:00".
    ``yearly`` matches the month and day every year (a 29 February falls on the 28th in
    other years); otherwise the whole date, once."""

    type: Literal["date"]
    attribute: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    offset: DateOffset = DateOffset()
    direction: Literal["before", "after"] = "before"
    at: time = time(9, 0)
    timezone: str = "contact"
    yearly: bool = True

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)

    @field_validator("at")
    @classmethod
    def _minute(cls, value: time) -> time:
        if value.second or value.microsecond or value.tzinfo is not None:
            raise ValueError('at is a local time of day as "HH:MM"')
        return value


class SubscriptionTrigger(Strict):
    """A consent change on a channel: ``topic`` null is the channel as a whole (topic ``*``)."""

    type: Literal["subscription"]
    channel: str = Field(min_length=1, max_length=40)
    topic: str | None = Field(default=None, min_length=1, max_length=100)
    on: Literal["subscribed", "unsubscribed"] = "subscribed"


class ListTrigger(Strict):
    """A contact joined or left a list, or got or lost a tag."""

    type: Literal["list"]
    kind: Literal["list", "tag"] = "list"
    name: str = Field(min_length=1, max_length=200)
    on: Literal["joined", "left"] = "joined"


class MessageTrigger(Strict):
    """A message event (first of its kind per send; machine opens and clicks do not count)."""

    type: Literal["message"]
    on: Literal["delivered", "opened", "clicked", "failed", "bounced"]
    message_id: str | None = Field(default=None, min_length=1, max_length=100)
    campaign_id: str | None = Field(default=None, min_length=1, max_length=100)
    journey_id: str | None = Field(default=None, min_length=1, max_length=100)
    channel: str | None = Field(default=None, min_length=1, max_length=40)


class GoalTrigger(Strict):
    """A run of another journey reached its goal."""

    type: Literal["goal"]
    journey_id: str = Field(min_length=1, max_length=100)
    goal: str | None = Field(default=None, min_length=1, max_length=200)


Trigger = Annotated[
    EventTrigger
    | ApiTrigger
    | SegmentTrigger
    | ScheduleTrigger
    | DateTrigger
    | SubscriptionTrigger
    | ListTrigger
    | MessageTrigger
    | GoalTrigger,
    Field(discriminator="type"),
]


class EntryRule(Strict):
    """Once ever, once per period, or every time; at most ``max_concurrent`` runs at once."""

    type: Literal["once", "once_per", "every_time"] = "once"
    period: Duration | None = None
    max_concurrent: int = Field(default=1, ge=1, le=100)

    @model_validator(mode="after")
    def _period(self) -> EntryRule:
        if self.type == "once_per" and self.period is None:
            raise ValueError("once_per needs a period")
        return self


class Entry(Strict):
    trigger: Trigger
    rule: EntryRule = EntryRule()
