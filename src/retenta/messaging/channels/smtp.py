"""The email channel over SMTP (aiosmtplib): TLS modes, pooled reused connections, a rate.

``SmtpChannel.send(batch)`` spreads the batch over up to ``connections`` parallel SMTP
sessions, each reused across messages (one TCP + TLS + AUTH handshake per
``max_messages_per_connection`` messages, not per message). Replies are classified by
:func:`classify`: 2xx sent, 4xx temporary, 5xx permanent — except "mailbox full"
(552 / x.2.2), which mailbox providers use for conditions that clear, so it is temporary.

``send_stream(messages)`` takes messages as they are rendered. With a ``handover``, each
message's durable record sits between its body and its final ``.`` (:func:`_data_after`,
docs/messaging-sends.md "Crash safety").
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass

import aiosmtplib
import dkim

from retenta.messaging.channels.base import Outcome, SendResult, send_concurrently
from retenta.messaging.channels.ratelimit import RateLimiter
from retenta.messaging.channels.smtp_data import AnswerLostError, Handover, transact
from retenta.messaging.email.dkim import DkimError, DkimKey, DkimSigner, dns_record
from retenta.messaging.email.mime import OutgoingEmail
from retenta.messaging.email.profiles import SendingProfile, SmtpServer

_ENHANCED = re.compile(r"^\s*([245]\.\d{1,3}\.\d{1,3})\b")
_QUEUE_IDS = (
    re.compile(r"queued as\s+<?([A-Za-z0-9._@-]{4,})", re.IGNORECASE),
    re.compile(r"\bid=<?([A-Za-z0-9._@-]{4,})", re.IGNORECASE),
)


def enhanced_code(message: str) -> str | None:
    """The RFC 3463 status at the start of a reply text.

    >>> enhanced_code("5.1.1 <x@y>: user unknown"), enhanced_code("try later")
    ('5.1.1', None)
    """
    match = _ENHANCED.match(message)
    return match.group(1) if match else None


def classify(code: int, message: str) -> Outcome:
    """An SMTP reply's outcome for the message it answered.

    >>> [classify(c, m).value for c, m in [(250, "ok"), (451, "4.7.1 greylisted"),
    ...  (550, "5.1.1 unknown"), (552, "5.2.2 mailbox full"), (554, "5.7.1 spam")]]
    ['sent', 'temporary', 'permanent', 'temporary', 'permanent']
    """
    if 200 <= code < 300:
        return Outcome.SENT
    if 400 <= code < 500:
        return Outcome.TEMPORARY
    if code == 552 or enhanced_code(message) == "5.2.2":
        return Outcome.TEMPORARY
    return Outcome.PERMANENT


def tls_context(server: SmtpServer) -> ssl.SSLContext | None:
    if server.tls == "none":
        return None
    context = ssl.create_default_context(cafile=server.ca_file)
    if not server.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@dataclass(slots=True)
class _Connection:
    smtp: aiosmtplib.SMTP
    sent: int = 0


class SmtpPool:
    """Up to ``server.connections`` open sessions; idle ones are reused, broken ones dropped."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server
        self._tls = tls_context(server)
        self._slots = asyncio.Semaphore(server.connections)
        self._idle: list[_Connection] = []
        self.opened = 0  # sessions opened so far (reuse shows as opened << messages)

    async def acquire(self) -> _Connection:
        await self._slots.acquire()
        try:
            while self._idle:
                connection = self._idle.pop()
                if connection.smtp.is_connected:
                    return connection
            return await self._connect()
        except BaseException:
            self._slots.release()
            raise

    async def release(self, connection: _Connection, *, healthy: bool) -> None:
        connection.sent += 1
        keep = healthy and connection.sent < self.server.max_messages_per_connection
        if keep and connection.smtp.is_connected:
            self._idle.append(connection)
        else:
            await _close(connection.smtp)
        self._slots.release()

    async def _connect(self) -> _Connection:
        server = self.server
        smtp = aiosmtplib.SMTP(
            hostname=server.host,
            port=server.port,
            use_tls=server.tls == "implicit",
            start_tls=server.tls == "starttls",
            tls_context=self._tls,
            username=server.username,
            password=server.password.get_secret_value() if server.password else None,
            timeout=server.timeout_s,
            local_hostname=server.local_hostname,
        )
        await smtp.connect()
        self.opened += 1
        return _Connection(smtp)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_close(c.smtp) for c in idle))


async def _close(smtp: aiosmtplib.SMTP) -> None:
    if not smtp.is_connected:
        return
    try:
        await smtp.quit()
    except (aiosmtplib.SMTPException, OSError):
        smtp.close()


class SmtpChannel:
    """The email channel: ``send(batch)`` over a pool of SMTP sessions at a profile's rate."""

    name = "email"

    def __init__(self, server: SmtpServer, *, rate_per_second: float | None = None) -> None:
        self.pool = SmtpPool(server)
        self.rate = RateLimiter(rate_per_second)

    @classmethod
    def for_profile(cls, profile: SendingProfile) -> SmtpChannel:
        """The channel of a sending profile: its relay, connections and rate."""
        return cls(profile.smtp, rate_per_second=profile.rate_per_second)

    async def send(
        self, batch: Sequence[OutgoingEmail], *, handover: Handover | None = None
    ) -> list[SendResult]:
        """One result per message, in order. ``handover(message)`` is awaited just before
        each message goes on the wire (the send path records it durably there)."""

        async def one(message: OutgoingEmail) -> SendResult:
            return await self.send_one(message, handover=handover)

        return await send_concurrently(batch, one, self.pool.server.connections)

    async def send_stream(
        self, messages: AsyncIterable[OutgoingEmail], *, handover: Handover | None = None
    ) -> list[SendResult]:
        """Like :meth:`send`, for messages still being prepared: each goes out as soon as it
        is ready and a session is free, so rendering the next overlaps sending the last.
        The results in the order they came."""
        sessions = self.pool.server.connections
        ready: asyncio.Queue[OutgoingEmail | None] = asyncio.Queue(maxsize=2 * sessions)
        results: list[SendResult] = []

        async def produce() -> None:
            try:
                async for message in messages:
                    await ready.put(message)
            finally:
                for _ in range(sessions):
                    await ready.put(None)

        async def session() -> None:
            while (message := await ready.get()) is not None:
                results.append(await self.send_one(message, handover=handover))

        await asyncio.gather(produce(), *(session() for _ in range(sessions)))
        return results

    async def send_one(
        self, message: OutgoingEmail, *, handover: Handover | None = None
    ) -> SendResult:
        """Deliver one message to the relay; every failure becomes its result."""
        await self.rate.acquire()
        try:
            connection = await self.pool.acquire()
        except (aiosmtplib.SMTPException, OSError) as exc:
            return _failure(message, exc, connecting=True)
        try:
            errors, reply = await transact(connection.smtp, message, handover)
        except AnswerLostError as lost:  # handed over: never hand it again (see the class)
            await self.pool.release(connection, healthy=False)
            return lost.result(message)
        except (aiosmtplib.SMTPException, OSError) as exc:
            await self.pool.release(connection, healthy=_still_usable(exc))
            return _failure(message, exc, connecting=False)
        except BaseException:  # the handover could not be recorded: nothing was handed over
            await self.pool.release(connection, healthy=False)
            raise
        await self.pool.release(connection, healthy=True)
        if errors:  # cannot happen with one recipient, but never report a refusal as sent
            code, text = next(iter(errors.values()))
            return _result(message, code, text)
        return SendResult(
            send_id=message.send_id,
            outcome=Outcome.SENT,
            reason=reply,
            code=250,
            remote_id=_queue_id(reply),
        )

    async def close(self) -> None:
        await self.pool.close()


async def _reset(smtp: aiosmtplib.SMTP) -> None:
    """RSET after a refusal, as ``sendmail`` does, so the session can be reused."""
    with contextlib.suppress(aiosmtplib.SMTPException, OSError):
        await smtp.rset()


def _still_usable(exc: BaseException) -> bool:
    """A refusal leaves the session usable (aiosmtplib RSETs it); 421 or a broken link not."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return True
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code != 421
    return False


def _failure(message: OutgoingEmail, exc: BaseException, *, connecting: bool) -> SendResult:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        refused = exc.recipients[0]
        return _result(message, refused.code, refused.message)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        reason = f"SMTP authentication failed: {exc.code} {exc.message}"
        return SendResult(message.send_id, Outcome.TEMPORARY, reason, exc.code, "auth")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _result(message, exc.code, exc.message)
    stage = "connecting to" if connecting else "talking to"
    reason = f"{stage} the SMTP server failed: {type(exc).__name__}: {exc}"
    return SendResult(message.send_id, Outcome.TEMPORARY, reason, None, "connection")


def _result(message: OutgoingEmail, code: int, text: str) -> SendResult:
    return SendResult(
        send_id=message.send_id,
        outcome=classify(code, text),
        reason=f"{code} {text}",
        code=code,
        detail=enhanced_code(text),
    )


def _queue_id(reply: str) -> str | None:
    """The relay's queue id from a DATA reply.

    >>> _queue_id("2.0.0 Ok: queued as 4BQXyz12"), _queue_id("OK id=1kF3-00aB"), _queue_id("ok")
    ('4BQXyz12', '1kF3-00aB', None)
    """
    for pattern in _QUEUE_IDS:
        match = pattern.search(reply)
        if match:
            return match.group(1)
    return None


# --- the channel type (channels/registry.py): Config, build, check -------------------------

Config = SendingProfile  # one sending profile: category, From, DKIM key, relay, rate


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    message: str


def build(config: SendingProfile) -> SmtpChannel:
    return SmtpChannel.for_profile(config)


async def check(config: SendingProfile) -> CheckResult:
    """Reach the relay as a send would (connect, EHLO, STARTTLS, AUTH), then the DKIM key."""
    relay = await check_relay(config.smtp)
    if not relay.ok or config.dkim is None:
        return relay
    dkim = check_dkim(config.dkim.key())
    return CheckResult(dkim.ok, f"{relay.message}; {dkim.message}")


async def check_relay(server: SmtpServer) -> CheckResult:
    smtp = aiosmtplib.SMTP(
        hostname=server.host,
        port=server.port,
        use_tls=server.tls == "implicit",
        start_tls=server.tls == "starttls",
        tls_context=tls_context(server),
        username=server.username,
        password=server.password.get_secret_value() if server.password else None,
        timeout=min(server.timeout_s, 15.0),
        local_hostname=server.local_hostname,
    )
    where = f"{server.host}:{server.port}"
    try:
        await smtp.connect()
    except aiosmtplib.SMTPAuthenticationError as exc:
        return CheckResult(False, f"{where}: authentication refused ({exc.code} {exc.message})")
    except (aiosmtplib.SMTPException, OSError) as exc:
        return CheckResult(False, f"{where}: {type(exc).__name__}: {exc}")
    tls = {"none": "no TLS", "starttls": "STARTTLS", "implicit": "implicit TLS"}[server.tls]
    login = f", authenticated as {server.username}" if server.username else ""
    await _close(smtp)
    return CheckResult(True, f"{where}: connected, EHLO accepted, {tls}{login}")


def check_dkim(key: DkimKey) -> CheckResult:
    """Sign a probe and verify it with the public key of the record to publish (shown)."""
    try:
        record = dns_record(key)
        signer = DkimSigner(key)
    except DkimError as exc:
        return CheckResult(False, f"DKIM: {exc}")
    probe = b"From: check@" + key.domain.encode() + b"\r\nSubject: check\r\n\r\nprobe\r\n"
    signed = signer.sign(probe)
    verified = bool(
        dkim.verify(signed, dnsfunc=lambda name, timeout=5: record.encode())
    )  # dkimpy: an independent verifier
    where = f"{key.selector}._domainkey.{key.domain}"
    if not verified:
        return CheckResult(False, f"DKIM: a probe signed with the key does not verify ({where})")
    return CheckResult(True, f'DKIM: publish TXT at {where}: "{record}"')
