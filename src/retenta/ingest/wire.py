"""What an ingest worker and the writer process say to each other, as bytes.

A frame is ``<u32 payload length><u8 kind><u64 id>`` and the payload. Workers send
``AUTH`` (a write key; the answer is its workspace or nothing) and ``UNIT`` (one or more
parsed requests, prepared: a small JSON header with each request's size and dead letters,
the messages as one JSON array of rows, their filter hashes, and the events' Arrow columns
as an Arrow IPC stream). The writer answers a ``UNIT`` once every request in it is settled,
with one result per request: the outcome after COMMIT, or the error to answer with.
``TELEMETRY`` (no answer) carries what a worker counted of its answers since the last one
(``IngestTelemetry.take``), for the writer's ``/metrics``.

Why two encodings of the same events: the writer appends the Arrow columns as they are
(building them costs ~55 µs a unit plus ~2.5 µs an event), and it needs ``Message`` objects
for identity and commerce, which one ``orjson.loads`` of the rows gives at a fraction of
what reading them back out of Arrow columns costs (measured: ~150 µs fixed + ~6 µs an event
through ``to_pylist``).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from retenta.core.messages import Message
from retenta.errors import ApiError
from retenta.ingest.deadletters import DeadLetter
from retenta.storage.duckdb.events import BASE_SCHEMA

FRAME = struct.Struct("<IBQ")
AUTH, AUTH_REPLY, UNIT, UNIT_REPLY, TELEMETRY = 1, 2, 3, 4, 5
MAX_FRAME_BYTES = 256 * 1024 * 1024
_U32 = struct.Struct("<I")

Request = tuple[Sequence[Message], Sequence[DeadLetter]]


def frame(kind: int, frame_id: int, payload: bytes) -> bytes:
    """One frame, ready to write.

    >>> frame(AUTH, 7, b"k")[:13] == FRAME.pack(1, AUTH, 7)
    True
    """
    return FRAME.pack(len(payload), kind, frame_id) + payload


@dataclass(frozen=True)
class DecodedUnit:
    requests: list[Request]
    hashes: np.ndarray
    base: pa.Table  # BASE_SCHEMA: what the pipeline appends


def encode_unit(requests: Sequence[Request], hashes: np.ndarray, base: pa.Table) -> bytes:
    """Requests prepared by a worker (``base`` is ``messages_to_base`` of their messages)."""
    header = orjson.dumps([[len(m), [_letter(d) for d in dls]] for m, dls in requests])
    rows = orjson.dumps([_row(m) for ms, _ in requests for m in ms])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, BASE_SCHEMA) as stream:
        stream.write_table(base)
    packed = hashes.astype("<u8", copy=False).tobytes()
    columns: bytes = sink.getvalue().to_pybytes()
    return b"".join((_sized(header), _sized(rows), _sized(packed), columns))


def decode_unit(payload: bytes) -> DecodedUnit:
    """The writer's side of ``encode_unit``."""
    view = memoryview(payload)
    header, at = _take(view, 0)
    rows, at = _take(view, at)
    packed, at = _take(view, at)
    messages = [_message(r) for r in orjson.loads(rows)]
    hashes = np.frombuffer(packed, dtype="<u8").astype(np.uint64)
    base = pa.ipc.open_stream(pa.py_buffer(view[at:])).read_all()
    requests: list[Request] = []
    start = 0
    for n, letters in orjson.loads(header):
        requests.append((messages[start : start + n], [_unletter(d) for d in letters]))
        start += n
    if not start == len(messages) == len(hashes) == base.num_rows:
        raise ValueError(
            f"a unit frame of {len(messages)} messages: {start} in its requests,"
            f" {len(hashes)} hashes, {base.num_rows} rows"
        )
    return DecodedUnit(requests, hashes, base)


def _sized(part: bytes) -> bytes:
    return _U32.pack(len(part)) + part


def _take(view: memoryview, at: int) -> tuple[memoryview, int]:
    size = _U32.unpack_from(view, at)[0]
    return view[at + 4 : at + 4 + size], at + 4 + size


def _row(m: Message) -> list[Any]:
    return [m.workspace_id, m.message_id, m.type, m.timestamp, m.received_at, m.event,
            m.user_id, m.anonymous_id, m.previous_id, m.group_id, m.original_timestamp,
            m.sent_at, m.properties, m.traits, m.context, m.source]  # fmt: skip


def _message(r: list[Any]) -> Message:
    """A ``_row`` back: orjson writes aware datetimes as ISO-8601 and ``fromisoformat``
    reads ``+00:00`` as ``datetime.UTC`` itself, so the message is field for field equal."""
    return Message(r[0], r[1], r[2], datetime.fromisoformat(r[3]), datetime.fromisoformat(r[4]),
                   r[5], r[6], r[7], r[8], r[9], _time(r[10]), _time(r[11]), r[12], r[13], r[14],
                   r[15])  # fmt: skip


def _time(v: str | None) -> datetime | None:
    return None if v is None else datetime.fromisoformat(v)


def _letter(d: DeadLetter) -> list[Any]:
    return [d.workspace_id, d.received_at.isoformat(), d.endpoint, d.payload, d.errors]


def _unletter(v: list[Any]) -> DeadLetter:
    return DeadLetter(v[0], datetime.fromisoformat(v[1]), v[2], v[3], v[4])


# -- replies ----------------------------------------------------------------------------


def encode_results(results: Sequence[tuple[int, int, int] | BaseException]) -> bytes:
    """One entry per request: ``[stored, duplicates, dropped]`` or an error to answer with."""
    return orjson.dumps([_result(r) for r in results])


def _result(r: tuple[int, int, int] | BaseException) -> Any:
    if not isinstance(r, BaseException):
        return list(r)
    if isinstance(r, ApiError):
        retry = getattr(r, "retry_after_s", None)
        return {"status": r.status, "code": r.code, "message": r.message, "field": r.field,
                "details": r.details, "retry_after_s": retry}  # fmt: skip
    return {"failed": f"{type(r).__name__}: {r}"}


def decode_results(payload: bytes) -> list[tuple[int, int, int] | dict[str, Any]]:
    """The worker's side of ``encode_results`` (errors stay dicts: ``error_of`` raises them)."""
    return [tuple(r) if isinstance(r, list) else r for r in orjson.loads(payload)]


class WriterFailedError(Exception):
    """The writer could not store a request (the handler answers 503 ``unavailable``)."""


def error_of(result: dict[str, Any]) -> Exception:
    """The exception a worker raises for an error result, so the handler answers exactly as
    the writer process would have (status, code, message, field, ``Retry-After``)."""
    if "failed" in result:
        return WriterFailedError(result["failed"])
    exc = ApiError(
        result["status"], result["code"], result["message"],
        field=result["field"], details=result["details"],
    )  # fmt: skip
    if result.get("retry_after_s") is not None:
        exc.retry_after_s = result["retry_after_s"]  # type: ignore[attr-defined]
    return exc
