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
import os
import re
import ssl
import threading
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiosmtplib
import dkim
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

from retenta.messaging.channels.base import Outcome, SendResult, send_concurrently
from retenta.messaging.channels.ratelimit import RateLimiter
from retenta.messaging.email.dkim import DkimError, DkimKey, DkimSigner, dns_record
from retenta.messaging.email.mime import OutgoingEmail
from retenta.messaging.email.profiles import SendingProfile, SmtpServer


class Handover(Protocol):
    """Durably record that ``message`` is being handed over; ``then()`` once it is durable,
    on the thread that made it so (the send path's ``HandoverLog.mark``)."""

    def __call__(
        self, message: OutgoingEmail, *, then: Callable[[], None] | None = None
    ) -> Awaitable[None]: ...


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
            errors, reply = await _transact(connection.smtp, message, handover)
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


async def _transact(
    smtp: aiosmtplib.SMTP, message: OutgoingEmail, handover: Handover | None
) -> tuple[dict[str, aiosmtplib.SMTPResponse], str]:
    """One mail transaction. With ``handover``, MAIL, RCPT, DATA and the body go first; then
    the record is made durable and the final ``.`` follows it at once (:class:`FinalDot`).
    The server takes no message whose record is not durable, and a kill between the two
    (the only way to lose a message: it is never handed twice) is a window of microseconds,
    not the DATA round trips."""
    if handover is None:
        return await smtp.sendmail(message.mail_from, [message.rcpt_to], message.data)
    try:
        size = [f"size={len(message.data)}"] if smtp.supports_extension("size") else []
        await smtp.mail(message.mail_from, options=size)
        try:
            await smtp.rcpt(message.rcpt_to)
        except aiosmtplib.SMTPRecipientRefused as exc:
            raise aiosmtplib.SMTPRecipientsRefused([exc]) from None
        response = await _data_after(smtp, message, handover)
    except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
        await _reset(smtp)
        raise
    return {}, response.message


class AnswerLostError(Exception):
    """The final ``.`` went out (its record is durable) but no reply came: the server may
    have taken the message. Like a send found handed over after a restart, it is taken as
    sent, marked unconfirmed, and never handed again (a retry could deliver it twice)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")

    def result(self, message: OutgoingEmail) -> SendResult:
        reason = f"unconfirmed: handed over, the server's answer was lost ({self})"
        return SendResult(message.send_id, Outcome.SENT, reason[:500], None, "unconfirmed")


class FinalDot:
    """The ``.`` that ends one DATA, written by whoever comes first: the thread that made the
    hand-over record durable, or the session.

    The thread writes to its own duplicate of the socket's descriptor (``os.dup``: a
    descriptor the event loop cannot close and the kernel cannot give to another socket
    meanwhile), and only on a plain connection whose transport has handed the whole body
    to the kernel (the session waits for that, ``_drained``), so three bytes cannot
    overtake it. TLS leaves it to the session (the window is then the event loop's
    latency). Works the same on asyncio's and uvloop's transports.
    """

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol
        self._lock = threading.Lock()
        self._written = 0
        self._fd = -1
        transport = protocol.transport
        if transport is None or transport.get_extra_info("sslcontext") is not None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None and transport.get_write_buffer_size() == 0:
            with contextlib.suppress(OSError, ValueError):
                self._fd = os.dup(sock.fileno())

    def from_thread(self) -> None:
        with self._lock:
            if self._fd < 0 or self._written:
                return
            try:
                self._written = os.write(self._fd, b".\r\n")
            except OSError:  # full or reset: the session writes it (or the session is gone)
                return

    def from_session(self) -> None:
        with self._lock:
            rest = b".\r\n"[self._written :]
            self._written = 3
            self._close()
        if rest:
            self._protocol.write(rest)

    def disarm(self) -> None:
        """The session gives up on this message (its connection is about to close)."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def stuffed(data: bytes) -> bytes:
    r"""A message as DATA carries it, without the final ``.``: CRLF line ends, dot-stuffed.

    A message that already is so (every one the composer builds) is returned as it is: two
    regex passes over a 35 KB message cost ~0.7 ms of the event loop's CPU, three
    ``count`` calls and a search ~0.02 ms.

    >>> stuffed(b"a\n.b\r\n"), stuffed(b"a\r\nb\r\n")
    (b'a\r\n..b\r\n', b'a\r\nb\r\n')
    """
    crlf = data.count(b"\r\n")
    canonical = data.endswith(b"\r\n") and data.count(b"\n") == crlf == data.count(b"\r")
    if not canonical:
        data = normalize_message_line_endings(data)
    if data.startswith(b".") or b"\n." in data:
        data = PERIOD_REGEX.sub(b"..", data)
    return data


async def _data_after(
    smtp: aiosmtplib.SMTP, message: OutgoingEmail, handover: Handover
) -> aiosmtplib.SMTPResponse:
    """DATA, 354, the body; then the durable hand-over record; then the final ``.`` that
    makes the server take the message. A server drops a message whose ``.`` never came, so
    a failed record (the session is closed) hands nothing over."""
    protocol = smtp.protocol
    if protocol is None:
        raise aiosmtplib.SMTPServerDisconnected("Server not connected")
    async with protocol._command_lock or contextlib.nullcontext():
        start = await _command(protocol, b"DATA\r\n", smtp.timeout)
        if start.code != 354:
            raise aiosmtplib.SMTPDataError(start.code, start.message)
        protocol.write(stuffed(message.data))
        await _drained(protocol.transport, smtp.timeout)
        dot = FinalDot(protocol)
        protocol._response_pending = True  # the reply may come before this task resumes
        try:
            await handover(message, then=dot.from_thread)
        except BaseException:
            dot.disarm()
            smtp.close()  # no QUIT: it would read as a body line
            raise
        dot.from_session()
        try:
            response: aiosmtplib.SMTPResponse = await protocol.read_response(timeout=smtp.timeout)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            smtp.close()
            raise AnswerLostError(exc) from exc
    if response.code != 250:
        raise aiosmtplib.SMTPDataError(response.code, response.message)
    return response


async def _drained(transport: Any, timeout: float | None) -> None:
    """Until the transport has handed the whole body to the kernel (it keeps what the
    socket would not take yet): only then can the final ``.`` be written from the journal's
    thread, and a body in the kernel is delivered even if this process is killed (the
    kernel sends it and closes the connection)."""
    deadline = asyncio.get_running_loop().time() + (timeout or 60.0)
    while transport is not None and transport.get_write_buffer_size() > 0:
        if asyncio.get_running_loop().time() > deadline:
            raise aiosmtplib.SMTPTimeoutError("the message body was not taken in time")
        await asyncio.sleep(0.0005)


async def _command(protocol: Any, line: bytes, timeout: float | None) -> aiosmtplib.SMTPResponse:
    protocol._response_pending = True  # as aiosmtplib marks each command it writes
    protocol.write(line)
    response: aiosmtplib.SMTPResponse = await protocol.read_response(timeout=timeout)
    return response


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
