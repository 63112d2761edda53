"""The journeys services of one container (built once): the store, the entry applier and
the runner; ``wire`` hooks them into ingestion and the server's lifecycle."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request

from retenta.core.messages import Message
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


class NudgingEntry:
    """The entry applier, plus a note to the runner that the unit may have started or woken
    runs; the runner ticks at once after the unit commits (``JourneyRunner.committed``)."""

    name = "journeys"

    def __init__(self, entry: JourneyEntry, runner: JourneyRunner) -> None:
        self.entry, self.runner = entry, runner

    def apply(self, conn: Any, messages: Sequence[Message]) -> None:
        self.entry.apply(conn, messages)
        workspaces = {m.workspace_id for m in messages if m.type == "track" and m.event}
        if any(self.entry.store.live(conn, ws) for ws in workspaces):
            self.runner.entries_pending = True


def wire(c: Container) -> None:
    """Start runs from ingested events; advance runs while the server runs."""
    services = for_container(c)
    c.ingest.appliers.append(NudgingEntry(services.entry, services.runner))
    if c.settings.background_workers:
        c.ingest.add_listener(services.runner)
        c.lifecycle.append(services.runner)
        c.lifecycle.append(webhook_effects(c))  # journeys/effects.py: the webhook nodes' calls
    # update_contact nodes: segments re-evaluate the contact; the identity cache forgets it
    on_contacts_changed(c.db, c.ingest.notify_changed)
    on_contacts_changed(c.db, c.identity.forget)


def webhook_effects(c: Container) -> Any:
    from retenta.journeys.effects import WebhookEffects
    from retenta.messaging.services import for_container as messaging

    return WebhookEffects(c.db, messaging(c).channel_settings)


def services(request: Request) -> JourneyServices:
    return for_container(container(request))
