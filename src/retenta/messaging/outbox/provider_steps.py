"""Steps for the text channels other engineers built: SMS, Viber, webhook.

Each is the same shape — a config of the workspace (``default``, else the first by name) built
into its channel through ``channels/registry.py``, an address from the contact, a message
made from the rendered text fields, one durable handover record per batch, and the channel's
results — so one :class:`ProviderStep` takes a small description of each.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from retenta.messaging.channels.base import SendResult
from retenta.messaging.channels.registry import channel_types
from retenta.messaging.email.mime import Recipient
from retenta.messaging.email.profiles import failure
from retenta.messaging.gate import SendGate
from retenta.messaging.outbox.decide import Attempt, blocked, unavailable
from retenta.messaging.outbox.handover import HandoverLog
from retenta.messaging.outbox.ledger import Send
from retenta.messaging.outbox.recipients import Contact
from retenta.messaging.outbox.steps import (
    Channels,
    Content,
    attempt_of,
    category_of,
    languages,
    usable,
    variables,
)
from retenta.messaging.settings_store import ChannelSettingsStore
from retenta.messaging.templates import RenderError

Maker = Callable[[str, str, Mapping[str, str], Any], Any]  # send_id, address, fields, config


@dataclass(frozen=True, slots=True)
class Kind:
    """How one channel finds its address and makes its message."""

    channel: str  # the send channel ("sms") and the consent channel
    settings_type: str  # the channel-settings type ("sms")
    address: Callable[[Contact, Any], str | None]  # (contact, config) -> where to send
    make: Maker
    gated: bool = True  # consent + suppression (a webhook to one's own CRM is not)
    suppression: Literal["email", "phone"] = "phone"
    # (config, step, workspace) -> channel, when building needs more than the config
    builder: Callable[[Any, Any, str], Any] | None = None


def text_fields(rendered: Any) -> Mapping[str, str] | SendResult:
    """The rendered fields (``text``, ``title``, ``body``, ``url``…) or this send's failure."""
    if isinstance(rendered, RenderError):
        return failure("", str(rendered), "render_error")
    fields = getattr(rendered, "fields", rendered)
    if not isinstance(fields, Mapping):
        return failure("", "the content did not render text fields", "render_error")
    return fields


def _main_text(fields: Mapping[str, str]) -> str:
    return fields.get("text") or fields.get("body") or ""


def _sms(send_id: str, to: str, fields: Mapping[str, str], config: Any) -> Any:
    sms = importlib.import_module("retenta.messaging.channels.sms")
    return sms.SmsMessage(send_id, to, _main_text(fields))


def _viber(send_id: str, to: str, fields: Mapping[str, str], config: Any) -> Any:
    viber = importlib.import_module("retenta.messaging.channels.viber")
    text = _main_text(fields)
    return viber.ViberMessage(
        send_id,
        to,
        text,
        image_url=fields.get("image_url") or None,
        button_text=fields.get("button_text") or None,
        button_url=fields.get("url") or None,
        fallback_sms=text if getattr(config, "fallback_channel", None) else None,
    )


def _viber_channel(config: Any, step: Any, workspace_id: str) -> Any:
    """Viber with its SMS fallback wired (the named SMS channel and the fallback store)."""
    viber = importlib.import_module("retenta.messaging.channels.viber")
    return viber.build_for_workspace(
        config, db=step.db, settings=step.settings, workspace_id=workspace_id
    )


def _sms_channel(config: Any, step: Any, workspace_id: str) -> Any:
    """The SMS channel; an SMPP bind gets a receipt sink, so its receipts become events."""
    sms = importlib.import_module("retenta.messaging.channels.sms")
    reports = importlib.import_module("retenta.messaging.channels.sms.reports")
    channel = sms.build(config)
    if hasattr(channel, "reports") and channel.reports is None and step.db is not None:
        channel.reports = reports.sink_for(step.db, workspace_id)
    return channel


def _webhook(send_id: str, url: str, fields: Mapping[str, str], config: Any) -> Any:
    webhook = importlib.import_module("retenta.messaging.channels.webhook")
    return webhook.rendered_call(send_id, url, _main_text(fields))


KINDS = {
    "sms": Kind("sms", "sms", lambda c, _: c.phone, _sms, builder=_sms_channel),
    "viber": Kind("viber", "viber", lambda c, _: c.phone, _viber, builder=_viber_channel),
    "webhook": Kind("webhook", "webhook", lambda _, cfg: str(cfg.url), _webhook, gated=False),
}


@dataclass
class ProviderStep:
    kind: Kind
    gate: SendGate
    settings: ChannelSettingsStore
    handover: HandoverLog
    channels: Channels
    db: Any = None

    @property
    def channel(self) -> str:
        return self.kind.channel

    async def attempt(
        self,
        workspace_id: str,
        sends: Sequence[Send],
        contacts: Mapping[int, Contact],
        content: Content,
    ) -> list[Attempt]:
        config = self._config(workspace_id)
        attempts: dict[str, Attempt] = {}
        ready: list[tuple[Send, Contact, str]] = []
        for send in sends:
            problem = usable(send, contacts, content, self.channel)
            if problem is None and config is None:
                problem = f"the {self.channel} channel is not configured"
            address = None
            if problem is None:
                address = self.kind.address(contacts[send.contact_id], config)
                problem = None if address else f"the contact has no address for {self.channel}"
            if problem is not None:
                attempts[send.send_id] = unavailable(send, problem)
                continue
            assert address is not None
            ready.append((send, contacts[send.contact_id], address))
        allowed = self._gate(workspace_id, ready, attempts) if self.kind.gated else ready
        if allowed:
            attempts.update(await self._deliver(workspace_id, config, allowed, content))
        return [attempts[s.send_id] for s in sends]

    def _config(self, workspace_id: str) -> Any:
        stored = self.settings.all(workspace_id, self.kind.settings_type)
        by_name = {item.name: item.config for item in stored}
        return by_name.get("default") or (stored[0].config if stored else None)

    def _gate(
        self,
        workspace_id: str,
        ready: list[tuple[Send, Contact, str]],
        attempts: dict[str, Attempt],
    ) -> list[tuple[Send, Contact, str]]:
        allowed = []
        for send, contact, address in ready:
            recipient = Recipient(workspace_id, contact.contact_id, address)
            decision = self.gate.check(
                workspace_id, [recipient], channel=self.channel, category=category_of(send),
                kind=self.kind.suppression,
            )[0]  # fmt: skip
            if decision.allowed:
                allowed.append((send, contact, address))
            else:
                attempts[send.send_id] = blocked(send, decision.reason)
        return allowed

    async def _deliver(
        self,
        workspace_id: str,
        config: Any,
        allowed: list[tuple[Send, Contact, str]],
        content: Content,
    ) -> dict[str, Attempt]:
        build = channel_types()[self.kind.settings_type].build
        if self.kind.builder is not None:
            builder = self.kind.builder
            build = lambda cfg: builder(cfg, self, workspace_id)  # noqa: E731
        channel = self.channels.get(workspace_id, self.kind.settings_type, config, build)
        out: dict[str, Attempt] = {}
        messages, owners = [], []
        for send, contact, address in allowed:
            resolved = content[send.message_id]
            assert not isinstance(resolved, Exception)
            fields = text_fields(
                resolved.render(variables(send, contact), languages(send, contact))
            )
            message = (
                fields
                if isinstance(fields, SendResult)
                else self.kind.make(send.send_id, address, fields, config)
            )
            if isinstance(message, SendResult):
                out[send.send_id] = attempt_of(send, resolved, message, send_id=send.send_id)
                continue
            messages.append(message)
            owners.append(send)
        await self.handover.mark_many([(s.send_id, s.attempts) for s in owners])
        results = await channel.send(messages) if messages else []
        if self.kind.suppression == "phone" and any(r.detail == "unsubscribed" for r in results):
            await self._suppress_unsubscribed(workspace_id, messages, results)
        for send, result in zip(owners, results, strict=True):
            resolved = content[send.message_id]
            assert not isinstance(resolved, Exception)
            out[send.send_id] = attempt_of(send, resolved, result)
        return out

    async def _suppress_unsubscribed(
        self, workspace_id: str, messages: Sequence[Any], results: Sequence[SendResult]
    ) -> None:
        """A number the provider says unsubscribed (a STOP reply, Twilio 21610) goes on the
        workspace's suppression list, so no later send even tries it (SMS's own rule)."""
        common = importlib.import_module("retenta.messaging.channels.sms.common")
        await common.suppress_unsubscribed(self.gate.suppressions, workspace_id, messages, results)

    async def close(self) -> None:
        await self.channels.close()


@dataclass
class InAppStep:
    """``inapp``: stored in the contact's app inbox (``messaging/inbox``), read by the app.

    No address and no consent: the message waits in Retenta until the app, signed in as the
    contact, fetches it (the suppression list is for addresses, which in-app has none).
    """

    db: Any
    settings: ChannelSettingsStore
    handover: HandoverLog
    channel: str = "inapp"

    async def attempt(
        self,
        workspace_id: str,
        sends: Sequence[Send],
        contacts: Mapping[int, Contact],
        content: Content,
    ) -> list[Attempt]:
        inbox = importlib.import_module("retenta.messaging.inbox.channel")
        models = importlib.import_module("retenta.messaging.inbox.models")
        stored = self.settings.get(workspace_id, "inapp", "default")
        channel = inbox.build(stored or inbox.Config(), db=self.db, workspace_id=workspace_id)
        attempts: dict[str, Attempt] = {}
        messages, owners = [], []
        for send in sends:
            problem = usable(send, contacts, content, self.channel)
            if problem is not None:
                attempts[send.send_id] = unavailable(send, problem)
                continue
            contact, resolved = contacts[send.contact_id], content[send.message_id]
            assert not isinstance(resolved, Exception)
            fields = text_fields(
                resolved.render(variables(send, contact), languages(send, contact))
            )
            if isinstance(fields, SendResult):
                attempts[send.send_id] = attempt_of(send, resolved, fields, send_id=send.send_id)
                continue
            messages.append(
                models.InAppMessage.from_fields(send.send_id, contact.contact_id, fields)
            )
            owners.append(send)
        await self.handover.mark_many([(s.send_id, s.attempts) for s in owners])
        for send, result in zip(owners, await channel.send(messages), strict=True):
            resolved = content[send.message_id]
            assert not isinstance(resolved, Exception)
            attempts[send.send_id] = attempt_of(send, resolved, result)
        return [attempts[s.send_id] for s in sends]

    async def close(self) -> None:
        return None
