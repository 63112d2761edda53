"""What every SMS provider shares: the message, E.164 numbers, the settings, results.

Results follow ``channels/base``: a throttling answer (HTTP 429, a provider's rate-limit
code, SMPP ESME_RTHROTTLED) is ``TEMPORARY`` with ``retry-after=<seconds>`` in its reason;
a number the provider says is invalid is ``PERMANENT`` with ``detail="invalid_number"``; a
recipient who unsubscribed at the provider (Twilio 21610, a STOP reply) is ``PERMANENT``
with ``detail="unsubscribed"``, and :func:`suppress_unsubscribed` puts that number on the
workspace's suppression list.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field

from retenta.messaging.channels.base import Outcome, SendResult
from retenta.messaging.channels.sms import segments
from retenta.messaging.suppression import Entry, SuppressionStore

# GSM alphanumeric sender ids: up to 11 characters of letters, digits and a few signs.
ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ._&-]{1,11}$")


@dataclass(frozen=True, slots=True)
class SmsMessage:
    send_id: str
    to: str  # E.164, e.g. "+380501234567"
    text: str
    sender: str | None = None  # E.164 number, short code or alphanumeric id; None: the config's


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    message: str


class InvalidNumberError(ValueError):
    """A phone number that is not a valid E.164 number."""


def to_e164(raw: str, default_region: str | None = None) -> str:
    """The E.164 form of a number; ``default_region`` reads national numbers.

    >>> to_e164("+380 (50) 123-45-67"), to_e164("050 123 45 67", "UA")
    ('+380501234567', '+380501234567')
    >>> try:
    ...     to_e164("+380 12")
    ... except InvalidNumberError as exc:
    ...     print(exc)
    '+380 12' is not a valid phone number
    """
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumberError(f"{raw!r} is not a phone number: {exc}") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidNumberError(f"{raw!r} is not a valid phone number")
    e164: str = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164


def check_sender(sender: str) -> str:
    """An E.164 number, a short code (3-8 digits) or an alphanumeric id of ≤ 11 characters.

    >>> check_sender("Retenta"), check_sender("+14155550100"), check_sender("72345")
    ('Retenta', '+14155550100', '72345')
    >>> try:
    ...     check_sender("Retenta Shop Ltd")
    ... except ValueError as exc:
    ...     print(str(exc)[:61])
    sender 'Retenta Shop Ltd' is not a phone number, a short code
    """
    if sender.startswith("+") and sender[1:].isdigit() and 7 <= len(sender) <= 16:
        return sender
    if sender.isdigit() and 3 <= len(sender) <= 8:
        return sender
    if ALPHANUMERIC_SENDER.match(sender):
        return sender
    raise ValueError(
        f"sender {sender!r} is not a phone number, a short code or an alphanumeric id "
        "of 1-11 characters"
    )


class SmsSettings(BaseModel):
    """Settings every SMS provider config has."""

    model_config = ConfigDict(extra="forbid")

    sender: str | None = Field(default=None, max_length=16, description="default sender")
    max_segments: int = Field(default=6, ge=1, le=20, description="longer texts are refused")
    prices: dict[str, Decimal] = Field(
        default_factory=dict,
        description="price per segment by phonenumbers region ('UA'); '*' is the default",
    )
    currency: str = Field(default="USD", min_length=3, max_length=3)
    concurrency: int = Field(default=8, ge=1, le=256, description="requests in flight")
    timeout_s: float = Field(default=10.0, gt=0, le=120)


def refuse(
    message: SmsMessage, settings: SmsSettings, *, sender_required: bool = True
) -> SendResult | None:
    """A result for a message that must not be offered to the provider at all, else ``None``."""
    try:
        to_e164(message.to)
    except InvalidNumberError as exc:
        return SendResult(message.send_id, Outcome.PERMANENT, str(exc), None, "invalid_number")
    sender = message.sender or settings.sender
    if sender is None and sender_required:
        return SendResult(message.send_id, Outcome.PERMANENT, "no sender", None, "invalid_sender")
    try:
        if sender is not None:
            check_sender(sender)
    except ValueError as exc:
        return SendResult(message.send_id, Outcome.PERMANENT, str(exc), None, "invalid_sender")
    parts = segments.count(message.text).segments
    if parts == 0:
        return SendResult(message.send_id, Outcome.PERMANENT, "empty text", None, "empty")
    if parts > settings.max_segments:
        reason = f"{parts} segments exceed the limit of {settings.max_segments}"
        return SendResult(message.send_id, Outcome.PERMANENT, reason, None, "too_long")
    return None


def throttled(
    send_id: str, retry_after: float | None, code: int | None, why: str = "rate limited"
) -> SendResult:
    """A TEMPORARY result whose reason carries ``retry-after=<seconds>`` when known.

    >>> throttled("s1", 30.0, 429).reason
    'rate limited; retry-after=30'
    """
    reason = why if retry_after is None else f"{why}; retry-after={retry_after:g}"
    return SendResult(send_id, Outcome.TEMPORARY, reason, code, "throttled")


async def suppress_unsubscribed(
    store: SuppressionStore,
    workspace_id: str,
    batch: Sequence[SmsMessage],
    results: Sequence[SendResult],
) -> int:
    """Put every number the provider reported unsubscribed on the suppression list."""
    by_id = {m.send_id: m for m in batch}
    entries = [
        Entry("phone", by_id[r.send_id].to, "unsubscribed", "sms_provider", r.send_id)
        for r in results
        if r.detail == "unsubscribed" and r.send_id in by_id
    ]
    return await store.add(workspace_id, entries) if entries else 0
