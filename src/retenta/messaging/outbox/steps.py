"""One step per send channel: address → gate → render → hand to the channel → attempts.

A step gets the claimed sends of one workspace on its channel, the live contacts and the
resolved content, and answers one :class:`~retenta.messaging.outbox.decide.Attempt` per
send. It never raises for one send's failure. Before a message goes on the wire its attempt
is recorded durably (``HandoverLog``): per message for SMTP, per batch for web push.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from retenta.messaging.channels.base import SendResult
from retenta.messaging.channels.smtp import SmtpChannel
from retenta.messaging.channels.webpush_config import DEFAULT_NAME
from retenta.messaging.dispatch import hard_bounce_entries
from retenta.messaging.email.compose_pool import Built, ComposePool, Job, Kit
from retenta.messaging.email.mime import Category, OutgoingEmail, Recipient
from retenta.messaging.email.profiles import Composer, SendingProfile, failure
from retenta.messaging.gate import SendGate
from retenta.messaging.outbox.content import Resolved
from retenta.messaging.outbox.decide import Attempt, blocked, unavailable
from retenta.messaging.outbox.handover import HandoverLog
from retenta.messaging.outbox.ledger import Send
from retenta.messaging.outbox.recipients import Contact
from retenta.messaging.promo_store import Claim, PromoStore
from retenta.messaging.settings_store import ChannelSettingsStore, StoredConfig
from retenta.messaging.signing import Keyring
from retenta.storage.base import Database

Content = Mapping[str, "Resolved | Exception"]


class Step(Protocol):
    @property
    def channel(self) -> str: ...  # the send channel it delivers ("email", "push", "sms", …)

    async def attempt(
        self,
        workspace_id: str,
        sends: Sequence[Send],
        contacts: Mapping[int, Contact],
        content: Content,
    ) -> list[Attempt]: ...

    async def close(self) -> None: ...


def category_of(send: Send) -> Category:
    return Category.TRANSACTIONAL if send.category == "transactional" else Category.MARKETING


def variables(send: Send, contact: Contact, promo_code: str | None = None) -> dict[str, Any]:
    """The template variables of one send: the contact, the request's ``data``, the locale,
    and the contact's ``promo_code`` when the content has a promo-code block."""
    language = send.language or contact.language
    out = {
        "contact": contact.variables(),
        "data": dict(send.data),
        "locale": language or "en",
        "timezone": contact.timezone or "UTC",
    }
    if promo_code is not None:
        out["promo_code"] = promo_code
    return out


async def promo_codes(
    promo: PromoStore | None, workspace_id: str, items: Sequence[tuple[Send, Contact, Resolved]]
) -> tuple[dict[str, str], dict[str, SendResult]]:
    """Each send's code from the first pool of its content's promo-code blocks (one code per
    contact per message, the same on a resend); a send whose pool has none left fails with
    ``promo_exhausted`` rather than going out without its code."""
    codes: dict[str, str] = {}
    failures: dict[str, SendResult] = {}
    groups: dict[tuple[str, str], list[tuple[Send, Contact]]] = defaultdict(list)
    for send, contact, resolved in items:
        pools = getattr(resolved, "promo_pools", ())
        if pools:
            groups[(pools[0], send.message_id)].append((send, contact))
    for (pool, message_id), members in groups.items():
        claims = [Claim(contact.contact_id, send.send_id) for send, contact in members]
        try:
            issued = await promo.aissue(workspace_id, pool, message_id, claims) if promo else {}
        except Exception as exc:  # an unknown or deleted pool fails these sends, not the batch
            issued, why = {}, f"promo pool {pool}: {exc}"
        else:
            why = f"promo pool {pool} has no code left"
        for send, contact in members:
            code = issued.get(contact.contact_id)
            if code:
                codes[send.send_id] = code
            else:
                failures[send.send_id] = failure(send.send_id, why, "promo_exhausted")
    return codes, failures


def languages(send: Send, contact: Contact) -> list[str | None]:
    """A language asked for in the request beats the contact's own."""
    return [send.language, contact.language]


def tracking_base(profile: SendingProfile) -> str | None:
    """Retenta's public base, read from the profile's unsubscribe links (``<base>/u/``): the
    open pixel and click redirects (``<base>/t/…``) are served by the same server. None when
    the profile sends people to an unsubscribe page of its own.

    >>> p = SendingProfile(name="promo", from_address="a@shop.example",
    ...                    unsubscribe_base_url="https://r.shop.example/u/")
    >>> tracking_base(p)
    'https://r.shop.example'
    """
    url = profile.unsubscribe_base_url
    return url[: -len("/u/")] if url.endswith("/u/") else None


def pick_profile(profiles: Sequence[StoredConfig], category: str) -> SendingProfile | None:
    """The profile named after the category, else ``default``, else one of that category.

    A transactional message only goes through a transactional profile and a marketing one
    only through a marketing profile (the profile decides the RFC 8058 headers).
    """
    wanted = Category.TRANSACTIONAL if category == "transactional" else Category.MARKETING
    usable = [
        p.config
        for p in profiles
        if isinstance(p.config, SendingProfile) and p.config.category is wanted
    ]
    by_name = {p.name: p for p in usable}
    return by_name.get(category) or by_name.get("default") or (usable[0] if usable else None)


class Channels:
    """Built channel instances, one per stored config version (rebuilt when it changes)."""

    def __init__(self) -> None:
        self._built: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}

    def get(self, workspace_id: str, kind: str, config: Any, build: Any) -> Any:
        """The channel for this config, built in (and bound to) the running event loop."""
        key = (workspace_id, kind, getattr(config, "name", DEFAULT_NAME))
        loop = asyncio.get_running_loop()
        found = self._built.get(key)
        if found is not None and found[0] == config and found[2] is loop:
            return found[1]
        channel = build(config)
        self._built[key] = (config, channel, loop)
        return channel

    async def close(self) -> None:
        built, self._built = self._built, {}
        loop = asyncio.get_running_loop()
        for _, channel, bound in built.values():
            if bound is loop:
                await channel.close()


@dataclass
class EmailStep:
    db: Database
    gate: SendGate
    settings: ChannelSettingsStore
    keyring: Keyring
    handover: HandoverLog
    channels: Channels
    tracking_base_url: str | None = None
    promo: PromoStore | None = None
    compose: ComposePool = field(default_factory=lambda: ComposePool(0))  # 0: in process
    channel: str = "email"

    async def attempt(
        self,
        workspace_id: str,
        sends: Sequence[Send],
        contacts: Mapping[int, Contact],
        content: Content,
    ) -> list[Attempt]:
        profiles = self.settings.all(workspace_id, "email")
        attempts: dict[str, Attempt] = {}
        ready: list[tuple[Send, Contact, Resolved, SendingProfile]] = []
        for send in sends:
            problem = usable(send, contacts, content, "email")
            profile = pick_profile(profiles, send.category)
            if problem is None and profile is None:
                problem = f"no {send.category} email sending profile is configured"
            if problem is not None:
                attempts[send.send_id] = unavailable(send, problem)
                continue
            assert profile is not None
            ready.append((send, contacts[send.contact_id], _resolved(content, send), profile))
        allowed = self._gate(workspace_id, ready, attempts)
        by_profile: dict[str, list[tuple[Send, Contact, Resolved, SendingProfile]]] = defaultdict(
            list
        )
        for item in allowed:
            by_profile[item[3].name].append(item)
        for group in by_profile.values():
            attempts.update(await self._deliver(workspace_id, group))
        return [attempts[s.send_id] for s in sends]

    def _gate(self, workspace_id: str, ready: list[Any], attempts: dict[str, Attempt]) -> list[Any]:
        groups: dict[tuple[Category, str | None], list[Any]] = defaultdict(list)
        for item in ready:
            groups[(category_of(item[0]), item[2].topic)].append(item)
        allowed = []
        for (category, topic), items in groups.items():
            recipients = [
                Recipient(workspace_id, c.contact_id, c.email or "") for _, c, _, _ in items
            ]
            decisions = self.gate.check(workspace_id, recipients, topic=topic, category=category)
            for item, decision in zip(items, decisions, strict=True):
                if decision.allowed:
                    allowed.append(item)
                else:
                    attempts[item[0].send_id] = blocked(item[0], decision.reason)
        return allowed

    async def _deliver(self, workspace_id: str, group: list[Any]) -> dict[str, Attempt]:
        profile: SendingProfile = group[0][3]
        channel: SmtpChannel = self.channels.get(
            workspace_id, "email", profile, SmtpChannel.for_profile
        )
        out: dict[str, Attempt] = {}
        by_id = {send.send_id: (send, contact, resolved) for send, contact, resolved, _ in group}
        codes, no_code = await promo_codes(
            self.promo, workspace_id, [(s, c, r) for s, c, r, _ in group]
        )

        async def prepared() -> AsyncIterator[OutgoingEmail]:
            """Each message as it is composed (by the pool, ahead); the sessions send the last
            ones meanwhile."""
            for resolved, items in _by_content(group):
                jobs = []
                for send, contact in items:
                    if send.send_id in no_code:
                        out[send.send_id] = attempt_of(send, resolved, no_code[send.send_id])
                    else:
                        jobs.append(job_of(send, contact, codes.get(send.send_id)))
                kit = self._kit(workspace_id, resolved, profile)
                async for message in self.compose.stream(kit, jobs):
                    if isinstance(message, SendResult):
                        send = by_id[message.send_id][0]
                        out[message.send_id] = attempt_of(send, resolved, message)
                        continue
                    yield message
                    await asyncio.sleep(0)  # let the sessions read replies and write the next

        async def record(message: OutgoingEmail, *, then: Callable[[], None] | None = None) -> None:
            attempt = by_id[message.send_id][0].attempts
            await self.handover.mark(message.send_id, attempt, then=then)

        results = await channel.send_stream(prepared(), handover=record)
        for result in results:
            send, _, resolved = by_id[result.send_id]
            out[send.send_id] = attempt_of(send, resolved, result)
        await self._suppress_hard_bounces(workspace_id, results, by_id)
        return out

    def _kit(self, workspace_id: str, resolved: Resolved, profile: SendingProfile) -> Kit:
        base = self.tracking_base_url or tracking_base(profile)
        return Kit(workspace_id, resolved, profile, self.keyring, base)

    def _prepare(
        self,
        composer: Composer,
        send: Send,
        contact: Contact,
        resolved: Resolved,
        promo_code: str | None = None,
    ) -> OutgoingEmail | SendResult:
        """One message composed here, as a pool worker composes it."""
        kit = self._kit(send.workspace_id, resolved, composer.profile)
        return Built(kit, composer).compose(job_of(send, contact, promo_code))

    async def _suppress_hard_bounces(
        self,
        workspace_id: str,
        results: Sequence[SendResult],
        by_id: Mapping[str, tuple[Send, Contact, Resolved]],
    ) -> None:
        address_of = {send_id: item[1].email or "" for send_id, item in by_id.items()}
        entries = hard_bounce_entries(results, address_of)
        if entries:
            await self.gate.suppressions.add(workspace_id, entries)

    async def close(self) -> None:
        await self.channels.close()
        await self.compose.close()


def job_of(send: Send, contact: Contact, promo_code: str | None = None) -> Job:
    """What a compose worker needs of one send: its variables and the envelope's ids."""
    return Job(
        send_id=send.send_id,
        contact_id=contact.contact_id,
        email=contact.email or "",
        campaign_id=send.campaign_id or "",
        variables=variables(send, contact, promo_code),
        languages=tuple(languages(send, contact)),
    )


def _by_content(group: Sequence[Any]) -> list[tuple[Resolved, list[tuple[Send, Contact]]]]:
    """The group's sends by their resolved content, in order (one kit each)."""
    out: dict[int, tuple[Resolved, list[tuple[Send, Contact]]]] = {}
    for send, contact, resolved, _ in group:
        out.setdefault(id(resolved), (resolved, []))[1].append((send, contact))
    return list(out.values())


def usable(
    send: Send, contacts: Mapping[int, Contact], content: Content, channel: str
) -> str | None:
    if send.contact_id not in contacts:
        return "the contact was erased or does not exist"
    resolved = content.get(send.message_id)
    if isinstance(resolved, Exception) or resolved is None:
        return str(resolved) if resolved is not None else f"no {channel} content"
    if channel == "email" and not contacts[send.contact_id].email:
        return "the contact has no email address"
    return None


def _resolved(content: Content, send: Send) -> Resolved:
    found = content[send.message_id]
    assert not isinstance(found, Exception)
    return found


def attempt_of(
    send: Send, resolved: Resolved, result: SendResult, *, send_id: str | None = None
) -> Attempt:
    """The attempt a channel result (or a failure before the channel) makes."""
    if send_id is not None:
        result = replace(result, send_id=send_id)
    return Attempt(
        send,
        "result",
        result=result,
        versions_used=dict(resolved.versions_used),
        revision=resolved.revision,
    )
