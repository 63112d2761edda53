"""The inbound SMTP endpoint for bounces and complaints (aiosmtpd, in the server's loop).

Point the bounce domain's MX (the VERP return paths ``bounce+<send>-<sig>@bounces.…``) and
the feedback-loop address mailbox providers send ARF reports to at this endpoint. It
accepts mail only for genuine VERP addresses and the configured feedback-loop addresses
(anything else is refused at RCPT with 550, so it is no open relay and no spam sink), reads
each report, and applies it before answering 250 — a report the server could not apply
gets a 451 and the sending MTA retries it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from retenta.messaging.bounces.apply import FeedbackHandler
from retenta.messaging.bounces.arf import is_arf, parse_arf
from retenta.messaging.bounces.dsn import parse_dsn
from retenta.messaging.bounces.mail import parse, report_key
from retenta.messaging.bounces.model import Feedback, Kind
from retenta.messaging.bounces.returnpath import ReturnPaths

log = logging.getLogger(__name__)
MAX_REPORT_BYTES = 10 * 1024 * 1024


class FeedbackMailbox:
    """The aiosmtpd handler: RCPT filtering and DATA → feedback → applied."""

    def __init__(
        self, handler: FeedbackHandler, paths: ReturnPaths, feedback_addresses: Iterable[str]
    ) -> None:
        self.handler = handler
        self.paths = paths
        self.feedback_addresses = {a.strip().lower() for a in feedback_addresses}

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        rcpt_options: list[str],
    ) -> str:  # fmt: skip
        known = address.lower() in self.feedback_addresses
        if not known and await asyncio.to_thread(self.paths.read, address) is None:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        data = envelope.original_content or envelope.content
        if not isinstance(data, bytes):
            data = str(data or "").encode("utf-8", "replace")
        try:
            for rcpt in envelope.rcpt_tos:
                purpose, send_id = await asyncio.to_thread(self.paths.read, rcpt) or (None, None)
                if purpose == "unsubscribe" and send_id is not None:
                    found = [unsubscribe_request(data, send_id)]
                else:
                    found = read_report(data, send_id)
                await self.handler.apply(found, trusted=send_id is not None)
        except Exception:  # the report stays with the sender, who retries it
            log.exception("could not apply a feedback report")
            return "451 4.3.0 Could not process the report now; try again later"
        return "250 2.0.0 Report received"


def read_report(data: bytes, envelope_send_id: str | None) -> list[Feedback]:
    """A complaint report or a delivery report, whichever the mail is."""
    if is_arf(data):
        return parse_arf(data, envelope_send_id=envelope_send_id)
    return parse_dsn(data, envelope_send_id=envelope_send_id)


def unsubscribe_request(data: bytes, send_id: str) -> Feedback:
    """An email to the RFC 2369 ``mailto:`` unsubscribe address of one send."""
    return Feedback(Kind.UNSUBSCRIBE, key=report_key(parse(data), data, "unsubscribe"),
                    send_id=send_id, source="mailto")  # fmt: skip


class InboundFeedbackServer:
    """``async start()/stop()``: listens while the app runs (a lifecycle service)."""

    def __init__(self, mailbox: FeedbackMailbox, *, host: str, port: int,
                 hostname: str | None = None) -> None:  # fmt: skip
        self.mailbox = mailbox
        self.host, self.port, self.hostname = host, port, hostname
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self.host, self.port)
        sockets = list(self._server.sockets)
        if sockets:
            self.port = int(sockets[0].getsockname()[1])  # the real one when 0 was asked
        log.info("feedback SMTP endpoint on %s:%s", self.host, self.port)

    def _protocol(self) -> Any:
        return SMTP(self.mailbox, data_size_limit=MAX_REPORT_BYTES, hostname=self.hostname,
                    enable_SMTPUTF8=True)  # fmt: skip

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
