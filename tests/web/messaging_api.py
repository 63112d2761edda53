"""Content made through the real API for the messaging browser tests."""

from __future__ import annotations

import uuid
from typing import Any

from tests.web.conftest import LiveServer

HEADER_MJML = (
    "<mj-section>\n  <mj-column>\n"
    "    <mj-text>{{ title }} · Shop header</mj-text>\n"
    "  </mj-column>\n</mj-section>"
)
FOOTER_MJML = (
    "<mj-section>\n  <mj-column>\n"
    "    <mj-text>Shop footer v1</mj-text>\n"
    "  </mj-column>\n</mj-section>"
)


def unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:6]}"


def create_block(live: LiveServer, **doc: Any) -> dict[str, Any]:
    with live.api() as api:
        resp = api.post("/api/v1/blocks", json=doc)
        assert resp.status_code == 201, resp.text
        return dict(resp.json())


def header_block(live: LiveServer) -> dict[str, Any]:
    params = {"title": {"default": "Hello", "description": "the header line"}}
    return create_block(
        live, name=unique("Header"), kind="header", email={"en": HEADER_MJML}, params=params
    )


def footer_block(live: LiveServer) -> dict[str, Any]:
    return create_block(
        live, name=unique("Footer"), kind="footer", email={"en": FOOTER_MJML},
        text={"en": "Shop: reply STOP to opt out"},
    )  # fmt: skip


def section(text: str) -> str:
    return f"<mj-section><mj-column><mj-text>{text}</mj-text></mj-column></mj-section>"


def create_message(live: LiveServer, **doc: Any) -> dict[str, Any]:
    with live.api() as api:
        resp = api.post("/api/v1/messages", json=doc)
        assert resp.status_code == 201, resp.text
        return dict(resp.json())


def get(live: LiveServer, path: str) -> Any:
    with live.api() as api:
        resp = api.get(path)
        resp.raise_for_status()
        return resp.json()


def email_only(subject: str, text: str, language: str = "en") -> dict[str, Any]:
    """The channels of a one-language email with one inline section."""
    body = [{"mjml": {language: section(text)}}]
    return {"email": {"subject": {language: subject}, "body": body}}


class SmtpSink:
    """A local SMTP server (aiosmtpd) that keeps every message it is given."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def received_by(self, address: str) -> list[Any]:
        return [m for m in self.messages if address in m.rcpt_tos]


def put_email_channel(live: LiveServer, name: str, port: int, **extra: Any) -> dict[str, Any]:
    """An SMTP sending profile without TLS pointing at a local port."""
    config = {
        "from_address": "news@shop.example", "category": "marketing",
        "smtp": {"host": "127.0.0.1", "port": port, "tls": "none", "connections": 1},
        **extra,
    }  # fmt: skip
    with live.api() as api:
        resp = api.put(f"/api/v1/channels/email/{name}", json=config)
        assert resp.status_code == 200, resp.text
        return dict(resp.json())


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
