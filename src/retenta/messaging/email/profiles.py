"""Sending profiles and the composer: rendered content → signed, ready-to-send bytes.

A workspace sends through several profiles — promo, trigger, transactional — each with its
own From domain, DKIM key, SMTP relay and rate, so a promo blast never slows or taints
order confirmations. Composing is pure CPU (no I/O) and runs in worker processes for
large sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr

from retenta.messaging.channels.base import Outcome, SendResult
from retenta.messaging.email.dkim import DkimKey, DkimSigner
from retenta.messaging.email.headers import HeaderError
from retenta.messaging.email.mime import Category, MimeBuilder, OutgoingEmail, Recipient, Sender
from retenta.messaging.email.render import CompiledEmail, RenderedEmail
from retenta.messaging.signing import LinkSigner
from retenta.messaging.templates import RenderError
from retenta.messaging.tracking import Tracker, add_open_pixel, rewrite_links


class SmtpServer(BaseModel):
    """How to reach one SMTP relay (or a local MTA)."""

    type: Literal["smtp"] = "smtp"
    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535)
    tls: Literal["none", "starttls", "implicit"] = "starttls"
    verify_tls: bool = True
    ca_file: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    timeout_s: float = Field(default=30.0, gt=0)
    local_hostname: str | None = None
    connections: int = Field(default=8, ge=1, le=256)
    max_messages_per_connection: int = Field(default=1000, ge=1)


class DkimSettings(BaseModel):
    domain: str
    selector: str
    private_key_pem: SecretStr

    def key(self) -> DkimKey:
        return DkimKey(self.domain, self.selector, self.private_key_pem.get_secret_value().encode())


class SendingProfile(BaseModel):
    """One sending identity: category, From, DKIM key, relay and rate."""

    name: str  # "promo", "trigger", "transactional", or any name the workspace gives
    category: Category = Category.MARKETING
    from_address: str
    from_name: str | None = None
    reply_to: str | None = None
    bounce_domain: str | None = None
    unsubscribe_base_url: str = "https://localhost/u/"
    dkim: DkimSettings | None = None
    smtp: SmtpServer = Field(default_factory=SmtpServer)
    rate_per_second: float | None = Field(default=None, gt=0)

    def sender(self) -> Sender:
        return Sender(
            address=self.from_address,
            name=self.from_name,
            reply_to=self.reply_to,
            bounce_domain=self.bounce_domain,
            unsubscribe_base_url=self.unsubscribe_base_url,
        )


@dataclass(frozen=True, slots=True)
class SendRequest:
    """One contact's send of a message: who, with which template variables."""

    send_id: str
    recipient: Recipient
    variables: Mapping[str, Any]
    campaign_id: str = ""
    browser_languages: tuple[str, ...] = ()


class Composer:
    """Renders, builds and DKIM-signs messages for one profile (CPU only, no I/O)."""

    def __init__(
        self, profile: SendingProfile, link_signer: LinkSigner, *, tracker: Tracker | None = None
    ) -> None:
        self.profile = profile
        self._mime = MimeBuilder(profile.sender(), link_signer)
        self._dkim = DkimSigner(profile.dkim.key()) if profile.dkim else None
        self._tracker = tracker

    def compose(
        self, *, send_id: str, recipient: Recipient, content: RenderedEmail, campaign_id: str = ""
    ) -> OutgoingEmail:
        """Build and sign; raises ``HeaderError`` for an address that cannot be sent to."""
        message = self._mime.build(
            send_id=send_id,
            recipient=recipient,
            content=content,
            category=self.profile.category,
            campaign_id=campaign_id,
        )
        if self._dkim is None:
            return message
        signed = self._dkim.sign(message.data, body_canonical=message.body_canonical)
        return _with_data(message, signed)

    def prepare(
        self, email: CompiledEmail, request: SendRequest, *, workspace_default: str | None = None
    ) -> OutgoingEmail | SendResult:
        """The signed message, or this send's permanent failure (render error, bad address)."""
        content = email.render(
            request.variables,
            browser_languages=request.browser_languages,
            workspace_default=workspace_default,
        )
        if isinstance(content, RenderError):
            return failure(request.send_id, str(content), "render_error")
        if self._tracker is not None:
            content = self._tracked(content, request)
        try:
            return self.compose(
                send_id=request.send_id,
                recipient=request.recipient,
                content=content,
                campaign_id=request.campaign_id,
            )
        except HeaderError as exc:
            return failure(request.send_id, str(exc), "invalid_address")

    def _tracked(self, content: RenderedEmail, request: SendRequest) -> RenderedEmail:
        """Links through the click redirect (not unsubscribe/mailto) and the open pixel."""
        assert self._tracker is not None
        r, tracker = request.recipient, self._tracker
        html, _ = rewrite_links(
            content.html,
            lambda i, url: tracker.click_url(r.workspace_id, r.contact_id, request.send_id, i, url),
            skip=(self.profile.unsubscribe_base_url, "/u/"),
        )
        pixel = tracker.open_url(r.workspace_id, r.contact_id, request.send_id)
        return replace(content, html=add_open_pixel(html, pixel))

    def prepare_many(
        self,
        email: CompiledEmail,
        requests: Iterable[SendRequest],
        *,
        workspace_default: str | None = None,
    ) -> list[OutgoingEmail | SendResult]:
        return [
            self.prepare(email, request, workspace_default=workspace_default)
            for request in requests
        ]


def failure(send_id: str, reason: str, detail: str) -> SendResult:
    return SendResult(send_id=send_id, outcome=Outcome.PERMANENT, reason=reason, detail=detail)


def _with_data(message: OutgoingEmail, data: bytes) -> OutgoingEmail:
    return OutgoingEmail(
        send_id=message.send_id,
        mail_from=message.mail_from,
        rcpt_to=message.rcpt_to,
        message_id=message.message_id,
        data=data,
        category=message.category,
        headers=message.headers,
        body_canonical=message.body_canonical,
    )
