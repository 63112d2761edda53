"""Entry triggers and entry rules: what starts a journey's run, and when a contact may enter.

The shared model bases (``Strict``, ``Duration``, ``PropertyFilter``) live here too, so the
node models in ``definition.py`` import them from one place; ``definition`` re-exports all
of these names, so ``from retenta.journeys.definition import EventTrigger`` keeps working.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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


Trigger = Annotated[EventTrigger | ApiTrigger | SegmentTrigger, Field(discriminator="type")]


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
