"""``ReadsAfterJournal``: which requests wait for journaled /v1 answers to be stored."""

from __future__ import annotations

import asyncio
import doctest
from types import SimpleNamespace
from typing import Any

import pytest

from retenta.web import after_journal
from retenta.web.after_journal import ReadsAfterJournal


class Pipeline:
    def __init__(self) -> None:
        self.waits = 0

    async def caught_up(self) -> None:
        self.waits += 1


def request(path: str, headers: list[tuple[bytes, bytes]], pipeline: Pipeline) -> dict[str, Any]:
    state = SimpleNamespace(container=SimpleNamespace(ingest=pipeline))
    return {"type": "http", "path": path, "headers": headers, "app": SimpleNamespace(state=state)}


async def _served(scope: dict[str, Any]) -> list[str]:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])

    await ReadsAfterJournal(app)(scope, None, None)  # type: ignore[arg-type]
    return seen


@pytest.mark.parametrize(
    ("path", "headers", "waits"),
    [
        ("/api/v1/contacts/lookup", [(b"authorization", b"Bearer rk_x")], 1),
        ("/api/v1/contacts/lookup", [(b"authorization", b"bearer rk_x")], 1),
        ("/api/v1/contacts/lookup", [(b"cookie", b"retenta_session=s")], 0),
        ("/v1/track", [(b"authorization", b"Basic d2s6")], 0),
        ("/ui/contacts", [(b"authorization", b"Bearer rk_x")], 0),
    ],
    ids=["api key", "lower-case scheme", "ui session", "ingestion", "ui page"],
)
def test_only_api_key_reads_wait(path: str, headers: list[tuple[bytes, bytes]], waits: int) -> None:
    """In either acknowledgement mode: the pipeline knows whether anything is pending."""
    pipeline = Pipeline()
    assert asyncio.run(_served(request(path, headers, pipeline))) == [path]
    assert pipeline.waits == waits


def test_examples() -> None:
    result = doctest.testmod(after_journal)
    assert result.attempted > 0
    assert result.failed == 0
