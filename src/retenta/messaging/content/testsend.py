"""Test sends: a stored message to a few addresses through the workspace's email channel.

A test send is marked (``[Test]`` before the subject, campaign ``test`` in Feedback-ID), skips the
consent gate and the suppression list on purpose (the marketer asked for it), and is never
recorded on a contact: no ``message_events`` row, no promo code issued.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from retenta.errors import ApiError
from retenta.messaging.channels.base import SendResult
from retenta.messaging.content.compiled import ResolvedContent
from retenta.messaging.content.preview import (
    Contacts,
    contact_variables,
    language_candidates,
    preview_contact,
)
from retenta.messaging.content.schemas import TestSendIn
from retenta.messaging.email.headers import HeaderError
from retenta.messaging.email.mime import OutgoingEmail, Recipient
from retenta.messaging.email.profiles import Composer, SendingProfile, failure
from retenta.messaging.email.render import RenderedEmail
from retenta.messaging.signing import LinkSigner, new_send_id
from retenta.messaging.templates import RenderError

TEST_PREFIX = "[Test] "


class EmailChannels(Protocol):
    """Where a workspace's email channel (a sending profile) comes from."""

    def email_profile(self, workspace_id: str) -> SendingProfile | None: ...


class Sender(Protocol):
    async def send(self, batch: Sequence[OutgoingEmail]) -> list[SendResult]: ...
    async def close(self) -> None: ...


class SettingsEmailChannels:
    """The email channel configs of SENDS' settings store: ``test`` if named so, else the first."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def email_profile(self, workspace_id: str) -> SendingProfile | None:
        names = list(self.store.names(workspace_id, "email"))
        if not names:
            return None
        name = "test" if "test" in names else names[0]
        config = self.store.get(workspace_id, "email", name)
        return config if isinstance(config, SendingProfile) else None


def marked(rendered: RenderedEmail) -> RenderedEmail:
    """The subject of a test send says so.

    >>> marked(RenderedEmail("en", "Sale", "", "", "")).subject
    '[Test] Sale'
    """
    return replace(rendered, subject=TEST_PREFIX + rendered.subject)


async def test_send(
    *,
    resolved: ResolvedContent,
    body: TestSendIn,
    profile: SendingProfile,
    signer: LinkSigner,
    contacts: Contacts,
    workspace_id: str,
    build_channel: Any,
) -> dict[str, Any]:
    """Render once (as the contact, if given) and send to each address; one result each."""
    contact = preview_contact(contacts, workspace_id, contact_id=body.contact_id, email=None)
    candidates = language_candidates(contact, language=body.language, accept_language=None)
    variables = contact_variables(
        contact, body.variables, language=resolved.language_for(candidates)
    )
    rendered = resolved.render(variables, candidates)
    if isinstance(rendered, RenderError):
        raise ApiError(
            422, "template_error", f"the message failed to render: {rendered}",
            field=getattr(rendered, "path", None), details=[rendered.as_dict()],
        )  # fmt: skip
    assert isinstance(rendered, RenderedEmail)
    composer = Composer(profile, signer)
    built = [_compose(composer, workspace_id, contact.contact_id, str(a), marked(rendered))
             for a in body.addresses]  # fmt: skip
    outgoing = [m for m in built if isinstance(m, OutgoingEmail)]
    results = {r.send_id: r for r in built if isinstance(r, SendResult)}
    channel: Sender = build_channel(profile)
    try:
        results.update({r.send_id: r for r in await channel.send(outgoing)})
    finally:
        await channel.close()
    return {
        "language": rendered.language,
        "subject": TEST_PREFIX + rendered.subject,
        "revision": resolved.revision,
        "versions_used": dict(resolved.versions_used),
        "results": [
            _result(str(a), results[m.send_id]) for a, m in zip(body.addresses, built, strict=True)
        ],
    }


def _compose(
    composer: Composer, workspace_id: str, contact_id: int, address: str, content: RenderedEmail
) -> OutgoingEmail | SendResult:
    send_id = new_send_id()
    try:
        return composer.compose(
            send_id=send_id, recipient=Recipient(workspace_id, contact_id, address),
            content=content, campaign_id="test",
        )  # fmt: skip
    except HeaderError as exc:
        return failure(send_id, str(exc), "invalid_address")


def _result(address: str, result: SendResult) -> Mapping[str, Any]:
    return {
        "address": address, "send_id": result.send_id, "outcome": str(result.outcome.value),
        "code": result.code, "reason": result.reason,
    }  # fmt: skip
