"""The ``push`` step: web push to every live browser subscription of the contact, and mobile
push (FCM / APNs) to every live device token, in one send.

A send to several browsers and devices is ``sent`` if any of them took it, ``temporary`` if
none did but one may later, else the first permanent refusal. A dead target
(``detail="token_invalid"``: web push 404/410, FCM UNREGISTERED, APNs 410) is retired: the
web push subscription expired, the device token put on ``retired_push_tokens``. Consent is
the contact's on channel ``push``.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from retenta.messaging import push_subscriptions
from retenta.messaging.channels.base import Outcome, SendResult
from retenta.messaging.channels.registry import channel_types
from retenta.messaging.channels.webpush import WebPushMessage, WebPushResult
from retenta.messaging.channels.webpush_config import DEFAULT_NAME
from retenta.messaging.channels.webpush_config import Config as WebPushConfig
from retenta.messaging.channels.webpush_config import build as build_webpush
from retenta.messaging.email.mime import Recipient
from retenta.messaging.email.profiles import failure
from retenta.messaging.gate import SendGate
from retenta.messaging.outbox.decide import Attempt, blocked, unavailable
from retenta.messaging.outbox.handover import HandoverLog
from retenta.messaging.outbox.ledger import Send
from retenta.messaging.outbox.provider_steps import text_fields
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
from retenta.storage.base import Database

MOBILE = ("fcm", "apns")
PLATFORM = {"fcm": "android", "apns": "ios"}


@dataclass
class Targets:
    """Where one send goes: browser subscriptions and device tokens (with their provider)."""

    web: list[Any] = field(default_factory=list)  # StoredSubscription
    devices: list[tuple[str, str]] = field(default_factory=list)  # (provider, token)

    def __bool__(self) -> bool:
        return bool(self.web or self.devices)


@dataclass
class PushStep:
    db: Database
    gate: SendGate
    settings: ChannelSettingsStore
    handover: HandoverLog
    channels: Channels
    channel: str = "push"

    async def attempt(
        self,
        workspace_id: str,
        sends: Sequence[Send],
        contacts: Mapping[int, Contact],
        content: Content,
    ) -> list[Attempt]:
        configs = self._configs(workspace_id)
        targets = self._targets(workspace_id, contacts, configs)
        attempts: dict[str, Attempt] = {}
        ready: list[tuple[Send, Contact, Targets]] = []
        for send in sends:
            problem = usable(send, contacts, content, "push")
            if problem is None and not configs:
                problem = "push is not configured (web push, FCM or APNs)"
            found = targets.get(send.contact_id, Targets()) if problem is None else Targets()
            if problem is None and not found:
                problem = "the contact has no live push subscription or device token"
            if problem is not None:
                attempts[send.send_id] = unavailable(send, problem)
                continue
            ready.append((send, contacts[send.contact_id], found))
        allowed = self._gate(workspace_id, ready, attempts)
        if allowed:
            attempts.update(await self._deliver(workspace_id, configs, allowed, content))
        return [attempts[s.send_id] for s in sends]

    def _configs(self, workspace_id: str) -> dict[str, Any]:
        """The push configs this workspace has: ``webpush`` and the mobile providers."""
        out: dict[str, Any] = {}
        web = self.settings.get(workspace_id, "webpush", DEFAULT_NAME)
        if isinstance(web, WebPushConfig) and web.vapid_private_key_pem is not None:
            out["webpush"] = web
        types = channel_types()
        for provider in MOBILE:
            stored = self.settings.all(workspace_id, provider) if provider in types else []
            by_name = {item.name: item.config for item in stored}
            chosen = by_name.get("default") or (stored[0].config if stored else None)
            if chosen is not None:
                out[provider] = chosen
        return out

    def _targets(
        self, workspace_id: str, contacts: Mapping[int, Contact], configs: Mapping[str, Any]
    ) -> dict[int, Targets]:
        out: dict[int, Targets] = defaultdict(Targets)
        if "webpush" in configs:
            ids = {i for c in contacts.values() for i in c.ids}
            subs = push_subscriptions.live_for_contacts(self.db, workspace_id, ids)
            for start, contact in contacts.items():
                out[start].web = [s for i in contact.ids for s in subs.get(i, [])]
        if any(p in configs for p in MOBILE):
            from retenta.messaging.inbox.devices import tokens_for

            live = {c.contact_id for c in contacts.values()}
            tokens = tokens_for(self.db, workspace_id, sorted(live))
            for start, contact in contacts.items():
                out[start].devices = [
                    (t.provider, t.token)
                    for t in tokens.get(contact.contact_id, [])
                    if t.provider in configs
                ]
        return out

    def _gate(
        self,
        workspace_id: str,
        ready: list[tuple[Send, Contact, Targets]],
        attempts: dict[str, Attempt],
    ) -> list[tuple[Send, Contact, Targets]]:
        allowed = []
        for item in ready:
            send, contact, _ = item
            recipient = Recipient(workspace_id, contact.contact_id, f"push:{contact.contact_id}")
            decision = self.gate.check(
                workspace_id, [recipient], channel="push", category=category_of(send)
            )[0]
            if decision.allowed:
                allowed.append(item)
            else:
                attempts[send.send_id] = blocked(send, decision.reason)
        return allowed

    async def _deliver(
        self,
        workspace_id: str,
        configs: Mapping[str, Any],
        allowed: list[tuple[Send, Contact, Targets]],
        content: Content,
    ) -> dict[str, Attempt]:
        out: dict[str, Attempt] = {}
        batches: dict[str, list[Any]] = defaultdict(list)  # channel type -> messages
        owners: dict[str, list[str]] = defaultdict(list)
        by_id = {send.send_id: send for send, _, _ in allowed}
        for send, contact, targets in allowed:
            resolved = content[send.message_id]
            assert not isinstance(resolved, Exception)
            fields = text_fields(
                resolved.render(variables(send, contact), languages(send, contact))
            )
            if isinstance(fields, SendResult):
                out[send.send_id] = attempt_of(send, resolved, fields, send_id=send.send_id)
                continue
            for kind, message in _messages(send.send_id, fields, targets):
                batches[kind].append(message)
                owners[kind].append(send.send_id)
        handed = sorted({s for ids in owners.values() for s in ids})
        await self.handover.mark_many([(s, by_id[s].attempts) for s in handed])
        results = await self._send_all(workspace_id, configs, batches)
        grouped: dict[str, list[SendResult]] = defaultdict(list)
        for kind, kind_results in results.items():
            for owner, result in zip(owners[kind], kind_results, strict=True):
                grouped[owner].append(result)
        for send_id, send_results in grouped.items():
            resolved = content[by_id[send_id].message_id]
            assert not isinstance(resolved, Exception)
            out[send_id] = attempt_of(by_id[send_id], resolved, combine(send_id, send_results))
        await self._retire(workspace_id, [r for rs in results.values() for r in rs])
        return out

    async def _send_all(
        self, workspace_id: str, configs: Mapping[str, Any], batches: Mapping[str, list[Any]]
    ) -> dict[str, list[SendResult]]:
        types = channel_types()
        results: dict[str, list[SendResult]] = {}
        for kind, messages in batches.items():
            build = build_webpush if kind == "webpush" else types[kind].build
            channel = self.channels.get(workspace_id, kind, configs[kind], build)
            results[kind] = await channel.send(messages)
        return results

    async def _retire(self, workspace_id: str, results: Sequence[SendResult]) -> None:
        dead = [
            r.endpoint
            for r in results
            if isinstance(r, WebPushResult) and r.detail == "token_invalid" and r.endpoint
        ]
        if dead:
            await asyncio.to_thread(push_subscriptions.mark_expired, self.db, workspace_id, dead)
        if any(r.detail == "token_invalid" and not isinstance(r, WebPushResult) for r in results):
            from retenta.messaging.inbox.devices import retire

            await retire(self.db, workspace_id, results)

    async def close(self) -> None:
        await self.channels.close()


def _messages(send_id: str, fields: Mapping[str, str], targets: Targets) -> list[tuple[str, Any]]:
    """One message per browser subscription and per device token."""
    out: list[tuple[str, Any]] = []
    payload = web_payload(fields)
    for stored in targets.web:
        out.append(("webpush", WebPushMessage(send_id, stored.subscription, payload)))
    if targets.devices:
        from retenta.messaging.channels.mobile_push import from_fields

        for provider, token in targets.devices:
            platform = PLATFORM[provider]
            out.append((provider, from_fields(send_id, token, platform, fields)))  # type: ignore[arg-type]
    return out


def web_payload(fields: Mapping[str, str]) -> bytes:
    """The service worker's JSON (``title``, ``body``, ``url``, ``icon``) from the fields.

    >>> web_payload({"title": "Sale", "body": "-20%", "url": ""})
    b'{"title":"Sale","body":"-20%"}'
    """
    doc = {
        "title": fields.get("title", ""),
        "body": fields.get("body", ""),
        "url": fields.get("url") or None,
        "icon": fields.get("image_url") or fields.get("icon") or None,
    }
    return orjson.dumps({k: v for k, v in doc.items() if v is not None})


def combine(send_id: str, results: Sequence[SendResult]) -> SendResult:
    """One send to several targets: sent if any took it; else temporary if any may later;
    else the first permanent refusal."""
    for outcome in (Outcome.SENT, Outcome.TEMPORARY):
        found = [r for r in results if r.outcome is outcome]
        if found:
            return replace(found[0], send_id=send_id)
    if not results:
        return failure(send_id, "no push target took the message", "no_target")
    return replace(results[0], send_id=send_id)
