"""Open pixel and click redirect over real HTTP: signed tokens, recorded events, machine flags."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging.events import MessageEvent, SendContext, record
from retenta.messaging.services import build
from retenta.messaging.signing import Keyring
from retenta.messaging.tracking import Tracker, add_open_pixel, rewrite_links
from tests.conftest import Workspace

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
BASE = "http://testserver"


def tracker(container: Container) -> Tracker:
    return build(container).tracker(BASE)


def sent(container: Container, ws: Workspace, send_id: str, *, ago: timedelta) -> None:
    send = SendContext(ws.id, 7, send_id, "email", campaign_id="cmp_1", message_id="msg_1")
    event = MessageEvent(send, "sent", datetime.now(UTC) - ago)
    asyncio.run(record(container.db, [event]))


def events(container: Container, send_id: str) -> list[dict[str, Any]]:
    with container.db.read() as cur:
        rows = cur.execute(
            "SELECT workspace_id, contact_id, status, machine, campaign_id, properties"
            " FROM message_events WHERE send_id = ? AND status <> 'sent' ORDER BY \"at\"",
            [send_id],
        ).fetchall()
    names = ("workspace_id", "contact_id", "status", "machine", "campaign_id", "properties")
    return [
        dict(zip(names, row, strict=True)) | {"properties": orjson.loads(row[5])} for row in rows
    ]


def path(url: str) -> str:
    return url.removeprefix(BASE)


def test_click_redirects_to_the_signed_target_and_records_a_human_click(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    sent(container, ws, "snd_a1", ago=timedelta(hours=1))
    url = tracker(container).click_url(ws.id, 7, "snd_a1", 0, "https://shop.example/p?x=1&y=2")
    response = client.get(path(url), headers={"User-Agent": CHROME}, follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "https://shop.example/p?x=1&y=2"
    [event] = events(container, "snd_a1")
    assert event["status"] == "clicked"
    assert event["machine"] is False
    assert event["campaign_id"] == "cmp_1"  # taken from the send's earlier events
    assert event["properties"]["link"] == 0
    assert event["properties"]["url"] == "https://shop.example/p?x=1&y=2"


def _edited_url_token(token: str, new_url: str) -> str:
    payload, _, signature = token.rpartition(".")
    fields = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode().split("\x1f")
    fields[-1] = new_url
    raw = base64.urlsafe_b64encode("\x1f".join(fields).encode()).rstrip(b"=").decode()
    return f"{raw}.{signature}"


def test_forged_or_edited_tokens_are_refused_and_never_redirect(
    client: TestClient, container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    good = tracker(container).click_url(ws.id, 7, "snd_b1", 0, "https://shop.example/")
    token = path(good).removeprefix("/t/c/")
    other_key = Keyring(b"some other server secret")
    forged = [
        _edited_url_token(token, "https://evil.example/"),  # target edited, signature kept
        token[:-1] + ("0" if token[-1] != "0" else "1"),  # signature edited
        token.rpartition(".")[0],  # no signature
        other_key.url_token("click", ws.id, "7", "snd_b1", "0", "https://evil.example/"),
        # a genuine token of another workspace, edited to name this one
        _rename_workspace(
            Tracker(Keyring(b"x" * 16), BASE).keyring.url_token(
                "click", other_ws.id, "7", "snd_b1", "0", "https://evil.example/"
            ),
            ws.id,
        ),
        "not-a-token",
        "%2F%2Fevil.example",
    ]
    for bad in forged:
        response = client.get(f"/t/c/{bad}", follow_redirects=False)
        assert response.status_code == 404, bad
        assert "location" not in response.headers
    # an open token is no click token (purpose-bound keys), and vice versa
    open_token = path(tracker(container).open_url(ws.id, 7, "snd_b1")).removeprefix("/t/o/")
    assert client.get(f"/t/c/{open_token.removesuffix('.gif')}").status_code == 404
    assert client.get(f"/t/o/{token}.gif").status_code == 404
    assert events(container, "snd_b1") == []


def _rename_workspace(token: str, workspace_id: str) -> str:
    payload, _, signature = token.rpartition(".")
    fields = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode().split("\x1f")
    fields[0] = workspace_id
    raw = base64.urlsafe_b64encode("\x1f".join(fields).encode()).rstrip(b"=").decode()
    return f"{raw}.{signature}"


def test_only_http_targets_can_be_signed() -> None:
    t = Tracker(Keyring(b"k" * 16), BASE)
    for url in (
        "javascript:alert(1)",
        "//evil.example/",
        "data:text/html,x",
        "https://a.b/\r\nX: y",
    ):
        with pytest.raises(ValueError, match="only http"):
            t.click_url("ws_1", 1, "snd_1", 0, url)


@pytest.mark.parametrize(
    ("user_agent", "machine", "reason"),
    [
        (CHROME, False, None),
        ("Mozilla/5.0", True, "apple_privacy_proxy"),
        ("Mozilla/5.0 (Windows NT 5.1) Firefox/11.0 (via ggpht.com GoogleImageProxy)",
         False, None),
        ("", True, "scanner_user_agent"),
        ("Mozilla/5.0 (compatible; Barracuda Sentinel)", True, "scanner_user_agent"),
    ],
)  # fmt: skip
def test_opens_are_recorded_with_machine_flags(
    client: TestClient,
    container: Container,
    ws: Workspace,
    user_agent: str,
    machine: bool,
    reason: str | None,
) -> None:
    sent(container, ws, "snd_o1", ago=timedelta(minutes=5))
    url = tracker(container).open_url(ws.id, 7, "snd_o1")
    response = client.get(path(url), headers={"User-Agent": user_agent})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.content.startswith(b"GIF89a")
    assert "no-store" in response.headers["cache-control"]
    [event] = events(container, "snd_o1")
    assert (event["status"], event["machine"]) == ("opened", machine)
    assert event["properties"].get("machine_reason") == reason


def test_scanner_clicks_are_flagged(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    t = tracker(container)
    sent(container, ws, "snd_fresh", ago=timedelta(milliseconds=300))
    sent(container, ws, "snd_old", ago=timedelta(hours=2))
    at_delivery = client.get(
        path(t.click_url(ws.id, 7, "snd_fresh", 0, "https://s.example/a")),
        headers={"User-Agent": CHROME},
        follow_redirects=False,
    )
    head = client.head(
        path(t.click_url(ws.id, 7, "snd_old", 0, "https://s.example/a")),
        headers={"User-Agent": CHROME},
        follow_redirects=False,
    )
    assert at_delivery.status_code == head.status_code == 302
    # three different links of one message within two seconds: a scanner, not a person
    for link in (1, 2, 3):
        client.get(
            path(t.click_url(ws.id, 7, "snd_old", link, f"https://s.example/{link}")),
            headers={"User-Agent": CHROME},
            follow_redirects=False,
        )
    [fresh] = events(container, "snd_fresh")
    assert fresh["properties"]["machine_reason"] == "at_delivery"
    old = events(container, "snd_old")
    reasons = [e["properties"].get("machine_reason") for e in old]
    assert reasons == ["head_request", None, "link_burst", "link_burst"]
    assert [e["machine"] for e in old] == [True, False, True, True]


def test_engagement_counts_only_human_opens_and_clicks(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    t = tracker(container)
    for n in range(4):
        sent(container, ws, f"snd_e{n}", ago=timedelta(hours=1))
    client.get(path(t.open_url(ws.id, 7, "snd_e0")), headers={"User-Agent": CHROME})
    client.get(path(t.open_url(ws.id, 7, "snd_e1")), headers={"User-Agent": "Mozilla/5.0"})
    client.get(path(t.open_url(ws.id, 7, "snd_e2")), headers={"User-Agent": "Mozilla/5.0"})
    click = t.click_url(ws.id, 7, "snd_e0", 0, "https://s.example/")
    client.get(path(click), headers={"User-Agent": CHROME}, follow_redirects=False)
    images_off = t.click_url(ws.id, 7, "snd_e2", 0, "https://s.example/")  # no human open
    client.get(path(images_off), headers={"User-Agent": CHROME}, follow_redirects=False)
    scan = t.click_url(ws.id, 7, "snd_e3", 0, "https://s.example/")
    client.get(path(scan), headers={"User-Agent": "python-requests/2.31"}, follow_redirects=False)
    body = client.get(
        "/api/v1/messages/engagement?campaign_id=cmp_1", headers=ws.api_headers
    ).json()
    assert body == {
        "sent": 4, "opened": 2, "clicked": 2, "machine_opened": 2, "machine_clicked": 1,
        "open_rate": 0.5, "click_rate": 0.5,
    }  # fmt: skip


def test_rewritten_html_links_go_through_the_redirect(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    t = tracker(container)
    sent(container, ws, "snd_r1", ago=timedelta(hours=1))
    html = (
        "<html><body><a class='btn' href='https://shop.example/sale?a=1&amp;b=2'>Sale</a>"
        '<a href="mailto:help@shop.example">Help</a>'
        '<a href="https://t.shop.example/u/abc-123">Unsubscribe</a>'
        '<a data-notrack href="https://shop.example/raw">Raw</a>'
        '<a href="https://shop.example/second">Second</a></body></html>'
    )
    out, urls = rewrite_links(html, lambda i, u: t.click_url(ws.id, 7, "snd_r1", i, u))
    out = add_open_pixel(out, t.open_url(ws.id, 7, "snd_r1"))
    assert urls == ["https://shop.example/sale?a=1&b=2", "https://shop.example/second"]
    assert 'href="mailto:help@shop.example"' in out
    assert 'href="https://t.shop.example/u/abc-123"' in out
    assert 'href="https://shop.example/raw"' in out
    assert out.count(f"{BASE}/t/c/") == 2
    assert out.index("/t/o/") < out.index("</body>")
    first = out.split('href="')[1].split('"')[0]
    response = client.get(path(first), headers={"User-Agent": CHROME}, follow_redirects=False)
    assert response.headers["location"] == "https://shop.example/sale?a=1&b=2"


def test_composer_tracks_the_links_of_a_real_email(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    """Render → rewrite → MIME → SMTP round trip; the received links redirect and record."""
    import email.policy
    from email import message_from_bytes

    from retenta.messaging.channels.smtp import SmtpChannel
    from retenta.messaging.context import ContactVars, ProductVars, RenderContext
    from retenta.messaging.email.examples import promo_version
    from retenta.messaging.email.mime import Recipient
    from retenta.messaging.email.profiles import Composer, SendingProfile, SendRequest, SmtpServer
    from retenta.messaging.email.render import compile_email
    from tests.messaging.smtp_peer import smtp_peer

    svc = build(container)
    message = compile_email("promo", {"en": promo_version("en")}, default_language="en")
    product = ProductVars(sku="MUG", name="Mug", price=12.5, currency="EUR",
                          url="https://shop.example/mug?ref=mail")  # fmt: skip
    variables = RenderContext(
        contact=ContactVars(contact_id=7, email="o@example.com"),
        products=(product,),
        links={"unsubscribe": "https://t.shop.example/u/tok"},
    ).variables()
    request = SendRequest("snd_m1", Recipient(ws.id, 7, "o@example.com"), variables, "cmp_1")
    with smtp_peer() as peer:
        prof = SendingProfile(
            name="promo", from_address="news@shop.example",
            unsubscribe_base_url="https://t.shop.example/u/",
            smtp=SmtpServer(host="127.0.0.1", port=peer.port, tls="none"),
        )  # fmt: skip
        composer = Composer(prof, svc.keyring.workspace(ws.id), tracker=svc.tracker(BASE))
        outgoing = composer.prepare(message, request)
        channel = SmtpChannel.for_profile(prof)

        async def go() -> None:
            try:
                await channel.send([outgoing])  # type: ignore[list-item]
            finally:
                await channel.close()

        asyncio.run(go())
        data = peer.handler.received[0].data
    sent(container, ws, "snd_m1", ago=timedelta(hours=1))
    parsed = message_from_bytes(data, policy=email.policy.default)
    html = parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "https://shop.example/mug" not in html  # every product link goes through /t/c/
    assert 'href="https://t.shop.example/u/tok"' in html  # the unsubscribe link is untouched
    clicks = [part.split('"')[0] for part in html.split(f'href="{BASE}/t/c/')[1:]]
    assert len(clicks) == 2  # the product name and its button
    response = client.get(f"/t/c/{clicks[1]}", headers={"User-Agent": CHROME},
                          follow_redirects=False)  # fmt: skip
    assert response.headers["location"] == "https://shop.example/mug?ref=mail"
    pixel = html.split(f'src="{BASE}')[1].split('"')[0]
    assert client.get(pixel, headers={"User-Agent": CHROME}).status_code == 200
    assert [(e["status"], e["machine"]) for e in events(container, "snd_m1")] == [
        ("clicked", False), ("opened", False),
    ]  # fmt: skip


def test_forged_workspace_names_do_not_grow_the_key_cache() -> None:
    """Reading a token derives the key of the workspace it names, forged or not: bounded."""
    ring = Keyring(b"k" * 16)
    genuine = ring.url_token("click", "ws_a", "1", "snd_1", "0", "https://s.example/")
    for n in range(12_000):
        forged = Keyring(b"other key").url_token("click", f"ws_forged_{n}", "1", "s", "0", "x")
        assert ring.read_url_token("click", forged) is None
    assert len(ring._signers) <= 10_000
    assert ring.read_url_token("click", genuine) is not None
