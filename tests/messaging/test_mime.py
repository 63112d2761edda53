"""MIME: headers for deliverability, RFC 8058 on marketing only, VERP, parts that decode."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import dkim
import pytest

from retenta.messaging.email.canonical import relaxed_body, split_message
from retenta.messaging.email.dkim import DkimSigner
from retenta.messaging.email.headers import HeaderError
from retenta.messaging.email.mime import Category, MimeBuilder, Recipient, Sender
from retenta.messaging.email.render import RenderedEmail
from retenta.messaging.signing import BounceAddress, LinkSigner, new_send_id
from tests.messaging.dkimkeys import dns_for, make_key

SIGNER = LinkSigner(b"test secret for links")
SENDER = Sender(
    address="news@shop.example",
    name="Shop, Inc.",
    reply_to="care@shop.example",
    bounce_domain="bounces.shop.example",
    unsubscribe_base_url="https://t.shop.example/u/",
)
CONTENT = RenderedEmail(
    language="uk",
    subject="Знижка 20% для вас, Олено — лише сьогодні, поки товари ще є на складі!",
    preheader="pre",
    html="<html><body><p>Привіт &amp; <b>вітаємо</b></p>\n.leading dot</body></html>",
    text="Привіт & вітаємо\n.leading dot\nціна 5 €",
)
RECIPIENT = Recipient(workspace_id="ws_1", contact_id=42, address="olena@example.com", name="Олена")


def build(category: Category = Category.MARKETING, send_id: str | None = None):  # type: ignore[no-untyped-def]
    builder = MimeBuilder(SENDER, SIGNER)
    return builder.build(
        send_id=send_id or new_send_id(),
        recipient=RECIPIENT,
        content=CONTENT,
        category=category,
        campaign_id="cmp_7",
    )


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_headers_and_parts_decode() -> None:
    out = build()
    message = parse(out.data)
    assert message["From"] == '"Shop, Inc." <news@shop.example>'
    assert message["To"] == "Олена <olena@example.com>"
    assert message["Reply-To"] == "care@shop.example"
    assert message["Subject"] == CONTENT.subject
    assert message["Message-ID"] == out.message_id
    assert out.message_id.startswith(f"<{out.send_id}@")  # the same for every attempt
    assert out.message_id.endswith("@shop.example>")
    assert message["Date"]
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert message.defects == []
    assert text.defects == []
    assert html.defects == []
    assert out.data.endswith(b"=\r\n--" + message.get_boundary().encode() + b"--\r\n")
    assert text.get_content_type() == "text/plain"
    assert text.get_content().replace("\r\n", "\n") == CONTENT.text
    assert html.get_content().replace("\r\n", "\n") == CONTENT.html
    assert all(len(line) <= 998 for line in out.data.split(b"\r\n"))
    assert b"\n" not in out.data.replace(b"\r\n", b"")  # CRLF only
    assert out.data.isascii()


def test_marketing_mail_has_one_click_unsubscribe() -> None:
    out = build(Category.MARKETING)
    message = parse(out.data)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = (part.strip(" <>") for part in message["List-Unsubscribe"].split(","))
    assert https.startswith("https://t.shop.example/u/")
    token = https.removeprefix("https://t.shop.example/u/")
    assert SIGNER.read("unsubscribe", token) == ("ws_1", "42", out.send_id)
    assert SIGNER.read("unsubscribe", token[:-1] + ("a" if token[-1] != "a" else "b")) is None
    assert mailto.startswith(f"mailto:unsubscribe+{out.send_id}-")
    assert mailto.endswith("@bounces.shop.example?subject=unsubscribe")


def test_transactional_mail_has_no_list_unsubscribe() -> None:
    message = parse(build(Category.TRANSACTIONAL).data)
    assert message["List-Unsubscribe"] is None
    assert message["List-Unsubscribe-Post"] is None
    assert message["Feedback-ID"] == "cmp_7:ws_1:transactional:retenta"


def test_return_path_is_a_signed_verp_address() -> None:
    out = build()
    assert out.mail_from.endswith("@bounces.shop.example")
    verp = BounceAddress(SIGNER)
    assert verp.send_id(out.mail_from) == out.send_id
    forged = out.mail_from.replace(out.send_id, new_send_id())
    assert verp.send_id(forged) is None
    assert BounceAddress(LinkSigner(b"another server secret")).send_id(out.mail_from) is None
    assert parse(out.data)["Feedback-ID"] == "cmp_7:ws_1:marketing:retenta"


def test_header_injection_is_refused() -> None:
    builder = MimeBuilder(SENDER, SIGNER)
    evil = Recipient("ws_1", 1, "ann@example.com\r\nBcc: all@example.com")
    with pytest.raises(HeaderError, match="line break"):
        builder.build(
            send_id=new_send_id(), recipient=evil, content=CONTENT, category=Category.MARKETING
        )
    for bad in ("no-at-sign", "a..b@example.com", "ann@", "Олена@example.com"):
        with pytest.raises(HeaderError):
            builder.build(
                send_id=new_send_id(),
                recipient=Recipient("ws_1", 1, bad),
                content=CONTENT,
                category=Category.MARKETING,
            )


@pytest.mark.parametrize(
    "text",
    [
        "tabs\there\t\tand  double  spaces  \ntrailing   \n\n\n",
        "   leading and\r\nCRLF lines \r\n",
        "\t",
        "",
    ],
)
def test_built_bodies_are_already_in_relaxed_form(text: str) -> None:
    content = RenderedEmail("en", "s", "", "<p>a  b\t</p>  \n", text)
    out = MimeBuilder(SENDER, SIGNER).build(
        send_id=new_send_id(), recipient=RECIPIENT, content=content, category=Category.MARKETING
    )
    assert out.body_canonical
    body = split_message(out.data)[1]
    assert relaxed_body(body) == body
    key = make_key()
    signed = DkimSigner(key).sign(out.data, body_canonical=True)
    assert dkim.verify(signed, dnsfunc=dns_for(key))


def test_built_message_signs_and_verifies() -> None:
    key = make_key()
    signed = DkimSigner(key).sign(build().data)
    assert dkim.verify(signed, dnsfunc=dns_for(key))
    h_tag = signed.split(b"h=", 1)[1].split(b";", 1)[0]
    for name in (
        b"list-unsubscribe",
        b"list-unsubscribe-post",
        b"feedback-id",
        b"from",
        b"subject",
    ):
        assert name in h_tag
