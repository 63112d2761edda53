"""Channel settings, in Chromium: an SMTP profile with a DKIM key made in the browser and the
DNS record to publish, write-only secrets, "Check" against a real local SMTP server, web push's
VAPID public key, a webhook; who may change and who may check."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from playwright.sync_api import Page, expect

from retenta.messaging.email.dkim import DkimKey, dns_record
from tests.web.conftest import LiveServer, logged_in, screenshot
from tests.web.messaging_api import SmtpSink, free_port, put_email_channel

pytestmark = pytest.mark.browser
PASSWORD = "s3cret-smtp-pw"


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink().start()
    yield server
    server.stop()


def channels(live: LiveServer) -> dict:
    with live.api() as api:
        resp = api.get("/api/v1/channels")
        resp.raise_for_status()
        return {(c["type"], c["name"]): c for c in resp.json()["channels"]}


def add_channel(page: Page, kind: str, name: str) -> None:
    form = page.get_by_role("form", name="Add a channel")
    form.get_by_label("Channel type").select_option(kind)
    form.get_by_label("Channel name").fill(name)
    form.get_by_role("button", name="Add").click()


def test_an_admin_sets_up_an_smtp_profile_with_dkim_and_checks_it(
    admin_page: Page, live_server: LiveServer, sink: SmtpSink
) -> None:
    page = admin_page
    page.goto("/messages/channels")
    add_channel(page, "email", "promo")
    card = page.get_by_test_id("channel-email-promo")
    card.get_by_label("From address").fill("news@shop.example")
    card.get_by_label("Category").select_option("marketing")
    card.get_by_label("SMTP host").fill("127.0.0.1")
    card.get_by_label("SMTP port").fill(str(sink.port))
    card.get_by_label("TLS").select_option("none")
    card.get_by_label("SMTP username").fill("")
    card.get_by_label("SMTP password").fill(PASSWORD)
    card.get_by_label("DKIM domain (d=)").fill("shop.example")
    card.get_by_label("DKIM selector (s=)").fill("rt1")
    card.get_by_role("button", name="Generate a DKIM key").click()
    new_record = card.get_by_test_id("dkim-new-record")
    expect(new_record).to_contain_text("rt1._domainkey.shop.example")
    generated = new_record.locator("pre").inner_text().strip()
    assert generated.startswith("v=DKIM1; k=rsa; p=")
    card.get_by_role("button", name="Save").click()

    # Saved: the secrets read "set", never their values; the record is the server's own.
    card = page.get_by_test_id("channel-email-promo")
    record = card.get_by_test_id("dkim-record")
    expect(record).to_contain_text("rt1._domainkey.shop.example")
    expect(record.locator("pre")).to_have_text(generated)
    stored = channels(live_server)[("email", "promo")]
    assert stored["config"]["smtp"]["password"] == "********"
    assert stored["config"]["dkim"]["private_key_pem"] == "********"
    assert sorted(stored["secrets_set"]) == ["dkim.private_key_pem", "smtp.password"]
    assert stored["config"]["smtp"]["verify_tls"] is True  # untouched: the Config's default
    expect(card.get_by_label("SMTP password")).to_have_value("")
    expect(card.get_by_label("SMTP password")).to_have_attribute(
        "placeholder", "set — leave blank to keep"
    )
    assert PASSWORD not in page.content()
    assert "PRIVATE KEY" not in page.content()

    card.get_by_role("button", name="Check").click()
    result = card.get_by_test_id("check-result")
    expect(result).to_contain_text("OK")
    expect(result).to_contain_text(f"127.0.0.1:{sink.port}")
    screenshot(page, "messaging-channels")

    # Another port, the password left blank: the password is kept, the check now fails.
    card.get_by_label("SMTP port").fill(str(free_port()))
    card.get_by_role("button", name="Save").click()
    expect(card.get_by_test_id("saved-note")).to_be_visible()  # the check must see this save
    card.get_by_role("button", name="Check").click()
    expect(card.get_by_test_id("check-result")).to_contain_text("Failed")
    assert sorted(channels(live_server)[("email", "promo")]["secrets_set"]) == [
        "dkim.private_key_pem", "smtp.password",
    ]  # fmt: skip


def test_the_dkim_record_is_computed_from_the_stored_key(
    admin_page: Page, live_server: LiveServer, sink: SmtpSink
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    dkim = {"domain": "mail.shop.example", "selector": "s2", "private_key_pem": pem.decode()}
    put_email_channel(live_server, "dkimtest", sink.port, dkim=dkim)
    page = admin_page
    page.goto("/messages/channels")
    record = page.get_by_test_id("channel-email-dkimtest").get_by_test_id("dkim-record")
    expect(record).to_contain_text("s2._domainkey.mail.shop.example")
    expected = dns_record(DkimKey("mail.shop.example", "s2", pem))
    expect(record.locator("pre")).to_have_text(expected)


def test_web_push_shows_the_vapid_public_key_sites_subscribe_with(
    admin_page: Page, live_server: LiveServer
) -> None:
    page = admin_page
    page.goto("/messages/channels")
    add_channel(page, "webpush", "default")
    card = page.get_by_test_id("channel-webpush-default")
    card.get_by_label("VAPID subject").fill("mailto:push@shop.example")
    card.get_by_label("Sites that may subscribe (one origin a line)").fill("https://shop.example/")
    card.get_by_role("button", name="Save").click()
    key = page.get_by_test_id("channel-webpush-default").get_by_test_id("vapid-public-key")
    expect(key).to_contain_text("applicationServerKey")
    shown = key.locator("code").inner_text()
    public = httpx.get(
        f"{live_server.url}/v1/push/vapid-public-key",
        params={"writeKey": live_server.ws.write_key},
        timeout=10,
    ).json()["applicationServerKey"]
    assert shown == public
    stored = channels(live_server)[("webpush", "default")]
    assert stored["config"]["allowed_origins"] == ["https://shop.example"]


def test_a_webhook_secret_is_write_only_and_a_bad_value_is_refused_with_its_field(
    admin_page: Page, live_server: LiveServer
) -> None:
    page = admin_page
    page.goto("/messages/channels")
    add_channel(page, "webhook", "callcentre")
    card = page.get_by_test_id("channel-webhook-callcentre")
    card.get_by_label("URL").fill("https://crm.example/hooks/retenta")
    card.get_by_role("button", name="Save").click()
    expect(card.get_by_role("alert")).to_contain_text("secret")  # required, not given
    card.get_by_label("Signing secret").fill("hook-secret-0123456789")
    card.get_by_label("Extra headers (JSON object)").fill('{"X-Team": "sales"}')
    card.get_by_role("button", name="Save").click()
    card = page.get_by_test_id("channel-webhook-callcentre")
    expect(card.get_by_label("Signing secret")).to_have_attribute(
        "placeholder", "set — leave blank to keep"
    )
    stored = channels(live_server)[("webhook", "callcentre")]
    assert stored["config"]["secret"] == "********"
    assert stored["config"]["headers"] == {"X-Team": "sales"}
    assert "hook-secret-0123456789" not in page.content()


def test_a_marketer_checks_but_cannot_change_settings(
    page: Page, live_server: LiveServer, sink: SmtpSink
) -> None:
    put_email_channel(live_server, "marketercheck", sink.port)
    logged_in(page, live_server, "marketer")
    page.goto("/messages/channels")
    card = page.get_by_test_id("channel-email-marketercheck")
    expect(card.get_by_label("SMTP host")).to_have_attribute("readonly", "")
    expect(card.get_by_role("button", name="Save")).to_have_count(0)
    expect(page.get_by_role("form", name="Add a channel")).to_have_count(0)
    card.get_by_role("button", name="Check").click()
    expect(card.get_by_test_id("check-result")).to_contain_text("OK")


class TwilioPeer(BaseHTTPRequestHandler):
    """Answers the account fetch as Twilio documents it: 200 with the account for the right
    Basic credentials, 401 otherwise."""

    SID = "AC" + "0123456789abcdef" * 2
    TOKEN = "twilio-token-0123456789"

    def do_GET(self) -> None:
        expected = "Basic " + base64.b64encode(f"{self.SID}:{self.TOKEN}".encode()).decode()
        ok = self.path == f"/2010-04-01/Accounts/{self.SID}.json"
        ok = ok and self.headers.get("Authorization") == expected
        body = {"friendly_name": "Shop", "status": "active"} if ok else {"code": 20003}
        data = json.dumps(body).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def twilio() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), TwilioPeer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_sms_provider_is_set_up_per_provider_and_checked(
    admin_page: Page, live_server: LiveServer, twilio: str
) -> None:
    page = admin_page
    page.goto("/messages/channels")
    add_channel(page, "sms", "main")
    card = page.get_by_test_id("channel-sms-main")
    card.get_by_label("SMS provider").select_option("twilio")
    card.get_by_label("Account SID").fill(TwilioPeer.SID)
    card.get_by_label("Auth token").fill("wrong-token")
    card.get_by_label("API base URL").fill(twilio)
    card.get_by_label("Default sender").fill("SHOP")
    card.get_by_role("button", name="Save").click()
    card = page.get_by_test_id("channel-sms-main")
    card.get_by_role("button", name="Check").click()
    expect(card.get_by_test_id("check-result")).to_contain_text("Twilio answered 401")
    card.get_by_label("Auth token").fill(TwilioPeer.TOKEN)
    card.get_by_role("button", name="Save").click()
    expect(card.get_by_test_id("saved-note")).to_be_visible()
    expect(card.get_by_test_id("check-result")).to_have_count(0)  # the old result is gone
    card.get_by_role("button", name="Check").click()
    expect(card.get_by_test_id("check-result")).to_contain_text("account 'Shop' is active")
    stored = channels(live_server)[("sms", "main")]
    assert stored["config"]["provider"] == "twilio"
    assert stored["config"]["auth_token"] == "********"
    assert stored["config"]["sender"] == "SHOP"
    assert TwilioPeer.TOKEN not in page.content()


class VonagePeer(BaseHTTPRequestHandler):
    """Answers an empty POST /v1/messages as Vonage does: 401 for wrong Basic credentials,
    422 (the body is invalid) for right ones."""

    KEY, SECRET = "vonage-key", "vonage-secret-0123"

    def do_POST(self) -> None:
        expected = "Basic " + base64.b64encode(f"{self.KEY}:{self.SECRET}".encode()).decode()
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        ok = self.path == "/v1/messages" and self.headers.get("Authorization") == expected
        data = json.dumps({"title": "Invalid params" if ok else "Unauthorized"}).encode()
        self.send_response(422 if ok else 401)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def vonage() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), VonagePeer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_viber_with_an_sms_fallback_is_set_up_and_checked(
    admin_page: Page, live_server: LiveServer, vonage: str
) -> None:
    page = admin_page
    page.goto("/messages/channels")
    add_channel(page, "viber", "vonage")
    card = page.get_by_test_id("channel-viber-vonage")
    card.get_by_label("API key").fill(VonagePeer.KEY)
    card.get_by_label("API secret").fill(VonagePeer.SECRET)
    card.get_by_label("Viber service id").fill("16273")
    card.get_by_label("API base URL").fill(vonage)
    card.get_by_label("SMS fallback: SMS channel name").fill("main")
    card.get_by_role("button", name="Save").click()
    card = page.get_by_test_id("channel-viber-vonage")
    card.get_by_role("button", name="Check").click()
    expect(card.get_by_test_id("check-result")).to_contain_text("Vonage accepted the credentials")
    stored = channels(live_server)[("viber", "vonage")]
    assert stored["config"]["api_secret"] == "********"
    assert stored["config"]["fallback_channel"] == "main"
    assert stored["config"]["category"] == "promotion"  # untouched: the Config's default


def test_apns_token_auth_keeps_its_p8_key_write_only_and_names_a_bad_field(
    admin_page: Page, live_server: LiveServer
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    p8 = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    page = admin_page
    page.goto("/messages/channels")
    add_channel(page, "apns", "ios")
    card = page.get_by_test_id("channel-apns-ios")
    card.get_by_label("Team id").fill("team-1")
    card.get_by_label("Key id").fill("ABCDE12345")
    card.get_by_label("Private key (.p8 PEM)").fill(p8)
    card.get_by_label("Topic (bundle id)").fill("example.shop.app")
    card.get_by_label("Environment").select_option("sandbox")
    card.get_by_role("button", name="Save").click()
    expect(card.get_by_role("alert")).to_contain_text("team_id")
    card.get_by_label("Team id").fill("TEAM123456")
    card.get_by_role("button", name="Save").click()
    card = page.get_by_test_id("channel-apns-ios")
    expect(card.get_by_label("Private key (.p8 PEM)")).to_have_value("")
    stored = channels(live_server)[("apns", "ios")]
    assert stored["config"]["private_key"] == "********"
    assert stored["config"]["environment"] == "sandbox"
    assert "PRIVATE KEY" not in page.content()


def test_fcm_takes_a_service_account_file_refuses_a_broken_one_and_keeps_it_write_only(
    admin_page: Page, live_server: LiveServer
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    account = {
        "type": "service_account", "project_id": "shop-app", "private_key_id": "k1",
        "client_email": "push@shop-app.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
        "private_key": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
    }  # fmt: skip
    page = admin_page
    page.goto("/messages/channels")
    add_channel(page, "fcm", "android")
    card = page.get_by_test_id("channel-fcm-android")
    card.get_by_label("Service account JSON").fill('{"type": "authorized_user"}')
    card.get_by_role("button", name="Save").click()
    expect(card.get_by_role("alert")).to_contain_text("service_account")
    card.get_by_label("Service account JSON").fill(json.dumps(account))
    card.get_by_role("button", name="Save").click()
    card = page.get_by_test_id("channel-fcm-android")
    expect(card.get_by_label("Service account JSON")).to_have_attribute(
        "placeholder", "set — leave blank to keep"
    )
    stored = channels(live_server)[("fcm", "android")]
    assert stored["config"]["service_account"] == "********"
    assert stored["config"]["project_id"] == "shop-app"  # read from the key file
    assert "PRIVATE KEY" not in page.content()
