"""``POST /api/v1/journeys/{id}/dry-run`` (a saved journey, its current version or one
given) and
``POST /api/v1/journeys/dry-run`` (a draft ``definition``): who would have entered in a
past window and what each would have got. Read-only (``journeys/dryrun.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from retenta.errors import ApiError, field_path
from retenta.journeys.definition import DefinitionError, Journey, parse
from retenta.journeys.dryrun import dry_run
from retenta.journeys.dryrun_facts import UnsupportedTriggerError
from retenta.tenancy.deps import api_principal, container, require_role
from retenta.tenancy.service import Principal

router = APIRouter(prefix="/api/v1", tags=["journeys"])
DEFAULT_WINDOW = timedelta(days=7)
MAX_WINDOW = timedelta(days=93)
DEFINITION_SQL = (
    "SELECT v.definition FROM journeys j JOIN journey_versions v ON v.workspace_id ="
    " j.workspace_id AND v.journey_id = j.id AND v.version = coalesce(?, j.version)"
    " WHERE j.workspace_id = ? AND j.id = ?"
)


class Window(BaseModel):
    """The past window to replay; ``until`` defaults to now, ``since`` to a week before."""

    model_config = ConfigDict(extra="forbid")
    since: datetime | None = None
    until: datetime | None = None
    limit: int = Field(default=100, ge=1, le=1000)


class SavedWindow(Window):
    version: int | None = Field(default=None, ge=1)  # default: the current version


class DraftWindow(Window):
    definition: dict[str, Any]


@router.post("/journeys/dry-run")
def dry_run_draft(request: Request, body: Any = Body(...), p: Principal = Depends(api_principal)
                  ) -> dict[str, Any]:  # fmt: skip
    """Dry-run a draft definition (nothing saved)."""
    require_role(p, "analyst")
    window = _window(DraftWindow, body)
    assert isinstance(window, DraftWindow)
    try:
        journey = parse(window.definition)
    except DefinitionError as exc:
        raise _invalid(exc, "definition.") from exc
    return _run(request, p.workspace_id, journey, "draft", window)


@router.post("/journeys/{journey_id}/dry-run")
def dry_run_saved(journey_id: str, request: Request, body: Any = Body(default=None),
                  p: Principal = Depends(api_principal)) -> dict[str, Any]:  # fmt: skip
    """Dry-run a saved journey: its current version, or ``version``."""
    require_role(p, "analyst")
    window = _window(SavedWindow, body or {})
    assert isinstance(window, SavedWindow)
    with container(request).db.read() as cur:
        row = cur.execute(DEFINITION_SQL, [window.version, p.workspace_id, journey_id]
                          ).fetchone()  # fmt: skip
    if row is None:
        what = "no such journey" if window.version is None else "no such journey version"
        raise ApiError(404, "not_found", what)
    try:
        journey = parse(orjson.loads(row[0]))
    except DefinitionError as exc:
        raise _invalid(exc, "") from exc
    return _run(request, p.workspace_id, journey, journey_id, window)


def _run(request: Request, workspace_id: str, journey: Journey, journey_id: str,
         window: Window) -> dict[str, Any]:  # fmt: skip
    now = datetime.now(UTC)
    until = min(window.until or now, now)
    since = window.since or until - DEFAULT_WINDOW
    _check_window(since, until)
    with container(request).db.read() as cur:
        try:
            result = dry_run(cur, workspace_id, journey, journey_id=journey_id, since=since,
                             until=until, limit=window.limit, now=now)  # fmt: skip
        except UnsupportedTriggerError as exc:
            raise ApiError(422, "unsupported_trigger", str(exc),
                           field="entry.trigger.type") from exc  # fmt: skip
    return result.as_dict()


def _window(model: type[Window], body: Any) -> Window:
    if not isinstance(body, dict):
        raise ApiError(422, "validation_error", "the body is a JSON object", field="body")
    try:
        window = model.model_validate(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        path = field_path(error["loc"]) or "body"
        raise ApiError(422, "validation_error", f"{path}: {error['msg']}", field=path) from exc
    for name in ("since", "until"):
        value = getattr(window, name)
        if value is not None and value.tzinfo is None:
            raise ApiError(422, "validation_error", f"{name}: give a UTC offset, e.g."
                           " 2026-11-20T00:00:00Z", field=name)  # fmt: skip
    return window


def _check_window(since: datetime, until: datetime) -> None:
    if since >= until:
        raise ApiError(422, "validation_error", "since: must be before until (and the present)",
                       field="since")  # fmt: skip
    if until - since > MAX_WINDOW:
        raise ApiError(422, "validation_error", f"since: a window is at most {MAX_WINDOW.days}"
                       " days", field="since")  # fmt: skip


def _invalid(exc: DefinitionError, prefix: str) -> ApiError:
    details = [{**e, "path": prefix + e["path"]} for e in exc.errors]
    return ApiError(422, "invalid_journey", str(exc), field=details[0]["path"], details=details)
