"""From an HTTP body to stored events: decoding, limits, parsing, the Segment-style answer.

The functions here know nothing of FastAPI; the router hands them bytes and headers and
turns what they return (or the ``ApiError`` they raise) into a response.

Status codes (see docs/ingest.md):

* 200 ``{"success": true}`` — every event stored (or already stored: a retry is a no-op);
* 200 ``{"success": true, "accepted": n, "rejected": [{index, errors}]}`` — a batch where
  some events were invalid: the valid ones are stored, the invalid ones are dead letters.
  Not 207: the official clients treat anything but 200 (RudderStack) or 2xx (Segment) as a
  failure and would retry a batch that is already stored;
* 400 — malformed JSON, wrong body shape, or every event of the request invalid (all kept
  as dead letters); 401 — no or bad write key; 413 — over Segment's limits;
  415 — an unknown ``Content-Encoding``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from retenta.errors import ApiError
from retenta.ingest.deadletters import DeadLetter
from retenta.ingest.pipeline import IngestPipeline
from retenta.ingest.schemas import (
    Defaults,
    FieldError,
    Parsed,
    parse_batch,
    parse_single,
    self_contained,
    type_name,
)

SINGLE_TYPES = ("identify", "track", "page", "screen", "group", "alias")
BATCH_ENDPOINTS = ("batch", "import")
SUCCESS = b'{"success":true}'


@dataclass(frozen=True, slots=True)
class Limits:
    event_bytes: int
    batch_bytes: int

    def for_endpoint(self, endpoint: str) -> int:
        return self.batch_bytes if endpoint in BATCH_ENDPOINTS else self.event_bytes


def too_large(size: int, limit: int, what: str) -> ApiError:
    return ApiError(413, "payload_too_large", f"{what} is {size} bytes; the limit is {limit} bytes")


def decode_body(raw: bytes, encoding: str | None, limit: int, what: str) -> bytes:
    """The request body, gunzipped if needed, never more than ``limit`` bytes decoded.

    >>> import gzip
    >>> decode_body(gzip.compress(b'{"a":1}'), "gzip", 100, "body")
    b'{"a":1}'
    """
    enc = (encoding or "identity").strip().lower()
    if enc == "identity":
        data = raw
    elif enc in ("gzip", "x-gzip", "deflate"):
        data = _inflate(raw, limit, gzip=enc != "deflate")
    else:
        raise ApiError(
            415, "unsupported_encoding", f"Content-Encoding {enc!r} is not supported; use gzip"
        )
    if len(data) > limit:
        raise too_large(len(data), limit, what)
    return data


def _inflate(raw: bytes, limit: int, *, gzip: bool) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS)
    try:
        data = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise ApiError(
            400, "invalid_encoding", f"body is not valid gzip data: {exc}", field="body"
        ) from None
    return data


def load_json(body: bytes) -> Any:
    """Parse JSON, or a 400 that says where it broke.

    >>> load_json(b'{"a": 1}')
    {'a': 1}
    """
    if not body.strip():
        raise ApiError(400, "invalid_json", "request body is empty; send a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {exc}") from None


def body_write_key(doc: Any) -> str | None:
    key = doc.get("writeKey") if isinstance(doc, dict) else None
    return key if isinstance(key, str) and key else None


def parse_request(doc: Any, endpoint: str, defaults: Defaults, limits: Limits, size: int) -> Parsed:
    """Split a request's events into messages and invalid events (400 for a bad shape)."""
    if endpoint in SINGLE_TYPES:
        return parse_single(doc, defaults, endpoint)
    if not isinstance(doc, dict):
        raise _shape_error("body", f"must be a JSON object, got {type_name(doc)}")
    items = doc.get("batch")
    if not isinstance(items, list):
        raise _shape_error("batch", f"is required and must be an array, got {type_name(items)}")
    return parse_batch(
        items, defaults, max_event_bytes=limits.event_bytes, check_sizes=size > limits.event_bytes
    )


def batch_defaults(doc: Any, **facts: Any) -> Defaults:
    """What a batch gives each of its events (``context``, ``sentAt``) plus request facts."""
    if not isinstance(doc, dict):
        return Defaults(**facts)
    context = doc.get("context")
    if context is not None and not isinstance(context, dict):
        raise _shape_error("context", f"must be an object, got {type_name(context)}")
    return Defaults(sent_at=doc.get("sentAt"), context=context, **facts)


def _shape_error(field: str, reason: str) -> ApiError:
    return ApiError(
        400,
        "invalid_request",
        f"{field}: {reason}",
        field=field,
        details=[{"field": field, "reason": reason}],
    )


def dead_letters_of(parsed: Parsed, endpoint: str) -> list[DeadLetter]:
    d = parsed.defaults
    return [
        DeadLetter(
            workspace_id=d.workspace_id,
            received_at=d.received_at,
            endpoint=endpoint,
            payload=self_contained(raw, d),
            errors=[e.as_dict() for e in errors],
        )
        for raw, errors in parsed.invalid
    ]


def rejected_indexes(items: Any, parsed: Parsed) -> list[dict[str, Any]]:
    """``[{index, errors}]`` for the invalid events of a batch, by position in the batch.

    Invalid events are kept in batch order, so one forward walk pairs them with positions.

    >>> p = Parsed(None, [], [], [(7, [FieldError("batch[1]", "bad")])])  # type: ignore[arg-type]
    >>> rejected_indexes([{"a": 1}, 7], p)
    [{'index': 1, 'errors': [{'field': 'batch[1]', 'reason': 'bad'}]}]
    """
    if not isinstance(items, list):
        return [{"index": 0, "errors": [e.as_dict() for e in parsed.invalid[0][1]]}]
    out: list[dict[str, Any]] = []
    pending = iter(parsed.invalid)
    current = next(pending, None)
    for i, raw in enumerate(items):
        if current is not None and raw is current[0]:
            out.append({"index": i, "errors": [e.as_dict() for e in current[1]]})
            current = next(pending, None)
    return out


def invalid_error(errors: list[FieldError], details: list[dict[str, Any]]) -> ApiError:
    first = errors[0]
    return ApiError(
        400,
        "invalid_event",
        f"{first.field}: {first.reason}",
        field=first.field,
        details=details,
    )


async def accept(
    pipeline: IngestPipeline, *, doc: Any, endpoint: str, parsed: Parsed
) -> tuple[int, bytes]:
    """Store the valid events and the dead letters in one durable write (the unit's COMMIT,
    or the intake journal's sync: ``ingest_acknowledge``); the answer."""
    await pipeline.ingest(parsed.messages, dead_letters_of(parsed, endpoint), early=True)
    if not parsed.invalid:
        return 200, SUCCESS
    items = doc.get("batch") if isinstance(doc, dict) and endpoint in BATCH_ENDPOINTS else None
    rejected = rejected_indexes(items, parsed)
    details = [e for r in rejected for e in _indexed(r, endpoint)]
    if not parsed.messages:
        raise invalid_error(parsed.invalid[0][1], details)
    body = {"success": True, "accepted": len(parsed.messages), "rejected": rejected}
    return 200, orjson.dumps(body)


def _indexed(rejection: dict[str, Any], endpoint: str) -> list[dict[str, Any]]:
    if endpoint not in BATCH_ENDPOINTS:
        return list(rejection["errors"])
    return [{**e, "index": rejection["index"]} for e in rejection["errors"]]


def received_now() -> datetime:
    return datetime.now(UTC)
