"""The messaging services of one app, built once per container (kept on it).

The dispatcher is a lifecycle service: ``app.py`` starts it with the server when background
workers are on; tests drive it with ``run_once`` / ``run_until_idle``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request

from retenta.messaging.channels.registry import channel_types, redeliver_for
from retenta.messaging.email.compose_pool import ComposePool
from retenta.messaging.gate import SendGate
from retenta.messaging.outbox.content import (
    Chained,
    ContentServiceSource,
    ContentSource,
    StaticContent,
)
from retenta.messaging.outbox.dispatcher import Dispatcher
from retenta.messaging.outbox.handover import HandoverLog
from retenta.messaging.outbox.journal import HandoverJournal
from retenta.messaging.outbox.ledger import SendLedger
from retenta.messaging.outbox.provider_steps import KINDS, InAppStep, ProviderStep
from retenta.messaging.outbox.push_step import PushStep
from retenta.messaging.outbox.steps import Channels, EmailStep, Step
from retenta.messaging.outbox.ticks import Tick, viber_fallback_sweep
from retenta.messaging.promo_store import PromoStore
from retenta.messaging.push_subscriptions import migrate_clear_vapid_keys
from retenta.messaging.settings_store import ChannelSettingsStore, SecretBox
from retenta.messaging.signing import Keyring
from retenta.messaging.suppression import SuppressionStore
from retenta.messaging.track_store import TrackingStore
from retenta.messaging.tracking import Tracker
from retenta.messaging.unsubscribe import Unsubscriber
from retenta.policy.gate import PolicyGate
from retenta.tenancy.deps import container

if TYPE_CHECKING:
    from retenta.app import Container

log = logging.getLogger(__name__)


@dataclass
class MessagingServices:
    keyring: Keyring
    tracking: TrackingStore
    suppressions: SuppressionStore
    gate: SendGate
    unsubscriber: Unsubscriber
    promo: PromoStore
    channel_settings: ChannelSettingsStore
    ledger: SendLedger
    static_content: StaticContent
    content: ContentSource
    dispatcher: Dispatcher

    def tracker(self, base_url: str) -> Tracker:
        return Tracker(self.keyring, base_url)


def build(c: Container) -> MessagingServices:
    from retenta.app import secret_key  # the composition root owns the server secret

    secret = secret_key(c.settings.data_dir, c.settings.secret_key).encode()
    keyring, gate = Keyring(secret), SendGate(c.db)
    store = ChannelSettingsStore(
        c.db, SecretBox(secret), {k: t.config for k, t in channel_types().items()}
    )
    migrate_clear_vapid_keys(c.db, store)
    # hand-over records in an fdatasync'd journal beside the database (outbox/journal.py)
    ledger = SendLedger(c.db, journal=HandoverJournal(c.settings.data_dir / "handover"))
    promo = PromoStore(c.db)
    static = StaticContent()
    content = Chained(static, *_stored_content(c))
    handover = HandoverLog(ledger.record_handover)
    compose = ComposePool(c.settings.compose_workers)  # render + DKIM in worker processes
    steps: list[Step] = [
        EmailStep(c.db, gate, store, keyring, handover, Channels(), promo=promo, compose=compose),
        PushStep(c.db, gate, store, handover, Channels()),
        *[ProviderStep(kind, gate, store, handover, Channels(), c.db) for kind in KINDS.values()],
        InAppStep(c.db, store, handover),
    ]
    dispatcher = Dispatcher(
        db=c.db, ledger=ledger, content=content, steps=steps, redeliver=redeliver_for,
        policy=PolicyGate(c.db),  # the contact policy (caps, quiet hours, fatigue)
        ticks=[Tick("viber_fallback_sweep", 15.0, lambda: viber_fallback_sweep(c.db, store))],
    )  # fmt: skip
    return MessagingServices(
        keyring=keyring, tracking=TrackingStore(c.db), suppressions=gate.suppressions, gate=gate,
        unsubscriber=Unsubscriber(c.db), promo=promo, channel_settings=store,
        ledger=ledger, static_content=static, content=content, dispatcher=dispatcher,
    )  # fmt: skip


def _stored_content(c: Container) -> list[ContentSource]:
    """CONTENT's service (blocks + messages), when this install has it."""
    try:
        from retenta.messaging.content.service import ContentService
    except ImportError:
        return []
    return [ContentServiceSource(ContentService(c.db))]


def for_container(c: Container) -> MessagingServices:
    """The container's messaging services (one set per container, built on first use)."""
    existing: Any = getattr(c, "_messaging", None)
    if existing is None:
        existing = build(c)
        setattr(c, "_messaging", existing)  # noqa: B010 - Container has no field for it
    assert isinstance(existing, MessagingServices)
    return existing


def services(request: Request) -> MessagingServices:
    """This app's services (the container's; one set per app, built once)."""
    return for_container(container(request))
