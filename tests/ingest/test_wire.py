"""The worker → writer encoding, and the pipeline's side of it (``IngestPipeline.submit``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import numpy as np
import pytest

from retenta.core.messages import Message
from retenta.errors import ApiError
from retenta.ingest import pipeline as pipeline_mod
from retenta.ingest import wire
from retenta.ingest.deadletters import DeadLetter
from retenta.ingest.dedup import hash_keys
from retenta.ingest.pipeline import OverloadedError
from retenta.ingest.units import IngestOutcome
from retenta.storage.duckdb.events import messages_to_base

T = datetime(2026, 11, 28, 10, 1, 2, 345678, tzinfo=UTC)


def message(i: int, **extra: object) -> Message:
    fields: dict[str, object] = {
        "workspace_id": "ws_a", "message_id": f"m{i}", "type": "track", "timestamp": T,
        "received_at": T, "event": "Order Completed", "user_id": f"u{i}",
        "properties": {"total": 10.1, "items": [{"sku": "ß-1", "qty": 2}], "big": 2**62},
        "context": {"locale": "uk-UA", "ip": "203.0.113.9", "page": {"url": "https://s/é"}},
    }  # fmt: skip
    return Message(**{**fields, **extra})  # type: ignore[arg-type]


def messages() -> list[Message]:
    return [
        message(1),
        message(2, type="alias", previous_id="anon-1", event=None, properties={}, context={}),
        message(3, type="group", group_id="g1", traits={"name": "Acme", "n": None}),
        message(4, original_timestamp=T, sent_at=T, source="import", anonymous_id="a4"),
    ]


def encoded(requests: list[tuple[list[Message], list[DeadLetter]]]) -> bytes:
    ms = [m for r, _ in requests for m in r]
    return wire.encode_unit(requests, hash_keys([(m.workspace_id, m.message_id) for m in ms]),
                            messages_to_base(ms))  # fmt: skip


def test_a_unit_decodes_to_equal_messages_columns_hashes_and_dead_letters() -> None:
    ms = messages()
    letter = DeadLetter("ws_a", T, "batch", {"event": 5}, [{"field": "x", "reason": "y"}])
    decoded = wire.decode_unit(encoded([(ms[:1], [letter]), (ms[1:], [])]))
    assert [list(r) for r, _ in decoded.requests] == [ms[:1], ms[1:]]
    assert [d for _, ds in decoded.requests for d in ds] == [letter]
    assert decoded.base.equals(messages_to_base(ms))
    keys = [(m.workspace_id, m.message_id) for m in ms]
    assert np.array_equal(decoded.hashes, hash_keys(keys))
    for got, want in zip(decoded.requests[1][0], ms[1:], strict=True):
        assert got.timestamp.tzinfo is want.timestamp.tzinfo  # datetime.UTC, not a look-alike


def test_a_unit_whose_parts_disagree_is_refused() -> None:
    ms = messages()
    payload = wire.encode_unit([(ms, [])], hash_keys([("ws_a", "m1")]), messages_to_base(ms))
    with pytest.raises(ValueError, match="4 messages: 4 in its requests, 1 hashes"):
        wire.decode_unit(payload)


def test_results_carry_outcomes_and_the_errors_to_answer_with() -> None:
    busy = OverloadedError(60_000)
    results = wire.decode_results(wire.encode_results([(3, 1, 0), busy, RuntimeError("disk")]))
    assert results[0] == (3, 1, 0)
    assert isinstance(results[1], dict)
    assert isinstance(results[2], dict)
    overloaded = wire.error_of(results[1])
    assert isinstance(overloaded, ApiError)
    assert (overloaded.status, overloaded.code, overloaded.message) == (503, "overloaded",
                                                                        busy.message)  # fmt: skip
    assert overloaded.retry_after_s == 1  # type: ignore[attr-defined]
    assert isinstance(wire.error_of(results[2]), wire.WriterFailedError)


@pytest.mark.acknowledge_after_commit  # outcomes after COMMIT (the journal's: test_journal)
def test_submit_queues_what_fits_and_refuses_the_rest(container, monkeypatch) -> None:
    """The backlog rule of ``ingest`` per request: the first that would pass the limit and
    every later one in the frame get 503 ``overloaded``; the others are stored."""
    monkeypatch.setattr(pipeline_mod, "MAX_BACKLOG_EVENTS", 3)
    ms = messages()
    decoded = wire.decode_unit(encoded([(ms[:2], []), (ms[2:3], []), (ms[3:], [])]))

    async def run() -> list[IngestOutcome | BaseException]:
        await container.ingest.start()
        try:
            container.ingest._backlog = 1  # one event already waiting
            waiters = container.ingest.submit(decoded.requests, decoded.hashes, decoded.base)
            container.ingest._backlog -= 1
            return await asyncio.gather(*waiters, return_exceptions=True)
        finally:
            await container.ingest.stop()

    first, second, third = asyncio.run(run())
    assert first == IngestOutcome(stored=2, duplicates=0, dropped=0)
    assert isinstance(second, OverloadedError)
    assert isinstance(third, OverloadedError)
    with container.db.read() as cur:
        stored = cur.execute("SELECT message_id FROM all_events ORDER BY 1").fetchall()
    assert stored == [("m1",), ("m2",)]
