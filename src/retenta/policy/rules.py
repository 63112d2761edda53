"""The contact policy of a workspace, as data.

>>> p = Policy.model_validate({"caps": [{"channel": "email", "max": 2,
...     "per": {"amount": 7, "unit": "days"}}], "quiet_hours": {"start": "21:00", "end": "09:00"}})
>>> p.caps[0].categories, p.quiet_hours.action
(('trigger', 'promo'), 'defer')
>>> p.priorities.of("trigger", None), p.priorities.of("promo", None)
(200, 100)
"""

from __future__ import annotations

from datetime import time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Category = Literal["transactional", "trigger", "promo"]
UNIT_SECONDS = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}
# The content channels a send goes out on (messaging/outbox/model.py SEND_CHANNELS).
CHANNELS = ("email", "push", "sms", "viber", "webhook", "inapp")
Channel = Literal["email", "push", "sms", "viber", "webhook", "inapp"]
Frequency = Literal["weekly", "monthly"]  # the preference centre's choices besides "any"
Level = Annotated[int, Field(ge=0, le=1000)]
LOOKBACK = timedelta(days=35)  # the longest history a rule may count (store.py reads this far)
SourceId = Annotated[str, StringConstraints(pattern=r"^(cmp|jny)_[A-Za-z0-9_-]{1,80}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Period(Strict):
    amount: int = Field(ge=1, le=366)
    unit: Literal["minutes", "hours", "days", "weeks"] = "days"

    def delta(self) -> timedelta:
        return timedelta(seconds=self.amount * UNIT_SECONDS[self.unit])


def _within_lookback(per: Period) -> Period:
    if per.delta() > LOOKBACK:
        raise ValueError(f"a rolling window may be at most {LOOKBACK.days} days")
    return per


class Cap(Strict):
    """At most ``max`` messages on ``channel`` (of these categories) per period.

    ``window``: ``rolling`` (the last ``per``), or the contact's calendar ``day``/``week``
    (``per`` is then ignored). ``action``: what to do with one over the cap.
    """

    channel: Channel
    max: int = Field(ge=0, le=1000)
    per: Period = Period(amount=1, unit="days")
    window: Literal["rolling", "day", "week"] = "rolling"
    categories: tuple[Category, ...] = ("trigger", "promo")
    action: Literal["defer", "drop"] = "defer"

    _per = field_validator("per")(_within_lookback)


class QuietHours(Strict):
    """No messages between ``start`` and ``end`` local time (may span midnight)."""

    start: time
    end: time
    channels: tuple[Channel, ...] = ("email", "sms", "viber", "push")
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

    channel: Channel = "email"
    unopened: int = Field(ge=1, le=100)
    categories: tuple[Category, ...] = ("promo",)


class Priorities(Strict):
    """How much a message matters when slots are short: the higher goes first and may
    pre-empt a lower one. By category, with overrides per campaign or journey id."""

    transactional: Level = 300
    trigger: Level = 200
    promo: Level = 100
    overrides: dict[SourceId, Level] = Field(default_factory=dict)

    def of(self, category: str, source_id: str | None) -> int:
        """The priority of a send of ``category`` from campaign/journey ``source_id``.

        >>> Priorities(overrides={"cmp_flash": 250}).of("promo", "cmp_flash")
        250
        """
        if source_id is not None and source_id in self.overrides:
            return self.overrides[source_id]
        level: int = getattr(self, category, self.promo)
        return level


class Preemption(Strict):
    """A queued higher-priority message due within ``horizon`` reserves its slot under a
    cap: a lower-priority one that would take that slot yields (``action``: as the rule
    that counts the slot says, or always ``defer`` / ``drop``)."""

    enabled: bool = True
    horizon: Period = Period(amount=15, unit="minutes")
    action: Literal["rule", "defer", "drop"] = "rule"


class FrequencyCap(Strict):
    """What a frequency choice in the preference centre means: ``max`` per window."""

    max: int = Field(default=1, ge=0, le=1000)
    per: Period = Period(amount=7, unit="days")
    window: Literal["rolling", "day", "week"] = "rolling"

    _per = field_validator("per")(_within_lookback)


class Preferences(Strict):
    """Each contact's own frequency (``contact_preferences.frequency``: any | weekly |
    monthly) enforced as a cap across ``channels`` for messages of ``categories``."""

    enabled: bool = True
    channels: tuple[Channel, ...] = ("email", "sms", "viber", "push")
    categories: tuple[Category, ...] = ("promo",)
    action: Literal["defer", "drop"] = "defer"
    frequencies: dict[Frequency, FrequencyCap] = Field(
        default_factory=lambda: {  # type: ignore[arg-type]
            "weekly": FrequencyCap(max=1, per=Period(amount=7, unit="days")),
            "monthly": FrequencyCap(max=1, per=Period(amount=30, unit="days")),
        }
    )


class Policy(Strict):
    caps: tuple[Cap, ...] = ()
    quiet_hours: QuietHours | None = None
    fatigue: tuple[Fatigue, ...] = ()
    priorities: Priorities = Priorities()
    preemption: Preemption = Preemption()
    preferences: Preferences = Preferences()
    default_timezone: str = "UTC"

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {name!r} (e.g. 'Europe/Kyiv')") from None
        return name

    @property
    def has_rules(self) -> bool:
        """Rules that hold messages whatever the contact chose (preferences aside)."""
        return bool(self.caps or self.quiet_hours or self.fatigue)
