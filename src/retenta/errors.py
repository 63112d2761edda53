"""One JSON shape for every error: ``{"error": {"code", "message", "field", "details"}}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    """An error a client caused or must know about; rendered as the project's error shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.details = details or []

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "field": self.field,
                "details": self.details,
            }
        }


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "batch", 3, "event")`` → ``"batch[3].event"``."""
    out = ""
    for part in loc:
        if part in ("body", "query", "path", "header"):
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def validation_details(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"field": field_path(e["loc"]), "reason": e["msg"]} for e in errors]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = validation_details(list(exc.errors()))
        first = details[0] if details else {"field": None, "reason": "invalid request"}
        err = ApiError(
            422,
            "validation_error",
            f"{first['field']}: {first['reason']}",
            field=first["field"],
            details=details,
        )
        return JSONResponse(err.body(), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        err = ApiError(exc.status_code, "http_error", str(exc.detail))
        return JSONResponse(err.body(), status_code=exc.status_code, headers=exc.headers)
