"""A real local SMTP server (aiosmtpd) that receives, parses and DKIM-verifies every message.

It can speak plain SMTP, STARTTLS (optionally requiring it) or implicit TLS with a
self-signed certificate the client verifies through ``ca_file``, require AUTH, and answer
chosen recipients with chosen replies (``550 5.1.1 …``) to test classification.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

import dkim
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Received:
    mail_from: str
    rcpt_to: list[str]
    data: bytes
    dkim_ok: bool
    tls: bool
    login: str | None

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Handler:
    dnsfunc: Callable[..., bytes | None] | None = None
    replies: dict[str, str] = field(default_factory=dict)  # rcpt address -> reply at RCPT
    data_replies: dict[str, str] = field(default_factory=dict)  # rcpt address -> reply at DATA
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.replies:
            return self.replies[address]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        for rcpt in envelope.rcpt_tos:
            if rcpt in self.data_replies:
                return self.data_replies[rcpt]
        data = envelope.original_content or b""
        ok = bool(dkim.verify(data, dnsfunc=self.dnsfunc)) if self.dnsfunc else False
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        with self.lock:
            self.received.append(
                Received(
                    mail_from=str(envelope.mail_from),
                    rcpt_to=list(envelope.rcpt_tos),
                    data=data,
                    dkim_ok=ok,
                    tls=server.transport.get_extra_info("ssl_object") is not None,
                    login=login,
                )
            )
            number = len(self.received)
        return f"250 2.0.0 Ok: queued as Q{number:06d}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def self_signed(directory: Path, host: str = "localhost") -> tuple[Path, Path]:
    """A certificate for ``host`` (and 127.0.0.1) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(host), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Peer:
    host: str
    port: int
    handler: Handler
    ca_file: str | None


@contextmanager
def smtp_peer(
    *,
    dnsfunc: Callable[..., bytes | None] | None = None,
    tls: Literal["none", "starttls", "implicit"] = "none",
    cert_dir: Path | None = None,
    users: dict[str, str] | None = None,
    idle_timeout: float | None = None,
) -> Iterator[Peer]:
    """Run the peer in its own thread and event loop for the ``with`` block."""
    handler = Handler(dnsfunc=dnsfunc)
    kwargs: dict[str, Any] = {}
    ca_file = None
    if tls != "none":
        assert cert_dir is not None
        cert, key = self_signed(cert_dir)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        ca_file = str(cert)
        if tls == "implicit":
            kwargs["ssl_context"] = context
        else:
            kwargs.update(tls_context=context, require_starttls=True)
    if users is not None:

        def authenticator(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            ok = (
                isinstance(data, LoginPassword)
                and users.get(data.login.decode()) == data.password.decode()
            )
            return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

        kwargs.update(
            authenticator=authenticator, auth_required=True, auth_require_tls=tls == "starttls"
        )
    if idle_timeout is not None:
        kwargs["timeout"] = idle_timeout  # the server drops sessions idle this long
    port = free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, server_hostname="localhost", **kwargs
    )
    controller.start()
    try:
        yield Peer("127.0.0.1", port, handler, ca_file)
    finally:
        controller.stop()
