"""The journeys services of one container (built once): the store, the entry applier and
the runner; ``wire`` hooks them into ingestion and the server's lifecycle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request

from retenta.journeys.effects import on_contacts_changed
from retenta.journeys.entry import JourneyEntry
from retenta.journeys.runner import JourneyRunner
from retenta.journeys.store import JourneyStore
from retenta.tenancy.deps import container

if TYPE_CHECKING:
    from retenta.app import Container


@dataclass
class JourneyServices:
    store: JourneyStore
    entry: JourneyEntry
    runner: JourneyRunner


def for_container(c: Container) -> JourneyServices:
    existing: Any = getattr(c, "_journeys", None)
    if existing is None:
        from retenta.messaging.services import for_container as messaging

        store = JourneyStore(c.db)
        existing = JourneyServices(store, JourneyEntry(store),
                                   JourneyRunner(c.db, store, messaging(c).ledger))  # fmt: skip
        setattr(c, "_journeys", existing)  # noqa: B010 - Container has no field for it
    assert isinstance(existing, JourneyServices)
    return existing


def wire(c: Container) -> None:
    """Start runs from ingested events; advance runs while the server runs."""
    services = for_container(c)
    c.ingest.appliers.append(services.entry)
    if c.settings.background_workers:
        c.ingest.add_listener(services.runner)  # ticks at once after a unit commits
        c.lifecycle.append(services.runner)
        c.lifecycle.append(webhook_effects(c))  # journeys/effects.py: the webhook nodes' calls
    # update_contact nodes: segments re-evaluate the contact; the identity cache forgets it
    on_contacts_changed(c.db, c.ingest.notify_changed)
    on_contacts_changed(c.db, c.identity.forget_profiles)  # traits only: identifiers stay mapped


def webhook_effects(c: Container) -> Any:
    from retenta.journeys.effects import WebhookEffects
    from retenta.messaging.services import for_container as messaging

    return WebhookEffects(c.db, messaging(c).channel_settings)


def services(request: Request) -> JourneyServices:
    return for_container(container(request))
