"""The contact policy of a workspace, as data.

>>> p = Policy.model_validate({"caps": [{"channel": "email", "max": 2,
...     "per": {"amount": 7, "unit": "days"}}], "quiet_hours": {"start": "21:00", "end": "09:00"}})
>>> p.caps[0].categories, p.quiet_hours.action
(('trigger', 'promo'), 'defer')
"""

from __future__ import annotations

from datetime import time, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Category = Literal["transactional", "trigger", "promo"]
UNIT_SECONDS = {"hours": 3600, "days": 86400, "weeks": 604800}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Period(Strict):
    amount: int = Field(ge=1, le=366)
    unit: Literal["hours", "days", "weeks"] = "days"

    def delta(self) -> timedelta:
        return timedelta(seconds=self.amount * UNIT_SECONDS[self.unit])


class Cap(Strict):
    """At most ``max`` messages on ``channel`` (of these categories) per period.

    ``window``: ``rolling`` (the last ``per``), or the contact's calendar ``day``/``week``
    (``per`` is then ignored). ``action``: what to do with one over the cap.
    """

    channel: str = Field(min_length=1, max_length=32)
    max: int = Field(ge=0, le=1000)
    per: Period = Period(amount=1, unit="days")
    window: Literal["rolling", "day", "week"] = "rolling"
    categories: tuple[Category, ...] = ("trigger", "promo")
    action: Literal["defer", "drop"] = "defer"


class QuietHours(Strict):
    """No messages between ``start`` and ``end`` local time (may span midnight)."""

    start: time
    end: time
    channels: tuple[str, ...] = ("email", "sms", "viber", "push")
    categories: tuple[Category, ...] = ("trigger", "promo")
    action: Literal["defer", "drop"] = "defer"

    @field_validator("end")
    @classmethod
    def _not_empty(cls, end: time, info: object) -> time:
        start = getattr(info, "data", {}).get("start")
        if start is not None and start == end:
            raise ValueError("start and end are the same: the quiet hours would be empty")
        return end


class Fatigue(Strict):
    """Skip a message when the contact did not open any of the last ``unopened`` ones."""

    channel: str = "email"
    unopened: int = Field(ge=1, le=100)
    categories: tuple[Category, ...] = ("promo",)


class Policy(Strict):
    caps: tuple[Cap, ...] = ()
    quiet_hours: QuietHours | None = None
    fatigue: tuple[Fatigue, ...] = ()
    default_timezone: str = "UTC"
