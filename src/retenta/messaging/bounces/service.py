"""The feedback services of one app (built once, kept on ``app.state``) and their wiring."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import Request

from retenta.messaging.bounces.apply import Applied, FeedbackHandler
from retenta.messaging.bounces.endpoints import FeedbackEndpoints
from retenta.messaging.bounces.inbound import FeedbackMailbox, InboundFeedbackServer
from retenta.messaging.bounces.model import Feedback, Kind
from retenta.messaging.bounces.providers import WebhookRejectedError, mailgun, sendgrid, ses
from retenta.messaging.bounces.providers.ses import CertFetcher, fetch_cert_https
from retenta.messaging.bounces.returnpath import ReturnPaths
from retenta.messaging.services import for_container
from retenta.messaging.signing import Keyring
from retenta.tenancy.deps import container

if TYPE_CHECKING:
    from retenta.app import Container

WEBHOOK_LINK = "feedback-webhook"  # the purpose of the signed webhook URL
T = TypeVar("T")


@dataclass
class FeedbackServices:
    handler: FeedbackHandler
    endpoints: FeedbackEndpoints
    keyring: Keyring
    paths: ReturnPaths
    fetch_cert: CertFetcher = field(default=fetch_cert_https)
    fetch_url: CertFetcher = field(default=fetch_cert_https)  # SNS SubscribeURL confirmation

    def webhook_token(self, workspace_id: str, provider: str) -> str:
        return self.keyring.url_token(WEBHOOK_LINK, workspace_id, provider)

    def read_webhook_token(self, token: str) -> tuple[str, str] | None:
        fields = self.keyring.read_url_token(WEBHOOK_LINK, token)
        return (fields[0], fields[1]) if fields and len(fields) == 2 else None

    async def receive(self, workspace_id: str, provider: str, body: bytes,
                      headers: dict[str, str]) -> Applied:  # fmt: skip
        """Verify and apply one webhook request (``WebhookRejectedError`` when not genuine)."""
        found: list[Feedback]
        if provider == "ses":
            config = self.endpoints.ses(workspace_id, self.fetch_cert)
            envelope = ses.verify(body, _required(config, provider))
            if envelope.subscribe_url is not None and envelope.type == "SubscriptionConfirmation":
                self.fetch_url(envelope.subscribe_url)
            found = ses.feedback(envelope)
        elif provider == "sendgrid":
            key = _required(self.endpoints.sendgrid(workspace_id), provider)
            events = sendgrid.verify(body, headers, key)
            found = sendgrid.feedback(events)
        else:
            signing = _required(self.endpoints.mailgun(workspace_id), provider)
            request = mailgun.verify(body, signing)
            # a DELAYED row has no event and no consequence: it only marks the token used
            token_use = Feedback(Kind.DELAYED, key=request.token, source="mailgun-token")
            once = await self.handler.apply([token_use], workspace_id=workspace_id)
            if once.duplicates:
                raise WebhookRejectedError("this Mailgun token was already used (a replay)")
            found = mailgun.feedback(request.event)
        return await self.handler.apply(found, workspace_id=workspace_id)


def _required(config: T | None, provider: str) -> T:
    if config is None:
        raise WebhookRejectedError(f"{provider} webhooks are not configured for this workspace")
    return config


def build(c: Container) -> FeedbackServices:
    from retenta.app import secret_key  # the composition root owns the server secret

    secret = secret_key(c.settings.data_dir, c.settings.secret_key).encode()
    ledger = for_container(c).ledger
    keyring = for_container(c).keyring

    async def retry(workspace_id: str, send_id: str, reason: str) -> None:
        await asyncio.to_thread(ledger.retry_later, workspace_id, send_id, reason)

    return FeedbackServices(
        handler=FeedbackHandler(c.db, retry=retry),
        endpoints=FeedbackEndpoints(c.db, secret),
        keyring=keyring,
        paths=ReturnPaths(c.db, keyring),
    )


def inbound_server(services: FeedbackServices, *, host: str, port: int,
                   feedback_addresses: list[str]) -> InboundFeedbackServer:  # fmt: skip
    mailbox = FeedbackMailbox(services.handler, services.paths, feedback_addresses)
    return InboundFeedbackServer(mailbox, host=host, port=port)


def for_app(c: Container) -> FeedbackServices:
    """The container's feedback services (one set, built on first use)."""
    existing: Any = getattr(c, "_feedback", None)
    if existing is None:
        existing = build(c)
        setattr(c, "_feedback", existing)  # noqa: B010 - Container has no field for it
    assert isinstance(existing, FeedbackServices)
    return existing


def feedback_services(request: Request) -> FeedbackServices:
    return for_app(container(request))


def lifecycle_services(c: Container) -> list[InboundFeedbackServer]:
    """The inbound SMTP endpoint, when the settings give it a port."""
    config = c.settings.feedback
    if config.smtp_port is None:
        return []
    return [inbound_server(for_app(c), host=config.smtp_host, port=config.smtp_port,
                          feedback_addresses=config.addresses)]  # fmt: skip
