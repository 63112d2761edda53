"""One piece of feedback about one sent email, whichever way it arrived."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    DELIVERED = "delivered"  # the receiving server took it
    DELAYED = "delayed"  # still being retried by the relay: nothing to do yet
    SOFT_BOUNCE = "soft_bounce"  # failed for now (mailbox full, greylisted): retry later
    HARD_BOUNCE = "hard_bounce"  # the address does not exist: suppress it
    BLOCKED = "blocked"  # refused by policy (spam, reputation): the address is fine
    COMPLAINT = "complaint"  # the recipient reported it as spam: suppress, unsubscribe
    UNSUBSCRIBE = "unsubscribe"  # the provider's own unsubscribe link was used
    OPENED = "opened"
    CLICKED = "clicked"


@dataclass(frozen=True, slots=True)
class Feedback:
    """``key`` identifies the report itself, so a report delivered twice counts once."""

    kind: Kind
    key: str
    recipient: str | None = None
    send_id: str | None = None
    status: str | None = None  # RFC 3463 enhanced code, e.g. "5.1.1"
    smtp_code: int | None = None
    diagnostic: str | None = None
    source: str = "dsn"  # dsn | arf | ses | sendgrid | mailgun
    detail: str | None = None  # e.g. the ARF feedback type, the provider's bounce subtype
    url: str | None = None  # the clicked link

    def as_properties(self) -> dict[str, object]:
        """The fields worth keeping on the contact's message event."""
        fields = {
            "source": self.source,
            "status": self.status,
            "code": self.smtp_code,
            "diagnostic": (self.diagnostic or "")[:500] or None,
            "detail": self.detail,
            "url": self.url,
        }
        return {name: value for name, value in fields.items() if value is not None}
