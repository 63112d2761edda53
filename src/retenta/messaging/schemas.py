"""Request bodies of the messaging API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class EmailVersionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=998)
    preheader: str = Field(default="", max_length=1000)
    mjml: str = Field(min_length=1, max_length=500_000)


class PreviewIn(BaseModel):
    """Render a message (all its language versions) as one contact would receive it."""

    model_config = ConfigDict(extra="forbid")

    versions: dict[str, EmailVersionIn] = Field(min_length=1, max_length=30)
    default_language: str | None = Field(default=None, max_length=35)
    contact_id: int | None = Field(default=None, ge=1, le=2**62)
    language: str | None = Field(default=None, max_length=35, description="overrides the contact's")
    accept_language: str | None = Field(default=None, max_length=500)
    locale: str | None = Field(default=None, max_length=35)
    variables: dict[str, Any] = Field(default_factory=dict)


class SuppressionIn(BaseModel):
    """Suppress one email address or phone number."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    reason: Literal["hard_bounce", "complaint", "unsubscribed", "manual"] = "manual"
    source: str = Field(default="api", min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_value(self) -> SuppressionIn:
        if (self.address is None) == (self.phone is None):
            raise ValueError("give exactly one of address or phone")
        return self


class PromoPoolIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    kind: Literal["generated", "imported"] = "generated"
    length: int = Field(default=8, ge=6, le=20, description="random characters (generated)")
    prefix: str = Field(default="", pattern=r"^[A-Z0-9]{0,10}$")
    expires_at: datetime | None = None

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must include a time zone offset, e.g. 2026-01-01T10:00:00Z")
        return value


class PromoCodesIn(BaseModel):
    """Generate ``generate`` codes, or import ``codes``."""

    model_config = ConfigDict(extra="forbid")

    generate: int | None = Field(default=None, ge=1, le=1_000_000)
    codes: list[str] | None = Field(default=None, min_length=1, max_length=1_000_000)
    expires_at: datetime | None = None

    @model_validator(mode="after")
    def _one_way(self) -> PromoCodesIn:
        if (self.generate is None) == (self.codes is None):
            raise ValueError("give exactly one of generate or codes")
        return self


class PromoIssueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message_id: str = Field(min_length=1, max_length=200)
    contact_ids: list[int] = Field(min_length=1, max_length=100_000)
