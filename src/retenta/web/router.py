"""Serves the single-page UI built by Vite into ``static/`` and the log-in endpoints.

Client routes are listed explicitly rather than caught by a ``/{path}`` wildcard, so the
UI can never shadow ``/api``, ``/v1``, ``/healthz``, ``/openapi.json`` or ``/docs``, whatever
order the routers are mounted in.
"""

from __future__ import annotations

import gzip
import mimetypes
import re
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from retenta.errors import not_found
from retenta.web.auth import router as auth_router
from retenta.web.channel_keys import router as channel_keys_router

STATIC_DIR = Path(__file__).parent / "static"
CLIENT_ROUTES = (
    "/",
    "/login",
    "/contacts",
    "/contacts/{rest:path}",
    "/imports",
    "/imports/{rest:path}",
    "/dead-letters",
    "/segments",
    "/segments/{rest:path}",
    "/messages",
    "/messages/{rest:path}",
    "/journeys",
    "/journeys/{rest:path}",
    "/policy",
    "/campaigns",
    "/campaigns/{rest:path}",
    "/settings",
)
ROOT_FILES = ("favicon.svg",)
ASSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
IMMUTABLE = "public, max-age=31536000, immutable"  # Vite puts a content hash in asset names
COMPRESSIBLE = (".js", ".css", ".svg", ".json", ".map")

NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Retenta</title>
<body style="font-family:system-ui;margin:4rem auto;max-width:40rem">
<h1>The UI is not built</h1><p>Run <code>bash scripts/setup.sh</code> (or
<code>cd ui &amp;&amp; npm ci &amp;&amp; npm run build</code>) and reload. The API works meanwhile:
see <a href="/docs">/docs</a>.</p></body>"""

router = APIRouter()
router.include_router(auth_router)
router.include_router(channel_keys_router)


def index_page() -> Response:
    """The SPA shell; never cached, so a new build is picked up on the next load."""
    index = STATIC_DIR / "index.html"
    if not index.is_file():
        return HTMLResponse(NOT_BUILT, status_code=503)
    return FileResponse(index, media_type="text/html", headers={"Cache-Control": "no-cache"})


def asset_path(name: str) -> Path | None:
    """The built file ``assets/<name>``; None for anything else (no path traversal).

    >>> asset_path("../secret.key") is None
    True
    """
    if not ASSET_NAME.match(name):
        return None
    path = STATIC_DIR / "assets" / name
    return path if path.is_file() else None


for _route in CLIENT_ROUTES:
    router.add_api_route(
        _route, index_page, methods=["GET"], response_class=HTMLResponse, include_in_schema=False
    )


@lru_cache(maxsize=64)
def gzipped(path: Path, mtime_ns: int) -> bytes:
    """The file gzip-compressed, once per version (``mtime_ns`` keys the cache)."""
    return gzip.compress(path.read_bytes(), compresslevel=6)


def accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "").lower()


@router.get("/assets/{name}", include_in_schema=False)
def asset(name: str, request: Request) -> Response:
    path = asset_path(name)
    if path is None:
        raise not_found("asset")
    if path.suffix in COMPRESSIBLE and accepts_gzip(request):
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        headers = {
            "Cache-Control": IMMUTABLE,
            "Content-Encoding": "gzip",
            "Vary": "Accept-Encoding",
        }
        body = gzipped(path, path.stat().st_mtime_ns)
        return Response(body, media_type=media_type, headers=headers)
    return FileResponse(path, headers={"Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding"})


@router.get("/favicon.svg", include_in_schema=False)
def favicon() -> Response:
    path = STATIC_DIR / "favicon.svg"
    if not path.is_file():
        raise not_found("favicon")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})
