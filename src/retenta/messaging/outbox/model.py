"""Pure parts of the send path: the request, its hash, statuses, backoff, cursors.

No I/O here: the ledger (``ledger.py``) and the dispatcher (``dispatcher.py``) use these.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from retenta.messaging.channels.base import SendResult

# Channels a message can be sent on (content channels) and the channel-settings types that
# deliver each: "push" is web push and mobile push (FCM, APNs) together.
SEND_CHANNELS: dict[str, tuple[str, ...]] = {
    "email": ("email",),
    "push": ("webpush", "fcm", "apns"),
    "sms": ("sms",),
    "viber": ("viber",),
    "webhook": ("webhook",),
    "inapp": (),
}
CATEGORIES = ("transactional", "trigger", "promo")
IDENTIFIERS = ("contact_id", "external_id", "email", "phone")
FINAL = frozenset({"sent", "delivered", "failed", "bounced", "suppressed", "complained"})
MAX_KEY = 255  # Stripe's limit for an Idempotency-Key
_RETRY_AFTER = re.compile(r"retry[- ]after[=: ]\s*(\d+(?:\.\d+)?)", re.IGNORECASE)


class RequestError(ValueError):
    """A send request that cannot be accepted; ``field`` names the part to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class SendSpec:
    """A validated transactional send request (before the contact and message are looked up)."""

    message_id: str
    identifier: tuple[str, str | int]  # (type, value)
    cascade: tuple[str, ...]
    data: Mapping[str, Any] = field(default_factory=dict)
    language: str | None = None


def parse_request(body: Any) -> SendSpec:
    """The request body checked for shape; the first problem raises with its field.

    >>> parse_request({"message_id": "msg_1", "contact": {"email": "a@b.c"}, "channel": "email"})
    SendSpec(message_id='msg_1', identifier=('email', 'a@b.c'), cascade=('email',), data={}, \
language=None)
    >>> parse_request({"message_id": "m", "contact": {"email": "a@b.c"}, "data": [1]})
    Traceback (most recent call last):
    ...
    retenta.messaging.outbox.model.RequestError: data must be an object
    """
    if not isinstance(body, Mapping):
        raise RequestError("body", "the body must be a JSON object")
    message_id = body.get("message_id")
    if not isinstance(message_id, str) or not message_id.strip() or len(message_id) > 200:
        raise RequestError("message_id", "message_id must be a non-empty string")
    data = body.get("data", {})
    if not isinstance(data, Mapping):
        raise RequestError("data", "data must be an object")
    language = body.get("language")
    if language is not None and (not isinstance(language, str) or not 1 <= len(language) <= 35):
        raise RequestError("language", "language must be a language tag such as 'uk' or 'pt-BR'")
    unknown = sorted(
        set(body) - {"message_id", "contact", "data", "channel", "cascade", "language"}
    )
    if unknown:
        raise RequestError(unknown[0], f"unknown field {unknown[0]!r}")
    return SendSpec(
        message_id.strip(), _identifier(body.get("contact")), _cascade(body), dict(data), language
    )


def _identifier(contact: Any) -> tuple[str, str | int]:
    if not isinstance(contact, Mapping) or len(contact) != 1:
        raise RequestError(
            "contact", f"contact must be an object with exactly one of {', '.join(IDENTIFIERS)}"
        )
    kind, value = next(iter(contact.items()))
    if kind not in IDENTIFIERS:
        raise RequestError(f"contact.{kind}", f"unknown identifier {kind!r}")
    if kind == "contact_id":
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise RequestError("contact.contact_id", "contact_id must be a positive integer")
        return kind, value
    if not isinstance(value, str) or not value.strip() or len(value) > 512:
        raise RequestError(f"contact.{kind}", f"{kind} must be a non-empty string")
    return kind, value.strip()


def _cascade(body: Mapping[str, Any]) -> tuple[str, ...]:
    if "channel" in body and "cascade" in body:
        raise RequestError("cascade", "give channel or cascade, not both")
    if "cascade" in body:
        raw, name = body["cascade"], "cascade"
        if not isinstance(raw, list) or not raw:
            raise RequestError("cascade", "cascade must be a non-empty list of channels")
    else:
        raw, name = [body.get("channel", "email")], "channel"
    out: list[str] = []
    for index, channel in enumerate(raw):
        where = f"cascade[{index}]" if name == "cascade" else "channel"
        if channel not in SEND_CHANNELS:
            raise RequestError(
                where, f"unknown channel {channel!r}; one of {sorted(SEND_CHANNELS)}"
            )
        if channel in out:
            raise RequestError(where, f"channel {channel!r} appears twice")
        out.append(channel)
    return tuple(out)


def request_hash(body: Any) -> str:
    """SHA-256 of the body in canonical JSON (key order and spacing do not matter).

    >>> request_hash({"a": 1, "b": [2]}) == request_hash({"b": [2], "a": 1})
    True
    """
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def check_key(key: str | None) -> str | None:
    """A valid Idempotency-Key (or None: the request is then not idempotent, as in Stripe)."""
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise RequestError(
            "Idempotency-Key", f"Idempotency-Key must be 1-{MAX_KEY} printable characters"
        )
    return key


def backoff_s(
    attempt: int, *, base_s: float, cap_s: float, rng: random.Random | None = None
) -> float:
    """Seconds before retry ``attempt + 1``: exponential, capped, with "equal jitter".

    Half the step is fixed and half random, so retries of a batch that failed together
    spread out but never come back sooner than half the step.

    >>> rng = random.Random(1)
    >>> [round(backoff_s(a, base_s=10, cap_s=60, rng=rng)) for a in (1, 2, 3, 4, 5)]
    [6, 18, 35, 38, 45]
    """
    step = min(cap_s, base_s * 2.0 ** max(0, attempt - 1))
    draw: float = (rng or random).random()
    return step / 2 + draw * step / 2


def retry_after_s(result: SendResult) -> float | None:
    """A wait the provider asked for: a ``retry_after`` attribute, or ``retry-after=N`` said
    in the reason (the SMS channels' convention).

    >>> from retenta.messaging.channels.base import Outcome
    >>> retry_after_s(SendResult("s", Outcome.TEMPORARY, reason="throttled; retry-after=30"))
    30.0
    """
    value = getattr(result, "retry_after", None)
    if isinstance(value, int | float):
        return float(value)
    match = _RETRY_AFTER.search(result.reason or "")
    return float(match.group(1)) if match else None


def encode_cursor(created_at_us: int, send_id: str) -> str:
    """An opaque cursor for the delivery log (newest first).

    >>> decode_cursor(encode_cursor(1700000000000000, "snd_1"))
    (1700000000000000, 'snd_1')
    """
    raw = orjson.dumps([created_at_us, send_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, send_id = orjson.loads(base64.urlsafe_b64decode(padded))
        return int(created), str(send_id)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise RequestError("cursor", "cursor is not one this API gave") from None
