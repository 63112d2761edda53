"""The campaign runner as wired by app.py: with background workers on, a scheduled
campaign starts, queues and is delivered by the dispatcher on its own."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient
from tests.campaigns.helpers import API, create, schedule, set_global_control, setup_sending
from tests.conftest import make_workspace
from tests.messaging.dkimkeys import dns_for
from tests.messaging.outbox.helpers import KEY, contact
from tests.messaging.smtp_peer import smtp_peer

from retenta.app import build_container, create_app
from retenta.settings import Settings


def test_the_lifecycle_runner_sends_a_scheduled_campaign(tmp_path: Path) -> None:
    container = build_container(Settings(data_dir=tmp_path / "data", background_workers=True))
    try:
        with TestClient(create_app(container)) as client, smtp_peer(dnsfunc=dns_for(KEY)) as peer:
            ws = make_workspace(container)
            for i in range(5):
                contact(client, ws, f"b{i}@example.com")
            set_global_control(client, ws, 0)
            setup_sending(client, container, ws, port=peer.port)
            campaign = create(client, ws, audience="all_consented", message_id="msg_a")
            schedule(client, ws, campaign)
            deadline = time.monotonic() + 20
            body = {}
            while time.monotonic() < deadline:
                body = client.get(f"{API}/{campaign}", headers=ws.api_headers).json()
                if body["status"] == "sent" and body["progress"]["sent"] == 5:
                    break
                time.sleep(0.2)
            assert body["status"] == "sent", body
            assert body["progress"]["sent"] == 5
            assert sorted(r.rcpt_to[0] for r in peer.handler.received) == [
                f"b{i}@example.com" for i in range(5)
            ]
    finally:
        container.close()
