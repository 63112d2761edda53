"""May this contact be sent this message? The send-time consent policy (pure).

- A **suppressed** address or phone (hard bounce, complaint, unsubscribed, manual) blocks
  every message, transactional ones included: a hard-bounced address does not exist, a
  complaint or a manual entry is a standing "never".
- A **transactional** message (an order confirmation, a password reset: a category the
  workspace declares on the sending profile, never inferred from content) needs no
  marketing consent.
- A **marketing** message needs ``subscribed`` on its channel: for the topic ``*`` (all
  topics) or for the message's topic. An ``unsubscribed`` on ``*`` beats any topic
  subscription ("unsubscribe from everything" means everything); an explicit status on
  the topic beats a ``*`` subscription (opted out of "promo" only). ``pending`` (double
  opt-in not yet confirmed) is not consent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from retenta.messaging.email.mime import Category

ALL_TOPICS = "*"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str  # why: "subscribed", "transactional", "suppressed:hard_bounce", "no_consent", …

    def __bool__(self) -> bool:
        return self.allowed


ConsentState = Mapping[tuple[str, str], str]  # (channel, topic) -> current status


def may_send(
    consents: ConsentState,
    *,
    channel: str,
    topic: str | None = None,
    category: Category | str = Category.MARKETING,
    suppression: str | None = None,
) -> Decision:
    """The decision for one contact and message; ``suppression`` is the reason, if any.

    >>> state = {("email", "*"): "subscribed", ("email", "promo"): "unsubscribed"}
    >>> may_send(state, channel="email").reason
    'subscribed'
    >>> may_send(state, channel="email", topic="promo").reason
    'unsubscribed:promo'
    >>> may_send(state, channel="sms").reason
    'no_consent'
    >>> may_send({}, channel="email", category="transactional").reason
    'transactional'
    >>> may_send(state, channel="email", category="transactional", suppression="hard_bounce")
    Decision(allowed=False, reason='suppressed:hard_bounce')
    """
    if suppression is not None:
        return Decision(False, f"suppressed:{suppression}")
    if Category(category) is Category.TRANSACTIONAL:
        return Decision(True, "transactional")
    everything = consents.get((channel, ALL_TOPICS))
    if everything == "unsubscribed":
        return Decision(False, "unsubscribed")
    if topic and topic != ALL_TOPICS and (channel, topic) in consents:
        status = consents[(channel, topic)]
        if status == "subscribed":
            return Decision(True, f"subscribed:{topic}")
        return Decision(False, f"{status}:{topic}")
    if everything == "subscribed":
        return Decision(True, "subscribed")
    return Decision(False, "pending" if everything == "pending" else "no_consent")
