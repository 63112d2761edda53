"""One SMTP mail transaction with a durable hand-over record between its body and its
final ``.`` (the send path's crash rule; docs/messaging-sends.md "Crash safety").

:func:`transact`: MAIL, RCPT, DATA, the body; wait until the transport has handed the body
to the kernel; the record (``handover(message, then=…)``, pending until confirmed); the
``.``, written by the thread that made the record durable, right after its confirmation
(:class:`FinalDot`); the reply. A reply lost after the ``.`` is :class:`AnswerLostError`:
taken as sent, never handed again. A handover that never runs ``then`` (its confirmation
could not be written) leaves the body unfinished: the server drops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aiosmtplib
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

from retenta.messaging.channels.base import Outcome, SendResult
from retenta.messaging.email.mime import OutgoingEmail

# A diagnostic for the crash drills (bench/crash_kit.py): with RETENTA_SMTP_TRACE=<file>, each
# message's moments are appended to it (CLOCK_MONOTONIC ns, pid, what): B body in the kernel,
# S a group's records durable (journal.py), T the "." written by that thread, U by the
# session. A SIGKILL keeps what was written, so a lost send's last moment can be read back.
_TRACE_PATH = os.environ.get("RETENTA_SMTP_TRACE")
_TRACE_FD = (
    os.open(_TRACE_PATH, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600) if _TRACE_PATH else -1
)


def trace(what: str) -> None:
    if _TRACE_FD >= 0:
        os.write(_TRACE_FD, f"{time.monotonic_ns()} {os.getpid()} {what}\n".encode())


class Handover(Protocol):
    """Durably record that ``message`` is being handed over; ``then()`` once it is durable and
    confirmed, on the thread that made it so (the send path's ``HandoverLog.mark``; a record
    whose ``then`` never ran is not a hand-over: outbox/journal.py)."""

    def __call__(
        self, message: OutgoingEmail, *, then: Callable[[], None] | None = None
    ) -> Awaitable[None]: ...


async def transact(
    smtp: aiosmtplib.SMTP, message: OutgoingEmail, handover: Handover | None
) -> tuple[dict[str, aiosmtplib.SMTPResponse], str]:
    """One mail transaction. With ``handover``, MAIL, RCPT, DATA and the body go first; then
    the record is made durable and confirmed, and the final ``.`` follows the confirmation at
    once (:class:`FinalDot`). The server takes no message whose record is not durable; a
    kill after the record and before its confirmation leaves a record a restart does not
    count (the message goes again); a kill between the confirmation and the ``.`` (the only
    way left to lose a message: it is never handed twice) is a window of microseconds."""
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

    def __init__(self, protocol: Any, send_id: str = "") -> None:
        self._protocol = protocol
        self.send_id = send_id
        self._lock = threading.Lock()
        self._called = False  # the record's owner ran ``then`` (its hand-over is confirmed)
        self._disarmed = False
        self._written = 0
        self._fd = -1
        transport = protocol.transport
        if transport is None or transport.get_extra_info("sslcontext") is not None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None and transport.get_write_buffer_size() == 0:
            with contextlib.suppress(OSError, ValueError):
                self._fd = os.dup(sock.fileno())

    def __call__(self) -> None:
        self.from_thread()

    def claim(self) -> tuple[int, bytes]:
        """For the journal's thread (``journal.FinalWrite``): where to write the ``.`` itself,
        with two ctypes calls (the confirmation, then this) and nothing between (-1: the
        session writes it; -2: the session gave up, nothing is confirmed). Holds this
        object's lock until :meth:`wrote`."""
        self._lock.acquire()
        if self._disarmed:
            return -2, b""  # the session gave up: do not confirm what nobody will complete
        if self._fd < 0 or self._written:
            return -1, b""
        return self._fd, b".\r\n"

    def wrote(self, written: int) -> None:
        """After :meth:`claim`: how much of the ``.`` went out (0 when the socket took none;
        -1 when the confirmation could not be written: then nothing may complete it)."""
        try:
            if written >= 0:
                self._called = True
                self._written = max(self._written, written)
                trace(f"T {self.send_id} {written}")
        finally:
            self._lock.release()

    def from_thread(self) -> None:
        with self._lock:
            self._called = True
            if self._fd < 0 or self._written:
                return
            try:
                self._written = os.write(self._fd, b".\r\n")
            except OSError:  # full or reset: the session writes it (or the session is gone)
                trace(f"TERR {self.send_id}")
                return
            trace(f"T {self.send_id} {self._written}")

    def from_session(self) -> bool:
        """Write what the thread did not; False (nothing written) where ``then`` never ran:
        the hand-over was not confirmed, so the message must not be completed."""
        with self._lock:
            if not self._called:
                self._close()
                return False
            rest = b".\r\n"[self._written :]
            self._written = 3
            self._close()
        if rest:
            trace(f"U {self.send_id} {len(rest)}")
            self._protocol.write(rest)
        return True

    def disarm(self) -> None:
        """The session gives up on this message (its connection is about to close)."""
        with self._lock:
            self._disarmed = True
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
        dot = FinalDot(protocol, message.send_id)
        trace(f"B {message.send_id}")
        protocol._response_pending = True  # the reply may come before this task resumes
        try:
            await handover(message, then=dot)
        except BaseException:
            dot.disarm()
            smtp.close()  # no QUIT: it would read as a body line
            raise
        if not dot.from_session():
            smtp.close()  # the body stays unterminated: the server drops it
            raise aiosmtplib.SMTPServerDisconnected(
                "the hand-over record was not confirmed; the message was not completed"
            )
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
