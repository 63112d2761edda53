"""The wire shape of a segment (POST/PUT bodies) and its checking into ``{path, reason}`` errors.

Bodies are checked here rather than by FastAPI so that every problem with a segment — a
missing name as much as a bad window deep in the definition — comes back the same way:
HTTP 400 with ``details: [{path, reason}]``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from retenta.errors import field_path

MAX_TAGS = 20
MAX_SAMPLE = 50


class SegmentIn(BaseModel):
    """What a client sends to create a segment (PUT: any subset of it)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=4000)
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    kind: Literal["rules", "sql"] = "rules"
    definition: dict[str, Any] | None = None
    sql: str | None = Field(None, max_length=100_000)
    params: dict[str, Any] | None = None
    realtime: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        cleaned: list[str] = []
        for tag in value:
            tag = tag.strip()
            if not tag or len(tag) > 64:
                raise ValueError("each tag is 1 to 64 characters")
            if tag not in cleaned:
                cleaned.append(tag)
        return cleaned


class PreviewIn(SegmentIn):
    """A preview does not need a name yet; ``sample`` = how many profiles to show."""

    name: str = Field("preview", max_length=200)
    sample: int = Field(10, ge=0, le=MAX_SAMPLE)


def problems(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic's errors as ``[{path, reason}]``.

    >>> try:
    ...     SegmentIn.model_validate({"name": "", "kind": "x"})
    ... except ValidationError as exc:
    ...     [p["path"] for p in problems(exc)]
    ['name', 'kind']
    """
    return [{"path": field_path(e["loc"]) or "body", "reason": e["msg"]} for e in exc.errors()]


def parse_body(
    body: Any, model: type[SegmentIn] = SegmentIn
) -> tuple[SegmentIn | None, list[dict[str, str]]]:
    """``(segment, [])`` or ``(None, errors)``; a body that is not an object is one error."""
    if not isinstance(body, dict):
        return None, [{"path": "body", "reason": "must be a JSON object"}]
    try:
        return model.model_validate(body), []
    except ValidationError as exc:
        return None, problems(exc)
