"""The SMPP channel against a local SMSC: an asyncio TCP server speaking SMPP 3.4.

The peer decodes and encodes PDUs with smpplib's PDU classes (the wire format), but its
behaviour is its own: it answers ``bind_transceiver`` (ESME_RINVPASWD for a wrong password),
``submit_sm`` (ESME_RINVDSTADR for 380500000001, ESME_RTHROTTLED for 380500000429, else a
message id), ``enquire_link`` and ``unbind``; it reassembles concatenated parts from their UDH,
decodes GSM-7 with its own copy of the GSM 03.38 table and UCS-2 as UTF-16-BE, and sends a
``deliver_sm`` delivery receipt for each accepted part (``stat:UNDELIV err:001`` for
380500000002, a TLV-only receipt for 380500000003, ``stat:DELIVRD`` otherwise).
"""

from __future__ import annotations

import asyncio
import doctest
import ssl
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import smpplib.consts as c
import smpplib.smpp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from retenta.app import Container
from retenta.messaging.channels.base import Outcome
from retenta.messaging.channels.sms import smpp, smpp_pdu
from retenta.messaging.channels.sms.common import SmsMessage
from retenta.messaging.channels.sms.reports import DeliveryReport, sink_for
from retenta.messaging.channels.sms.smpp import SmppChannel, SmppConfig
from retenta.messaging.events import SendContext, from_result, record
from tests.conftest import Workspace

PEER_GSM = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
PEER_GSM_EXT = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[",
                0x3D: "~", 0x3E: "]", 0x40: "|", 0x65: "€"}  # fmt: skip


def gsm_decode(data: bytes) -> str:
    out, escape = [], False
    for octet in data:
        if escape:
            out.append(PEER_GSM_EXT[octet])
            escape = False
        elif octet == 0x1B:
            escape = True
        else:
            out.append(PEER_GSM[octet])
    return "".join(out)


class Sequences:
    """What smpplib's PDU classes need of a client: sequence numbers."""

    def __init__(self) -> None:
        self.sequence = 0

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence


@dataclass
class Submitted:
    destination: str
    source: str
    source_ton: int
    data_coding: int
    esm_class: int
    registered_delivery: int
    body: bytes


@dataclass
class SmscPeer:
    password: str = "secret"
    drop_after: int | None = None  # close the connection after this many submit_sm
    binds: list[tuple[str, str, int]] = field(default_factory=list)  # system_id, result
    submitted: list[Submitted] = field(default_factory=list)
    texts: list[tuple[str, str, int]] = field(default_factory=list)  # to, text, data_coding
    enquire_links: int = 0
    unbinds: int = 0
    receipts_acked: int = 0
    message_ids: int = 0
    parts: dict[tuple[str, int], dict[int, bytes]] = field(default_factory=dict)
    seq: Sequences = field(default_factory=Sequences)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                header = await reader.readexactly(16)
                length = struct.unpack(">L", header[:4])[0]
                raw = header + await reader.readexactly(length - 16)
                pdu = smpplib.smpp.parse_pdu(raw, client=self.seq, allow_unknown_opt_params=True)
                if not await self.answer(pdu, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionResetError):
            pass
        finally:
            writer.close()

    def reply(self, writer: asyncio.StreamWriter, name: str, request: Any, **kw: Any) -> None:
        pdu = smpplib.smpp.make_pdu(name, client=self.seq, **kw)
        pdu.sequence = request.sequence
        writer.write(pdu.generate())

    async def answer(self, pdu: Any, writer: asyncio.StreamWriter) -> bool:
        if pdu.command == "bind_transceiver":
            ok = pdu.password.decode() == self.password
            status = c.SMPP_ESME_ROK if ok else c.SMPP_ESME_RINVPASWD
            self.binds.append((pdu.system_id.decode(), pdu.password.decode(), status))
            self.reply(writer, "bind_transceiver_resp", pdu, status=status, system_id="peer")
            return ok
        if pdu.command == "enquire_link":
            self.enquire_links += 1
            self.reply(writer, "enquire_link_resp", pdu)
        elif pdu.command == "unbind":
            self.unbinds += 1
            self.reply(writer, "unbind_resp", pdu)
            await writer.drain()
            return False
        elif pdu.command == "deliver_sm_resp":
            self.receipts_acked += 1
        elif pdu.command == "submit_sm":
            await self.submit(pdu, writer)
            if self.drop_after is not None and len(self.submitted) >= self.drop_after:
                self.drop_after = None
                await writer.drain()
                return False
        await writer.drain()
        return True

    async def submit(self, pdu: Any, writer: asyncio.StreamWriter) -> None:
        to = pdu.destination_addr.decode()
        got = Submitted(to, pdu.source_addr.decode(), pdu.source_addr_ton, pdu.data_coding,
                        pdu.esm_class, pdu.registered_delivery, pdu.short_message)  # fmt: skip
        self.submitted.append(got)
        if to == "380500000001":
            self.reply(writer, "submit_sm_resp", pdu, status=c.SMPP_ESME_RINVDSTADR)
            return
        if to == "380500000429":
            self.reply(writer, "submit_sm_resp", pdu, status=c.SMPP_ESME_RTHROTTLED)
            return
        self.message_ids += 1
        message_id = f"msg{self.message_ids:06d}"
        self.reply(writer, "submit_sm_resp", pdu, message_id=message_id)
        self.collect(got)
        if got.registered_delivery:
            await writer.drain()
            self.receipt(writer, got, message_id)

    def collect(self, got: Submitted) -> None:
        body = got.body
        if got.esm_class & c.SMPP_GSMFEAT_UDHI:
            udh_length = body[0]
            ref, total, seq = body[3], body[4], body[5]
            assert body[1:3] == b"\x00\x03"
            assert udh_length == 5
            chunks = self.parts.setdefault((got.destination, ref), {})
            chunks[seq] = body[1 + udh_length :]
            if len(chunks) < total:
                return
            body = b"".join(chunks[i] for i in range(1, total + 1))
        text = gsm_decode(body) if got.data_coding == 0 else body.decode("utf-16-be")
        self.texts.append((got.destination, text, got.data_coding))

    def receipt(self, writer: asyncio.StreamWriter, got: Submitted, message_id: str) -> None:
        stamp = datetime.now(UTC).strftime("%y%m%d%H%M")
        fields: dict[str, Any] = {
            "source_addr": got.destination,
            "destination_addr": got.source,
            "esm_class": 0x04,  # SMSC delivery receipt
        }
        if got.destination == "380500000003":
            fields |= {"receipted_message_id": message_id, "message_state": 2,
                       "short_message": b""}  # fmt: skip
        else:
            lost = got.destination == "380500000002"
            stat, err = ("UNDELIV", "001") if lost else ("DELIVRD", "000")
            fields["short_message"] = (
                f"id:{message_id} sub:001 dlvrd:001 submit date:{stamp} done date:{stamp} "
                f"stat:{stat} err:{err} text:"
            ).encode()
        pdu = smpplib.smpp.make_pdu("deliver_sm", client=self.seq, **fields)
        writer.write(pdu.generate())


Body = Callable[[SmscPeer, SmppConfig], Awaitable[None]]


def serve(body: Body, **peer_kw: Any) -> SmscPeer:
    peer = SmscPeer(**peer_kw)

    async def main() -> None:
        server = await asyncio.start_server(peer.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        config = SmppConfig(
            host="127.0.0.1", port=port, system_id="retenta", password="secret",
            sender="Retenta", timeout_s=3, enquire_link_s=0.2, submit_timeout_s=3,
        )  # fmt: skip
        try:
            await body(peer, config)
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(main())
    return peer


async def wait_for(predicate: Callable[[], bool], seconds: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


def test_doctests() -> None:
    result = doctest.testmod(smpp_pdu)
    assert result.attempted > 0
    assert result.failed == 0


def test_submit_gsm7_ucs2_and_concatenated_with_receipts() -> None:
    long_gsm = "Sale {today}: €5 off [all] items | " * 8  # 336 septets with the escapes: 3 parts
    long_ucs2 = "Знижка −20% на все! 🎉 " * 5
    texts = {
        "s_gsm": ("+380501234567", "Hello @ £ § ¿ ñ"),
        "s_long": ("+380501234568", long_gsm),
        "s_ucs2": ("+380501234569", "Привіт, Олено!"),
        "s_long_ucs2": ("+380501234570", long_ucs2),
    }

    async def body(peer: SmscPeer, config: SmppConfig) -> None:
        channel = SmppChannel(config)
        batch = [SmsMessage(k, to, text) for k, (to, text) in texts.items()]
        try:
            results = await channel.send(batch)
            assert [r.send_id for r in results] == list(texts)
            assert all(r.outcome is Outcome.SENT for r in results), results
            assert all(r.remote_id and r.remote_id.startswith("msg") for r in results)
            await wait_for(lambda: len(channel.received) == 4)
        finally:
            await channel.close()
        got = {to: (text, coding) for to, text, coding in peer.texts}
        assert got["380501234567"] == (texts["s_gsm"][1], 0)
        assert got["380501234568"] == (long_gsm, 0)
        assert got["380501234569"] == ("Привіт, Олено!", 8)
        assert got["380501234570"] == (long_ucs2, 8)
        long_parts = [s for s in peer.submitted if s.destination == "380501234568"]
        assert len(long_parts) == 3
        assert all(s.esm_class == c.SMPP_GSMFEAT_UDHI for s in long_parts)
        assert all(len(s.body) - 6 <= 153 for s in long_parts)
        ucs2_parts = [s for s in peer.submitted if s.destination == "380501234570"]
        assert all(len(s.body) - 6 <= 134 for s in ucs2_parts)  # 67 UTF-16 units
        assert all(s.source == "Retenta" and s.source_ton == c.SMPP_TON_ALNUM
                   for s in peer.submitted)  # fmt: skip
        assert all(s.registered_delivery == 1 for s in peer.submitted)
        # one report per send, "delivered" only once every part is
        reports = {r.send_id: r for r in channel.received}
        assert set(reports) == set(texts)
        assert {r.status for r in reports.values()} == {"delivered"}
        assert peer.receipts_acked == len(peer.submitted)
        assert peer.binds == [("retenta", "secret", 0)]
        assert peer.unbinds == 1

    serve(body)


def test_errors_throttling_failed_receipts_and_keepalive() -> None:
    async def body(peer: SmscPeer, config: SmppConfig) -> None:
        channel = SmppChannel(config.model_copy(update={"throttle_retry_s": 2.5}))
        batch = [
            SmsMessage("bad", "+380500000001", "x"),
            SmsMessage("busy", "+380500000429", "x"),
            SmsMessage("lost", "+380500000002", "x"),
            SmsMessage("tlv", "+380500000003", "x"),
            SmsMessage("nonumber", "+3805", "x"),
        ]
        try:
            bad, busy, lost, tlv, nonumber = await channel.send(batch)
            await wait_for(lambda: len(channel.received) == 2)
            await asyncio.sleep(0.7)  # idle: the link is kept alive with enquire_link
        finally:
            await channel.close()
        assert (bad.outcome, bad.detail, bad.code) == (Outcome.PERMANENT, "invalid_number", 0x0B)
        assert busy.outcome is Outcome.TEMPORARY
        assert busy.reason == "ESME_RTHROTTLED (0x58); retry-after=2.5"
        assert lost.ok
        assert tlv.ok
        assert (nonumber.outcome, nonumber.detail) == (Outcome.PERMANENT, "invalid_number")
        reports = {r.send_id: r for r in channel.received}
        assert (reports["lost"].status, reports["lost"].error_code) == ("failed", "001")
        assert reports["tlv"].status == "delivered"
        assert peer.enquire_links >= 2

    serve(body)


def test_wrong_password_is_temporary_and_check_says_why() -> None:
    async def body(peer: SmscPeer, config: SmppConfig) -> None:
        wrong = config.model_copy(update={"password": SecretStr("nope")})
        channel = SmppChannel(wrong)
        try:
            [result] = await channel.send([SmsMessage("s", "+380501234567", "hi")])
        finally:
            await channel.close()
        assert (result.outcome, result.detail) == (Outcome.TEMPORARY, "bind_failed")
        assert "Invalid Password" in result.reason
        assert "nope" not in result.reason
        good, bad = await smpp.check(config), await smpp.check(wrong)
        assert good.ok, good.message
        assert not bad.ok
        assert "Invalid Password" in bad.message

    serve(body)


def test_reconnects_after_the_smsc_drops_the_link() -> None:
    async def body(peer: SmscPeer, config: SmppConfig) -> None:
        channel = SmppChannel(config.model_copy(update={"request_receipts": False}))
        try:
            [first] = await channel.send([SmsMessage("a", "+380501234567", "one")])
            assert first.ok
            await wait_for(lambda: not channel.bound.is_set())  # the SMSC hung up
            [second] = await channel.send([SmsMessage("b", "+380501234567", "two")])
            assert second.ok
        finally:
            await channel.close()
        assert len(peer.binds) == 2
        assert [t for _, t, _ in peer.texts] == ["one", "two"]
        assert peer.unbinds == 1  # only the second link is unbound; the first was dropped

    serve(body, drop_after=1)


def test_receipts_become_delivered_and_failed_events(container: Container, ws: Workspace) -> None:
    async def body(peer: SmscPeer, config: SmppConfig) -> None:
        sink = sink_for(container.db, ws.id)
        channel = SmppChannel(config, reports=sink)
        batch = [SmsMessage("snd_ok", "+380501234567", "hi"),
                 SmsMessage("snd_lost", "+380500000002", "hi")]  # fmt: skip
        contexts = {m.send_id: SendContext(ws.id, 7, m.send_id, "sms", None, "msg_1")
                    for m in batch}  # fmt: skip
        try:
            results = await channel.send(batch)
            # the dispatcher records "sent" with the remote id (what SENDS does)
            events = [from_result(contexts[r.send_id], r) for r in results]
            await record(container.db, [e for e in events if e is not None])
            await wait_for(lambda: len(channel.received) == 2)
        finally:
            await channel.close()
        # receipts can race the "sent" rows: replay them through the sink (idempotent)
        await sink(channel.received)
        await sink(channel.received)
        # a receipt that only names the remote id (after a restart) finds its send too
        first_remote = next(r.remote_id for r in results if r.send_id == "snd_ok")
        await sink([DeliveryReport("delivered", "smpp", None, first_remote)])

    serve(body)
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT send_id, status, contact_id, channel FROM message_events "
            "WHERE workspace_id = ? ORDER BY send_id, status",
            [ws.id],
        ).fetchall()
    assert rows == [
        ("snd_lost", "failed", 7, "sms"),
        ("snd_lost", "sent", 7, "sms"),
        ("snd_ok", "delivered", 7, "sms"),
        ("snd_ok", "sent", 7, "sms"),
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.one_of(
            st.sampled_from(PEER_GSM.replace("\x1b", "") + "".join(PEER_GSM_EXT.values())),
            st.sampled_from("яЇ😀𝄞"),
        ),
        min_size=1,
        max_size=600,
    ),
    st.integers(min_value=0, max_value=255),
)
def test_encoded_parts_reassemble_to_the_text(text: str, reference: int) -> None:
    encoded = smpp.encode(text, reference)
    gsm = encoded.data_coding == 0
    bodies = encoded.parts
    if len(bodies) > 1:
        assert encoded.esm_class == c.SMPP_GSMFEAT_UDHI
        for seq, body in enumerate(bodies, start=1):
            assert body[:6] == bytes((5, 0, 3, reference, len(bodies), seq))
            assert len(body) - 6 <= (153 if gsm else 134)
        bodies = [b[6:] for b in bodies]
    else:
        assert len(bodies[0]) <= (160 if gsm else 140)
    joined = b"".join(bodies)
    assert (gsm_decode(joined) if gsm else joined.decode("utf-16-be")) == text
    # every part decodes on its own: no escape or surrogate pair is cut
    decode = gsm_decode if gsm else (lambda b: b.decode("utf-16-be"))
    assert "".join(decode(body) for body in bodies) == text


def tls_pair(tmp_path: Any) -> tuple[ssl.SSLContext, str]:
    """A private CA and a server certificate for ``localhost``: (server context, CA PEM)."""
    now = datetime.now(UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(name("Test CA")).issuer_name(name("Test CA"))
        .public_key(ca_key.public_key()).serial_number(1)
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(name("localhost")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(2)
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    return server, ca.public_bytes(serialization.Encoding.PEM).decode()


def test_smpp_over_tls_checks_the_servers_certificate(tmp_path: Any) -> None:
    server_context, ca_pem = tls_pair(tmp_path)
    peer = SmscPeer()

    async def main() -> None:
        server = await asyncio.start_server(peer.handle, "127.0.0.1", 0, ssl=server_context)
        port = server.sockets[0].getsockname()[1]
        config = SmppConfig(host="localhost", port=port, system_id="retenta", password="secret",
                            sender="Retenta", timeout_s=3, tls=True, tls_ca_pem=ca_pem)  # fmt: skip
        channel = SmppChannel(config)
        try:
            long_text = "Привіт! " * 20  # 3 UCS-2 parts, receipts over the same TLS link
            [result] = await channel.send([SmsMessage("s", "+380501234567", long_text)])
            assert result.ok, result.reason
            await wait_for(lambda: len(channel.received) == 1)
            untrusted = config.model_copy(update={"tls_ca_pem": None})
            refused = await smpp.check(untrusted)
            assert not refused.ok
            assert "CERTIFICATE_VERIFY_FAILED" in refused.message
        finally:
            await channel.close()
            server.close()
            await server.wait_closed()

    asyncio.run(main())
    assert [t for _, t, _ in peer.texts] == ["Привіт! " * 20]
    assert peer.unbinds == 1
