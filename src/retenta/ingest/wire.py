"""What an ingest worker and the writer process say to each other, as bytes.

A frame is ``<u32 payload length><u8 kind><u64 id>`` and the payload. Workers send
``AUTH`` (a write key; the answer is its workspace or nothing) and ``UNIT`` (one or more
parsed requests, prepared: the events' Arrow columns as an Arrow IPC stream, their filter
hashes, and a small JSON header with each request's size and dead letters). The writer
answers a ``UNIT`` once every request in it is settled, with one result per request: the
outcome after COMMIT, or the error to answer with.

The events' columns are the compact encoding of the messages too: the writer rebuilds each
``Message`` from the same table (plus ``previous_id`` and ``group_id``, which the event log
does not keep), so nothing is encoded twice.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from retenta.core.messages import Message
from retenta.errors import ApiError
from retenta.ingest.deadletters import DeadLetter
from retenta.storage.duckdb.events import BASE_SCHEMA

FRAME = struct.Struct("<IBQ")
AUTH, AUTH_REPLY, UNIT, UNIT_REPLY = 1, 2, 3, 4
MAX_FRAME_BYTES = 256 * 1024 * 1024
WIRE_SCHEMA = pa.schema(
    [*BASE_SCHEMA, pa.field("previous_id", pa.string()), pa.field("group_id", pa.string())]
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
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


def encode_unit(requests: Sequence[Request], hashes: np.ndarray, wire: pa.Table) -> bytes:
    """Requests prepared by a worker: header, hashes, then the columns (``wire_table``)."""
    header = orjson.dumps([[len(m), [_letter(d) for d in dls]] for m, dls in requests])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, WIRE_SCHEMA) as stream:
        stream.write_table(wire)
    packed = hashes.astype("<u8", copy=False).tobytes()
    columns: bytes = sink.getvalue().to_pybytes()
    return _U32.pack(len(header)) + header + _U32.pack(len(packed)) + packed + columns


def decode_unit(payload: bytes) -> DecodedUnit:
    """The writer's side of ``encode_unit``: messages rebuilt, the base columns kept."""
    view = memoryview(payload)
    size = _U32.unpack_from(view, 0)[0]
    header = orjson.loads(view[4 : 4 + size])
    at = 4 + size
    packed = _U32.unpack_from(view, at)[0]
    hashes = np.frombuffer(view[at + 4 : at + 4 + packed], dtype="<u8").astype(np.uint64)
    wire = pa.ipc.open_stream(pa.py_buffer(view[at + 4 + packed :])).read_all()
    messages = messages_from(wire)
    requests: list[Request] = []
    start = 0
    for n, letters in header:
        requests.append((messages[start : start + n], [_unletter(d) for d in letters]))
        start += n
    if start != len(messages) or len(hashes) != len(messages):
        raise ValueError(f"a unit frame of {len(messages)} rows: {start} in requests")
    return DecodedUnit(requests, hashes, wire.select(BASE_SCHEMA.names))


def wire_table(base: pa.Table, messages: Sequence[Message]) -> pa.Table:
    """``base`` (``messages_to_base``) with the two message fields the event log drops."""
    extra = [
        pa.array([m.previous_id for m in messages], pa.string()),
        pa.array([m.group_id for m in messages], pa.string()),
    ]
    return pa.Table.from_arrays([*base.columns, *extra], schema=WIRE_SCHEMA)


def messages_from(wire: pa.Table) -> list[Message]:
    """The messages a ``wire_table`` was built from, field for field."""
    col = {name: wire.column(name).to_pylist() for name in _PLAIN}
    ts = {name: _datetimes(wire.column(name)) for name in _TIMES}
    js = {name: [orjson.loads(v) if v else {} for v in col.pop(name)] for name in _JSON}
    return [
        Message(*row)
        for row in zip(
            col["workspace_id"], col["message_id"], col["type"], ts["timestamp"],
            ts["received_at"], col["event"], col["user_id"], col["anonymous_id"],
            col["previous_id"], col["group_id"], ts["original_timestamp"], ts["sent_at"],
            js["properties"], js["traits"], js["context"], col["source"],
            strict=True,
        )
    ]  # fmt: skip


_TIMES = ("timestamp", "received_at", "original_timestamp", "sent_at")
_JSON = ("properties", "traits", "context")
_PLAIN = (
    "workspace_id", "message_id", "type", "event", "user_id", "anonymous_id",
    "previous_id", "group_id", "source", *_JSON,
)  # fmt: skip


def _datetimes(column: Any) -> list[datetime | None]:
    """UTC datetimes (``datetime.UTC``, as the parser makes them) of a timestamp column."""
    micros = column.cast(pa.int64()).to_pylist()
    return [None if v is None else _EPOCH + timedelta(microseconds=v) for v in micros]


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
