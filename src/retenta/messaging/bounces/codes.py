"""Reading SMTP reply codes and RFC 3463 enhanced status codes, and what each one means.

The class digit says permanent (5) or transient (4); the subject and detail say whether the
*address* is bad (suppress it) or only this attempt or this message failed. Real mail
systems are loose: a "mailbox full" arrives as 5.2.2 though it is temporary in practice,
and many policy blocks come as 5.7.x or 5.4.x. The table below follows that practice.
"""

from __future__ import annotations

import re

from retenta.messaging.bounces.model import Kind

ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
REPLY = re.compile(r"(?<![\d.])([245]\d\d)(?:[ -]|$)")

# subject.detail (class apart) of a bad address besides 1.x: mailbox disabled, no route.
ADDRESS_GONE = frozenset({"2.1", "4.4"})
# treated as temporary whatever the class: full mailboxes, size, congestion, greylisting.
TEMPORARY_IN_PRACTICE = frozenset({"2.2", "3.1", "3.4", "4.5", "4.7", "2.0", "3.0", "4.1"})


def find_status(text: str | None) -> str | None:
    """The first enhanced status code in ``text``.

    >>> find_status("smtp; 550 5.1.1 <a@b.co>: Recipient address rejected")
    '5.1.1'
    >>> find_status("192.168.5.1 said no") is None
    True
    """
    match = ENHANCED.search(text or "")
    return ".".join(match.groups()) if match else None


def find_reply_code(text: str | None) -> int | None:
    """The first SMTP reply code in ``text``.

    >>> find_reply_code("smtp; 552-5.2.2 The email account that you tried to reach is over")
    552
    >>> find_reply_code("no code here") is None
    True
    """
    match = REPLY.search(text or "")
    return int(match.group(1)) if match else None


def classify(status: str | None, smtp_code: int | None = None, *, failed: bool = True) -> Kind:
    """What a failure with these codes means.

    >>> classify("5.1.1"), classify("5.2.2"), classify("4.2.2"), classify("5.7.1")
    (<Kind.HARD_BOUNCE: 'hard_bounce'>, <Kind.SOFT_BOUNCE: 'soft_bounce'>, \
<Kind.SOFT_BOUNCE: 'soft_bounce'>, <Kind.BLOCKED: 'blocked'>)
    >>> classify(None, 550), classify(None, 421), classify(None, None)
    (<Kind.HARD_BOUNCE: 'hard_bounce'>, <Kind.SOFT_BOUNCE: 'soft_bounce'>, \
<Kind.SOFT_BOUNCE: 'soft_bounce'>)
    >>> classify("2.0.0", 250)
    <Kind.DELIVERED: 'delivered'>
    """
    if status:
        klass, _, rest = status.partition(".")
        if klass == "2":
            return Kind.DELIVERED
        if klass == "4" or rest in TEMPORARY_IN_PRACTICE:
            return Kind.SOFT_BOUNCE
        if rest in ADDRESS_GONE or rest.startswith("1."):
            return Kind.HARD_BOUNCE
        return Kind.BLOCKED  # policy, content, protocol: this message failed, not the address
    if smtp_code is not None:
        if 200 <= smtp_code < 300:
            return Kind.DELIVERED
        if smtp_code in (550, 551, 553):
            return Kind.HARD_BOUNCE
        if 500 <= smtp_code < 600:
            return Kind.BLOCKED if smtp_code == 554 else Kind.HARD_BOUNCE
    return Kind.SOFT_BOUNCE if failed else Kind.DELAYED
