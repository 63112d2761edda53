"""Shared set-up for the broadcast and crash benchmarks (and the crash test).

- :func:`seed_contacts`: N contacts (email identity, email consent, a language, a city, and
  four recommended products in ``attributes.recs``) written through Arrow, as an import does.
- :func:`prepare`: a workspace with a rules segment over those contacts, an email sending
  profile pointing at a local SMTP server, a stored message made of blocks (header, a
  greeting, a **product grid of the contact's own recommendations**, the unsubscribe footer),
  the global control group at 0 % and a draft campaign to the segment.
- :class:`CountingServer`: aiosmtpd in its own process that counts every message and, when
  given a log file, appends ``<recipient>\\t<Message-ID>`` per message (the crash checks).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import random
import re
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging.content.schemas import MessageIn
from retenta.messaging.content.seed import seed_content
from retenta.messaging.content.service import ContentService
from retenta.messaging.email.dkim import generate_key

LANGUAGES = ("en", "uk", "de", "en")
CITY = "Kyiv"
CATALOG = [
    {
        "sku": f"SKU{n}",
        "name": f"Product {n}",
        "price": round(5 + n * 1.37, 2),
        "currency": ("EUR", "UAH", "USD")[n % 3],
        "url": f"https://shop.example/p/{n}",
        "image_url": f"https://cdn.shop.example/{n}.jpg",
    }
    for n in range(200)
]


def address(number: int) -> str:
    return f"c{number}@example.com"


# ---------------------------------------------------------------- the store


def seed_contacts(container: Container, workspace_id: str, count: int, first: int = 0) -> None:
    """``count`` consented contacts numbered from ``first`` (ids from the sequence)."""
    step = 50_000
    for start in range(first, first + count, step):
        _seed_chunk(container, workspace_id, start, min(step, first + count - start))


def _seed_chunk(container: Container, workspace_id: str, first: int, count: int) -> None:
    rng = random.Random(first)
    now = datetime.now(UTC)
    numbers = range(first, first + count)
    attributes = [
        orjson.dumps(
            {"city": CITY, "first_name": f"Name{n}", "recs": rng.sample(CATALOG, 4)}
        ).decode()
        for n in numbers
    ]

    def work(conn: Any) -> None:
        ids = [int(r[0]) for r in conn.execute(
            "SELECT nextval('contact_id_seq') FROM range(?)", [count]).fetchall()]  # fmt: skip
        tables = {
            "_c": pa.table({"id": ids, "attributes": attributes,
                            "language": [LANGUAGES[n % 4] for n in numbers]}),
            "_i": pa.table({"id": ids, "value": [address(n) for n in numbers]}),
        }  # fmt: skip
        for name, table in tables.items():
            conn.register(name, table)
        try:
            conn.execute(
                "INSERT INTO contacts (workspace_id, id, created_at, updated_at, attributes,"
                " language, timezone) SELECT ?, id, ?, ?, attributes::JSON, language,"
                " 'Europe/Kyiv' FROM _c", [workspace_id, now, now])  # fmt: skip
            conn.execute(
                "INSERT INTO identities (workspace_id, type, value, contact_id, first_seen,"
                " last_seen) SELECT ?, 'email', value, id, ?, ? FROM _i",
                [workspace_id, now, now])  # fmt: skip
            conn.execute(
                "INSERT INTO consents (workspace_id, contact_id, channel, topic, status, source,"
                " changed_at) SELECT ?, id, 'email', '*', 'subscribed', 'bench', ? FROM _c",
                [workspace_id, now])  # fmt: skip
        finally:
            for name in tables:
                conn.unregister(name)

    container.db.write(work)


@dataclass(frozen=True)
class Setup:
    workspace_id: str
    api_headers: dict[str, str]
    segment_id: str
    message_id: str
    campaign_id: str


def prepare(
    container: Container, client: TestClient, *, size: int, smtp_port: int, connections: int = 8
) -> Setup:
    """The workspace, contacts, segment, channel, message and a draft campaign."""
    ws = container.tenancy.create_workspace(name="Broadcast bench")
    key = container.tenancy.issue_key(workspace_id=ws, kind="api")
    headers = {"Authorization": f"Bearer {key.secret}"}
    seed_contacts(container, ws, size)
    segment_id = _created(client.post("/api/v1/segments", headers=headers, json={
        "name": f"In {CITY}", "kind": "rules", "definition": {"version": 1, "root": {
            "type": "all", "conditions": [{"type": "attribute", "field": "city",
                                           "value_type": "text", "op": "equals",
                                           "value": CITY}]}}}))  # fmt: skip
    _ok(client.put("/api/v1/channels/email/promo", headers=headers,
                   json=email_profile(smtp_port, connections)))  # fmt: skip
    message_id = asyncio.run(_message(ContentService(container.db), ws))
    _ok(client.put("/api/v1/campaign-settings", headers=headers,
                   json={"global_control_pct": 0}))  # fmt: skip
    campaign_id = _created(
        client.post(
            "/api/v1/campaigns",
            headers=headers,
            json={
                "name": "New arrivals for you",
                "segment_id": segment_id,
                "message_id": message_id,
            },
        )
    )
    return Setup(ws, headers, segment_id, message_id, campaign_id)


def email_profile(port: int, connections: int) -> dict[str, Any]:
    key = generate_key("shop.example", "s1")
    return {
        "category": "marketing",
        "from_address": "news@shop.example",
        "from_name": "Shop",
        "bounce_domain": "bounces.shop.example",
        "unsubscribe_base_url": "https://r.shop.example/u/",
        "dkim": {"domain": key.domain, "selector": key.selector,
                 "private_key_pem": key.private_pem.decode()},
        # one session per connection for the whole run, as the bare loop keeps them
        "smtp": {"host": "127.0.0.1", "port": port, "tls": "none", "connections": connections,
                 "max_messages_per_connection": 10_000_000},
    }  # fmt: skip


async def _message(service: ContentService, workspace_id: str) -> str:
    """The example blocks, and a message whose product grid shows the contact's own picks."""
    ids = (await seed_content(service, workspace_id))["blocks"]
    body = MessageIn.model_validate({
        "name": "New arrivals for you", "category": "promo", "default_language": "en",
        "channels": {"email": {
            "subject": {"en": "{{ contact.first_name }}, {{ contact.attributes.recs | length }}"
                              " picks from {{ contact.attributes.recs[0].price"
                              " | money(contact.attributes.recs[0].currency) }}",
                        "uk": "{{ contact.first_name }}, добірка для вас",
                        "de": "{{ contact.first_name }}, Neuheiten für Sie"},
            "preheader": {"en": "{{ contact.attributes.recs[0].name }} and more"},
            "body": [{"block": ids["header"]},
                     {"mjml": {"en": "<mj-section><mj-column><mj-text>Hello, "
                                     "{{ contact.first_name }}!</mj-text></mj-column>"
                                     "</mj-section>"}},
                     {"block": ids["grid"],
                      "params": {"products": {"var": "contact.attributes.recs"}}},
                     {"block": ids["footer"]}]}},
    })  # fmt: skip
    return str((await service.save_message(workspace_id, body))["id"])


def _created(response: Any) -> str:
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _ok(response: Any) -> None:
    assert response.status_code == 200, response.text


# ---------------------------------------------------------------- the SMTP server process

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


def message_id_of(data: bytes) -> str:
    """The Message-ID header of a raw message ("" when it has none).

    >>> message_id_of(b"From: a@b\\r\\nMessage-ID: <snd_1@shop.example>\\r\\n\\r\\nbody")
    '<snd_1@shop.example>'
    """
    head = data.split(b"\r\n\r\n", 1)[0]
    match = _MESSAGE_ID.search(head)
    return match.group(1).decode() if match else ""


def _serve(port: int, counter: Any, ready: Any, log_path: str | None) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP

    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600) if log_path else -1

    class Counting:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            if fd >= 0:
                line = f"{envelope.rcpt_tos[0]}\t{message_id_of(envelope.content)}\n"
                os.write(fd, line.encode())
            with counter.get_lock():
                counter.value += 1
            return "250 2.0.0 Ok: queued"

        async def handle_exception(self, error: Exception) -> str:
            if isinstance(error, asyncio.IncompleteReadError):
                raise asyncio.CancelledError  # the client is gone and all it sent is read
            return f"500 Error: {type(error).__name__}"

    class Finishing(SMTP):  # type: ignore[misc]
        """As an MTA does (Postfix queues a message once its final "." is in): what the
        client sent before closing is processed. aiosmtpd as it comes cancels the session
        at EOF, dropping a transaction whose "." was received but not yet read."""

        def eof_received(self) -> bool | None:
            return asyncio.StreamReaderProtocol.eof_received(self)

        def connection_lost(self, error: Exception | None) -> None:
            if self._timeout_handle is not None:
                self._timeout_handle.cancel()
            asyncio.StreamReaderProtocol.connection_lost(self, error)

    class Server(Controller):  # type: ignore[misc]
        def factory(self) -> SMTP:
            return Finishing(self.handler, **self.SMTP_kwargs)

    controller = Server(Counting(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    while True:
        time.sleep(3600)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class CountingServer:
    """``with CountingServer(log=path) as server: ... server.count``"""

    def __init__(self, log: Path | None = None) -> None:
        self.port = free_port()
        self.log = log
        self._counter = mp.Value("q", 0)
        self._ready = mp.Event()
        self._process = mp.Process(
            target=_serve,
            args=(self.port, self._counter, self._ready, str(log) if log else None),
            daemon=True,
        )

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def count(self) -> int:
        return int(self._counter.value)

    def received(self) -> list[tuple[str, str]]:
        """``[(recipient, Message-ID)]`` in arrival order (needs ``log``)."""
        assert self.log is not None
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [tuple(line.split("\t", 1)) for line in lines]  # type: ignore[misc]

    def __enter__(self) -> CountingServer:
        self._process.start()
        if not self._ready.wait(30):
            raise RuntimeError("the SMTP server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._process.terminate()
        self._process.join(5)
