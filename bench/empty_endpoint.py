"""The single-event bound's baseline: an empty FastAPI endpoint under the same uvicorn.

Issue #2 states the ``/v1/track`` bound beside it ("an empty FastAPI endpoint does about
6,800 requests/s here"), so ``bench_ingest`` serves this app the same way it serves
``retenta serve`` (uvicorn, uvloop and httptools, one worker, no access log) and drives it
with the same wrk script: every ``POST /v1/<endpoint>`` is answered ``{"success": true}``
without reading the body, and ``/healthz`` answers so the bench can wait for it.

Run: ``python -m bench.empty_endpoint PORT``.
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.post("/v1/{endpoint}")
async def accept(endpoint: str) -> dict[str, bool]:
    return {"success": True}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def main(port: int) -> None:
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main(int(sys.argv[1]))
