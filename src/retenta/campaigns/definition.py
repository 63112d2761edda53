"""The JSON document of a campaign and its validation (every error names its field).

>>> c = parse({"name": "Sale", "segment_id": "seg_1", "message_id": "msg_a"})
>>> c.messages, c.channels, c.category, c.schedule.type, c.ab_test
(('msg_a',), ('email',), 'promo', 'now', None)
>>> ab = parse({"name": "Sale", "audience": "all_consented", "variants": ["msg_a", "msg_b"],
...             "ab_test": {"sample_pct": 20}})
>>> ab.messages, ab.ab_test.wait.delta(), ab.ab_test.metric
(('msg_a', 'msg_b'), datetime.timedelta(seconds=14400), 'clicks')
>>> parse({"name": "Sale", "segment_id": "seg_1", "message_id": "msg_a",
...        "schedule": {"send_time": "optimal"}}).schedule.send_time
'optimal'
"""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from retenta.errors import ApiError, field_path

CHANNELS = ("email", "push", "sms", "viber", "webhook", "inapp")
UNIT_SECONDS = {"minutes": 60, "hours": 3600, "days": 86400}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Duration(Strict):
    amount: int = Field(ge=1, le=10_000)
    unit: Literal["minutes", "hours", "days"] = "hours"

    def delta(self) -> timedelta:
        return timedelta(seconds=self.amount * UNIT_SECONDS[self.unit])


class Schedule(Strict):
    """``now``; ``at`` a moment; or ``local``: at ``time`` in each contact's own timezone
    (on ``date``, else the next such time after the campaign starts). ``send_time:
    "optimal"`` (with ``now`` or ``at``) sends each recipient at their best local hour
    (send-time optimization) within the 24 hours after the start."""

    type: Literal["now", "at", "local"] = "now"
    at: dt.datetime | None = None
    time: dt.time | None = None
    date: dt.date | None = None
    fallback_timezone: str | None = None  # for contacts without a (valid) timezone
    send_time: Literal["optimal"] | None = None

    @model_validator(mode="after")
    def _complete(self) -> Schedule:
        if self.type == "at" and (self.at is None or self.at.tzinfo is None):
            raise ValueError("'at' needs a moment with its UTC offset, e.g. 2026-12-01T10:00:00Z")
        if self.type == "local" and self.time is None:
            raise ValueError("'local' needs 'time' (HH:MM, the contact's local time)")
        if self.type != "local" and (self.time is not None or self.date is not None):
            raise ValueError("'time' and 'date' belong to a 'local' schedule")
        if self.type == "local" and self.send_time == "optimal":
            raise FieldError(
                "schedule.send_time",
                "'optimal' picks each contact's hour;"
                " a 'local' schedule already fixes one (use 'now' or 'at')",
            )
        return self

    @field_validator("fallback_timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown timezone {value!r}") from None
        return value


class ProviderRate(Strict):
    """At most ``per_second`` sends a second to addresses at these domains (one mailbox
    provider: ``["gmail.com", "googlemail.com"]``)."""

    domains: tuple[str, ...] = Field(min_length=1, max_length=50)
    per_second: float = Field(gt=0, le=100_000)

    @field_validator("domains")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = tuple(d.strip().lower() for d in value)
        if any(not d or "@" in d or " " in d for d in out):
            raise ValueError("a domain is a bare host name such as gmail.com")
        return out


class Throttle(Strict):
    """At most ``per_second`` sends of this campaign become due each second (overall; None:
    no overall limit), and at most each provider's rate to its domains."""

    per_second: float | None = Field(default=None, gt=0, le=100_000)
    per_provider: tuple[ProviderRate, ...] = Field(default=(), max_length=50)

    @model_validator(mode="after")
    def _some_limit(self) -> Throttle:
        if self.per_second is None and not self.per_provider:
            raise ValueError("give per_second, per_provider or both")
        seen = [d for rule in self.per_provider for d in rule.domains]
        if len(seen) != len(set(seen)):
            raise ValueError("a domain is in two per_provider rules")
        return self

    def domains(self) -> dict[str, int]:
        """``{domain: index of its rule}``."""
        return {d: i for i, rule in enumerate(self.per_provider) for d in rule.domains}


class AbTest(Strict):
    """Send each variant to an equal part of ``sample_pct`` of the audience, wait, then send
    the winner (``stats.pick_winner``) to the rest."""

    sample_pct: float = Field(default=20, gt=0, le=100)
    wait: Duration = Duration(amount=4, unit="hours")
    metric: Literal["clicks", "opens", "orders"] = "clicks"
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    min_sample: int = Field(default=100, ge=1, le=10_000_000)
    fallback: Literal["first", "leader"] = "first"


class Campaign(Strict):
    name: str = Field(min_length=1, max_length=200)
    audience: Literal["segment", "all_consented"] = "segment"
    segment_id: str | None = Field(default=None, min_length=1, max_length=100)
    message_id: str | None = Field(default=None, min_length=1, max_length=100)
    variants: tuple[str, ...] = ()
    channel: Literal["email", "push", "sms", "viber", "webhook", "inapp"] | None = None
    cascade: tuple[Literal["email", "push", "sms", "viber", "webhook", "inapp"], ...] = ()
    category: Literal["promo", "trigger"] = "promo"
    schedule: Schedule = Schedule()
    throttle: Throttle | None = None
    ab_test: AbTest | None = None
    holdout_pct: float = Field(default=0, ge=0, lt=100)
    data: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _coherent(self) -> Campaign:
        if self.audience == "segment" and self.segment_id is None:
            raise _at("segment_id", "a segment campaign needs segment_id")
        if self.audience == "all_consented" and self.segment_id is not None:
            raise _at("segment_id", "an all_consented campaign takes no segment_id")
        if (self.message_id is None) == (not self.variants):
            raise _at("message_id", "give message_id, or variants for an A/B/n test")
        if self.variants and not 2 <= len(self.variants) <= 5:
            raise _at("variants", "an A/B/n test has 2 to 5 variants")
        if len(set(self.variants)) != len(self.variants):
            raise _at("variants", "the variants repeat a message")
        if self.variants and self.ab_test is None:
            raise _at("ab_test", "variants need ab_test (sample_pct, wait, metric)")
        if self.ab_test is not None and not self.variants:
            raise _at("ab_test", "ab_test needs at least two variants")
        if self.channel is not None and self.cascade:
            raise _at("cascade", "give channel or cascade, not both")
        if len(set(self.cascade)) != len(self.cascade):
            raise _at("cascade", "a channel is repeated")
        return self

    @property
    def messages(self) -> tuple[str, ...]:
        """The message of each variant (one without an A/B test)."""
        return self.variants or (str(self.message_id),)

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels tried in order (``email`` when none is given)."""
        return tuple(self.cascade) or (self.channel or "email",)

    def document(self) -> dict[str, Any]:
        """The stored form (what a GET gives back)."""
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=False)


class FieldError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


def _at(field: str, reason: str) -> FieldError:
    return FieldError(field, reason)


def parse(doc: Any) -> Campaign:
    """A campaign from its JSON document; ``ApiError(422)`` naming the first bad field."""
    if not isinstance(doc, dict):
        raise ApiError(422, "validation_error", "a campaign is a JSON object", field="body")
    try:
        return Campaign.model_validate(doc)
    except ValidationError as exc:
        raise _invalid(exc) from None


def _invalid(exc: ValidationError) -> ApiError:
    details = []
    for error in exc.errors():
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):
            details.append({"field": cause.field, "reason": str(cause)})
        else:
            reason = str(error["msg"]).removeprefix("Value error, ")
            details.append({"field": field_path(error["loc"]) or "body", "reason": reason})
    first = details[0]
    return ApiError(422, "validation_error", f"{first['field']}: {first['reason']}",
                    field=first["field"], details=details)  # fmt: skip
