"""SMPP 3.4 over smpplib, bridged to asyncio through one dedicated thread per channel.

smpplib is synchronous (blocking sockets), so one thread owns the connection: it binds as a
transceiver (``system_id`` / ``password``), takes submissions from a queue, pipelines up to
``window`` ``submit_sm`` PDUs, reads ``submit_sm_resp`` / ``deliver_sm`` / ``enquire_link``
as they come (``select`` first, so a partial PDU is never cut by a timeout), sends an
``enquire_link`` when the link has been idle for ``enquire_link_s`` and ``unbind`` on close.
Each result goes back to the event loop with ``call_soon_threadsafe``; nothing blocks it.

Text: GSM-7 as ``data_coding`` 0 (one septet per octet, the SMSC default alphabet), anything
else as UCS-2 (``data_coding`` 8, UTF-16-BE). A long text goes as concatenated parts, each
with a 6-octet UDH (``05 00 03 ref total seq``) and ``esm_class`` 0x40, split by
:func:`segments.split` so an escape pair or a surrogate pair is never cut.

Answers: ESME_ROK → sent (the first part's ``message_id`` is the remote id);
ESME_RTHROTTLED and ESME_RMSGQFUL → temporary with ``retry-after``; ESME_RINVDSTADR and
the other destination errors → permanent ``invalid_number``; system errors, a lost
connection, a failed bind or no answer in ``submit_timeout_s`` → temporary.

Delivery receipts (``deliver_sm`` with ``esm_class`` & 0x04) are parsed (``id:… stat:DELIVRD
err:…``, or the ``receipted_message_id`` / ``message_state`` TLVs) into
:class:`DeliveryReport` and handed to the channel's ``reports`` sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import secrets
import select
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import smpplib.client
import smpplib.consts as c
import smpplib.exceptions
import smpplib.smpp
from pydantic import ConfigDict, Field, SecretStr

from retenta.messaging.channels.base import Outcome, SendResult
from retenta.messaging.channels.sms.common import (
    CheckResult,
    SmsMessage,
    SmsSettings,
    refuse,
    to_e164,
)
from retenta.messaging.channels.sms.reports import DeliveryReport, ReportSink
from retenta.messaging.channels.sms.smpp_pdu import (
    MESSAGE_STATES,
    OK,
    SMSC_DELIVERY_RECEIPT,
    Encoded,
    Receipt,
    classify,
    encode,
    parse_receipt,
    report_of,
)

log = logging.getLogger(__name__)

__all__ = [
    "Encoded",
    "Receipt",
    "SmppChannel",
    "SmppConfig",
    "build",
    "check",
    "classify",
    "encode",
    "parse_receipt",
    "report_of",
]


class SmppConfig(SmsSettings):
    model_config = ConfigDict(extra="forbid")

    provider: Literal["smpp"] = "smpp"
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(default=2775, ge=1, le=65535)
    system_id: str = Field(min_length=1, max_length=15)
    password: SecretStr = Field(max_length=8)
    system_type: str = Field(default="", max_length=12)
    window: int = Field(default=10, ge=1, le=100, description="submit_sm awaiting an answer")
    enquire_link_s: float = Field(default=30.0, gt=0, le=600)
    submit_timeout_s: float = Field(default=30.0, gt=0, le=300)
    throttle_retry_s: float = Field(default=1.0, ge=0, le=3600)
    request_receipts: bool = True
    tls: bool = Field(default=False, description="SMPP over TLS (the server's name is checked)")
    tls_ca_pem: str | None = Field(default=None, description="a private CA to trust, PEM")


class _Client(smpplib.client.Client):  # type: ignore[misc]
    """smpplib's client, with TLS that checks the server's name (smpplib passes none)."""

    def _create_socket(self) -> socket.socket:
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.settimeout(self.timeout)
        context: ssl.SSLContext | None = self._ssl_context
        if context is None:
            return raw
        return context.wrap_socket(raw, server_hostname=self.host)

    def connect(self) -> None:
        """As smpplib's, but saying why (it reports every failure as "Connection refused")."""
        try:
            super().connect()
        except smpplib.exceptions.ConnectionError as exc:
            cause = exc.__context__
            if cause is None:
                raise
            raise smpplib.exceptions.ConnectionError(f"{type(cause).__name__}: {cause}") from cause


def client_for(config: SmppConfig) -> smpplib.client.Client:
    context = None
    if config.tls:
        context = ssl.create_default_context(cadata=config.tls_ca_pem)
    return _Client(config.host, config.port, timeout=config.timeout_s, ssl_context=context,
                   allow_unknown_opt_params=True)  # fmt: skip


def _readable(sock: socket.socket) -> bool:
    """Data waiting: decrypted bytes TLS already holds, or bytes on the socket."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    return bool(select.select([sock], [], [], 0)[0])


@dataclass(eq=False)
class _Parts:
    """The message ids of one send's parts, and which of them were reported delivered."""

    send_id: str
    total: int
    ids: list[str] = field(default_factory=list)
    delivered: set[str] = field(default_factory=set)


@dataclass(eq=False)  # hashable by identity
class _Job:
    message: SmsMessage
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[SendResult]
    encoded: Encoded
    waiting: int = 0  # parts sent, not yet answered
    message_ids: list[str] = field(default_factory=list)
    parts: _Parts | None = None
    deadline: float = 0.0
    done: bool = False

    def finish(self, result: SendResult) -> None:
        if self.done:
            return
        self.done = True
        self.loop.call_soon_threadsafe(_resolve, self.future, result)


def _resolve(future: asyncio.Future[SendResult], result: SendResult) -> None:
    if not future.done():
        future.set_result(result)


class _Session:
    """Runs in the channel's thread: one bound smpplib client and its in-flight PDUs."""

    def __init__(self, channel: SmppChannel) -> None:
        self.channel = channel
        self.config = channel.config
        self.client: smpplib.client.Client | None = None
        self.in_flight: dict[int, _Job] = {}  # sequence → job
        self.last_activity = time.monotonic()

    def connect(self) -> None:
        cfg = self.config
        client = client_for(cfg)
        client.set_message_sent_handler(self.on_submit_resp)
        client.set_message_received_handler(self.on_deliver)
        client.set_error_pdu_handler(lambda pdu: None)  # errors reach on_submit_resp
        client.connect()
        try:
            client.bind_transceiver(
                system_id=cfg.system_id,
                password=cfg.password.get_secret_value(),
                system_type=cfg.system_type or None,
            )
        except Exception:
            client.disconnect()
            raise
        self.client = client
        self.last_activity = time.monotonic()

    def submit(self, job: _Job) -> None:
        assert self.client is not None
        cfg = self.config
        sender = job.message.sender or cfg.sender or ""
        alphanumeric = not sender.lstrip("+").isdigit()
        for part in job.encoded.parts:
            pdu = self.client.send_message(
                source_addr_ton=c.SMPP_TON_ALNUM if alphanumeric else c.SMPP_TON_INTL,
                source_addr_npi=c.SMPP_NPI_UNK if alphanumeric else c.SMPP_NPI_ISDN,
                source_addr=sender.lstrip("+"),
                dest_addr_ton=c.SMPP_TON_INTL,
                dest_addr_npi=c.SMPP_NPI_ISDN,
                destination_addr=to_e164(job.message.to).lstrip("+"),
                short_message=part,
                data_coding=job.encoded.data_coding,
                esm_class=job.encoded.esm_class,
                registered_delivery=int(cfg.request_receipts),
            )
            self.in_flight[pdu.sequence] = job
            job.waiting += 1
        job.deadline = time.monotonic() + cfg.submit_timeout_s
        self.last_activity = time.monotonic()

    def on_submit_resp(self, pdu: Any, **_: Any) -> None:
        job = self.in_flight.pop(pdu.sequence, None)
        if job is None:
            return
        job.waiting -= 1
        failure = classify(pdu.status, job.message.send_id, self.config.throttle_retry_s)
        if failure is not None:
            job.finish(failure)
            return
        message_id = _text(pdu.message_id)
        job.message_ids.append(message_id)
        self.channel.remember(job.parts, message_id)
        if job.waiting == 0 and not job.done:
            result = SendResult(job.message.send_id, Outcome.SENT, "ESME_ROK", 0, None,
                                job.message_ids[0])  # fmt: skip
            job.finish(result)

    def on_deliver(self, pdu: Any, **_: Any) -> int:
        if not (pdu.esm_class or 0) & SMSC_DELIVERY_RECEIPT:
            return OK  # a mobile-originated message: not handled here
        receipt = parse_receipt(_text(pdu.short_message))
        if receipt is None and pdu.receipted_message_id:
            state = MESSAGE_STATES.get(pdu.message_state or 0, "ENROUTE")
            receipt = Receipt(_text(pdu.receipted_message_id), state, None)
        if receipt is not None:
            self.channel.receipt(receipt)
        return OK

    def pump(self) -> None:
        """Read every PDU that is waiting; keep the link alive; expire unanswered submits."""
        assert self.client is not None
        assert self.client._socket is not None
        while _readable(self.client._socket):
            self.client.read_once(auto_send_enquire_link=False)
            self.last_activity = time.monotonic()
        now = time.monotonic()
        if now - self.last_activity >= self.config.enquire_link_s:
            self.client.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=self.client))
            self.last_activity = now
        for sequence, job in list(self.in_flight.items()):
            if job.deadline and now > job.deadline:
                del self.in_flight[sequence]
                job.finish(SendResult(job.message.send_id, Outcome.TEMPORARY,
                                      "no submit_sm_resp in time", None, "timeout"))  # fmt: skip

    def fail_all(self, reason: str) -> None:
        for job in set(self.in_flight.values()):
            job.finish(SendResult(job.message.send_id, Outcome.TEMPORARY, reason, None,
                                  "connection"))  # fmt: skip
        self.in_flight.clear()

    def drop(self) -> None:
        """Forget a broken connection (no unbind: the peer is gone); the next job rebinds."""
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.disconnect()
        self.client = None

    def close(self) -> None:
        if self.client is None:
            return
        with contextlib.suppress(Exception):
            self.client.unbind()
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.client = None


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return "" if value is None else str(value)


class SmppChannel:
    """``send(batch)`` over one SMPP transceiver bind, owned by a dedicated thread."""

    name = "sms"

    def __init__(self, config: SmppConfig, reports: ReportSink | None = None) -> None:
        self.config = config
        self.reports = reports
        self.received: list[DeliveryReport] = []  # every final report, also without a sink
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._parts: dict[str, _Parts] = {}  # a part's message id → its send's parts
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self.bound = threading.Event()

    async def send(self, batch: Sequence[SmsMessage]) -> list[SendResult]:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._start()
        futures: list[asyncio.Future[SendResult]] = []
        for message in batch:
            future: asyncio.Future[SendResult] = loop.create_future()
            futures.append(future)
            refused = refuse(message, self.config)
            if refused is not None:
                future.set_result(refused)
                continue
            encoded = encode(message.text, secrets.randbelow(256))
            parts = _Parts(message.send_id, len(encoded.parts))
            self._jobs.put(_Job(message, loop, future, encoded, parts=parts))
        return list(await asyncio.gather(*futures))

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="smpp", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        session = _Session(self)
        backlog: list[_Job] = []
        stopping = False
        while True:
            stopping = self._take(backlog, session, stopping)
            if stopping and not session.in_flight and not backlog:
                break
            try:
                self._step(session, backlog)
            except (smpplib.exceptions.ConnectionError, OSError) as exc:
                self._reset(session, backlog, f"SMPP connection lost: {type(exc).__name__} {exc}")
            except Exception as exc:  # the thread must outlive any surprise, or sends hang
                log.exception("SMPP session error; reconnecting")
                self._reset(session, backlog, f"SMPP session error: {type(exc).__name__}")
        session.close()
        self.bound.clear()

    def _step(self, session: _Session, backlog: list[_Job]) -> None:
        """Bind when work waits unbound, submit within the window, read what has come."""
        if backlog and session.client is None:
            self._bind(session, backlog)
        if session.client is None:
            return
        while backlog and len(session.in_flight) < self.config.window:
            session.submit(backlog.pop(0))
        session.pump()

    def _reset(self, session: _Session, backlog: list[_Job], reason: str) -> None:
        """Fail what is in flight (temporary), forget the connection; the next job rebinds."""
        reason = reason.strip()
        session.fail_all(reason)
        for job in backlog:
            job.finish(SendResult(job.message.send_id, Outcome.TEMPORARY, reason, None,
                                  "connection"))  # fmt: skip
        backlog.clear()
        session.drop()
        self.bound.clear()

    def _take(self, backlog: list[_Job], session: _Session, stopping: bool) -> bool:
        """Move queued jobs to the backlog; ``True`` once ``close`` has asked to stop."""
        timeout = 0.005 if (backlog or session.in_flight or session.client) else 0.1
        try:
            job = self._jobs.get(timeout=timeout)
        except queue.Empty:
            return stopping
        while True:
            if job is None:
                stopping = True
            else:
                backlog.append(job)
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return stopping

    def _bind(self, session: _Session, backlog: list[_Job]) -> None:
        try:
            session.connect()
            self.bound.set()
        except (smpplib.exceptions.PDUError, smpplib.exceptions.ConnectionError,
                OSError) as exc:  # fmt: skip
            reason = f"SMPP bind to {self.config.host}:{self.config.port} failed: {exc}"
            for job in backlog:
                job.finish(SendResult(job.message.send_id, Outcome.TEMPORARY, reason, None,
                                      "bind_failed"))  # fmt: skip
            backlog.clear()

    def remember(self, parts: _Parts | None, message_id: str) -> None:
        """Which send a part's message id belongs to (receipts name part ids)."""
        if parts is not None:
            parts.ids.append(message_id)
            self._parts[message_id] = parts

    def receipt(self, receipt: Receipt) -> None:
        """Thread side: a receipt → a report for the send once it is final for every part."""
        report = report_of(receipt)
        if report is None:
            return
        parts = self._parts.get(receipt.message_id)
        if parts is not None:
            if report.status == "delivered":
                parts.delivered.add(receipt.message_id)
                if len(parts.delivered) < parts.total:
                    return
            for message_id in parts.ids:
                self._parts.pop(message_id, None)
            report = DeliveryReport(report.status, "smpp", parts.send_id, parts.ids[0],
                                    report.error_code, report.reason, report.at)  # fmt: skip
        self._deliver(report)

    def _deliver(self, report: DeliveryReport) -> None:
        self.received.append(report)
        if self.reports is not None and self._loop is not None and not self._loop.is_closed():
            asyncio.run_coroutine_threadsafe(self.reports([report]), self._loop)

    async def close(self) -> None:
        thread = self._thread
        if thread is None:
            return
        self._jobs.put(None)
        await asyncio.to_thread(thread.join, self.config.timeout_s + 5)
        self._thread = None


def build(config: SmppConfig) -> SmppChannel:
    return SmppChannel(config)


async def check(config: SmppConfig) -> CheckResult:
    """Bind as a transceiver and unbind: proves the address, system_id and password."""

    def probe() -> CheckResult:
        client = client_for(config)
        try:
            client.connect()
            client.bind_transceiver(system_id=config.system_id,
                                    password=config.password.get_secret_value())  # fmt: skip
            client.unbind()
            return CheckResult(True, f"bound to {config.host}:{config.port} as {config.system_id}")
        except (smpplib.exceptions.PDUError, smpplib.exceptions.ConnectionError, OSError) as exc:
            return CheckResult(False, f"SMPP bind failed: {exc or type(exc).__name__}")
        except ValueError as exc:  # e.g. an unreadable tls_ca_pem
            return CheckResult(False, f"SMPP settings are not usable: {exc}")
        finally:
            with contextlib.suppress(Exception):
                client.disconnect()

    return await asyncio.to_thread(probe)
