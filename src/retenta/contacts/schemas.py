"""Request bodies of the profile API (the wire shape; checked before any service runs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

CHANNEL = r"^[a-z][a-z0-9_]{0,31}$"
LANGUAGE = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConsentIn(Strict):
    channel: str = Field(pattern=CHANNEL, description="email, sms, viber, webpush, …")
    topic: str = Field("*", min_length=1, max_length=100, description="'*' = the whole channel")
    status: Literal["subscribed", "unsubscribed", "pending"]
    source: str = Field("api", min_length=1, max_length=100)
    changed_at: datetime | None = Field(None, description="when the person decided; default now")

    @field_validator("changed_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must include a time zone offset, e.g. 2026-01-01T10:00:00Z")
        return value


class IdentifiersIn(Strict):
    email: str | None = None
    phone: str | None = None
    external_id: str | None = None
    anonymous_id: str | None = None
    push_token: str | None = None
    custom: dict[str, str] = Field(
        default_factory=dict, description="custom identifiers by name (configured custom keys)"
    )

    def given(self) -> dict[str, str]:
        """The base identifiers that were sent, by type."""
        base = self.model_dump(exclude={"custom"}, exclude_none=True)
        return {k: v for k, v in base.items() if v != ""}


class ContactUpsert(Strict):
    identifiers: IdentifiersIn
    attributes: dict[str, Any] = Field(default_factory=dict)
    language: str | None = Field(None, pattern=LANGUAGE, description="BCP 47, e.g. 'uk' or 'en-GB'")
    timezone: str | None = Field(None, description="IANA name, e.g. 'Europe/Kyiv'")
    consents: list[ConsentIn] = Field(default_factory=list)
