"""The messaging services of one app, built on first use from the container."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request

from retenta.messaging.gate import SendGate
from retenta.messaging.promo_store import PromoStore
from retenta.messaging.signing import Keyring
from retenta.messaging.suppression import SuppressionStore
from retenta.messaging.track_store import TrackingStore
from retenta.messaging.tracking import Tracker
from retenta.messaging.unsubscribe import Unsubscriber
from retenta.tenancy.deps import container

if TYPE_CHECKING:
    from retenta.app import Container


@dataclass
class MessagingServices:
    keyring: Keyring
    tracking: TrackingStore
    suppressions: SuppressionStore
    gate: SendGate
    unsubscriber: Unsubscriber
    promo: PromoStore

    def tracker(self, base_url: str) -> Tracker:
        return Tracker(self.keyring, base_url)


def build(c: Container) -> MessagingServices:
    from retenta.app import secret_key  # the composition root owns the server secret

    secret = secret_key(c.settings.data_dir, c.settings.secret_key).encode()
    return MessagingServices(
        keyring=Keyring(secret),
        tracking=TrackingStore(c.db),
        suppressions=SuppressionStore(c.db),
        gate=SendGate(c.db),
        unsubscriber=Unsubscriber(c.db),
        promo=PromoStore(c.db),
    )


def services(request: Request) -> MessagingServices:
    """This app's services (kept on ``app.state``: one set per app, built once)."""
    state = request.app.state
    existing = getattr(state, "messaging", None)
    if existing is None:
        existing = state.messaging = build(container(request))
    assert isinstance(existing, MessagingServices)
    return existing
