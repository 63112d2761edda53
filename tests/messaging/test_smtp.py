"""The SMTP channel against a real aiosmtpd peer that DKIM-verifies every message."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import uvloop
from pydantic import SecretStr

from retenta.messaging.channels.base import Outcome, SendResult
from retenta.messaging.channels.smtp import SmtpChannel
from retenta.messaging.context import ContactVars, ProductVars, RenderContext
from retenta.messaging.email.dkim import DkimKey
from retenta.messaging.email.examples import promo_version
from retenta.messaging.email.mime import Category, OutgoingEmail, Recipient
from retenta.messaging.email.profiles import (
    Composer,
    DkimSettings,
    SendingProfile,
    SendRequest,
    SmtpServer,
)
from retenta.messaging.email.render import CompiledEmail, EmailVersion, compile_email
from retenta.messaging.signing import BounceAddress, LinkSigner, new_send_id
from tests.messaging.dkimkeys import dns_for, make_key
from tests.messaging.smtp_peer import Peer, smtp_peer

LINKS = LinkSigner(b"smtp test link secret")
PROMO_KEY = make_key("shop.example", "promo1")
TRANSACTIONAL_KEY = make_key("mail.shop.example", "tx1")
DNS = dns_for(PROMO_KEY, TRANSACTIONAL_KEY)


def dkim_settings(key: DkimKey) -> DkimSettings:
    return DkimSettings(
        domain=key.domain,
        selector=key.selector,
        private_key_pem=SecretStr(key.private_pem.decode()),
    )


def profile(name: str, peer: Peer, **server: object) -> SendingProfile:
    transactional = name == "transactional"
    key = TRANSACTIONAL_KEY if transactional else PROMO_KEY
    return SendingProfile(
        name=name,
        category=Category.TRANSACTIONAL if transactional else Category.MARKETING,
        from_address=f"{name}@{key.domain}",
        from_name="Shop",
        bounce_domain=f"bounces.{key.domain}",
        unsubscribe_base_url="https://t.shop.example/u/",
        dkim=dkim_settings(key),
        smtp=SmtpServer(host="localhost", port=peer.port, tls="none", **server),  # type: ignore[arg-type]
    )


PROMO: CompiledEmail = compile_email(
    "promo", {lang: promo_version(lang) for lang in ("en", "uk")}, default_language="en"
)
PRODUCTS = (
    ProductVars(sku="MUG", name="Mug", price=12.5, currency="EUR", url="https://s.example/m"),
)


def requests(addresses: list[str], language: str = "uk") -> list[SendRequest]:
    out = []
    for number, address in enumerate(addresses):
        contact = ContactVars(
            contact_id=number, email=address, first_name=f"N{number}", language=language
        )
        variables = RenderContext(contact=contact, locale=language, products=PRODUCTS).variables()
        out.append(
            SendRequest(
                send_id=new_send_id(),
                recipient=Recipient("ws_1", number, address),
                variables=variables,
                campaign_id="cmp_1",
            )
        )
    return out


def prepared(profile_: SendingProfile, addresses: list[str]) -> list[OutgoingEmail]:
    composer = Composer(profile_, LINKS)
    out = composer.prepare_many(PROMO, requests(addresses))
    assert all(isinstance(m, OutgoingEmail) for m in out)
    return out  # type: ignore[return-value]


def deliver(
    profile_: SendingProfile, batch: list[OutgoingEmail], handover: Any = None
) -> tuple[list[SendResult], int]:
    async def run() -> tuple[list[SendResult], int]:
        channel = SmtpChannel.for_profile(profile_)
        try:
            return await channel.send(batch, handover=handover), channel.pool.opened
        finally:
            await channel.close()

    return asyncio.run(run())


def test_every_message_arrives_dkim_verified_over_reused_connections() -> None:
    with smtp_peer(dnsfunc=DNS) as peer:
        promo = profile("promo", peer, connections=3)
        batch = prepared(promo, [f"c{i}@example.com" for i in range(30)])
        results, opened = deliver(promo, batch)
    assert [r.outcome for r in results] == [Outcome.SENT] * 30
    assert [r.send_id for r in results] == [m.send_id for m in batch]
    assert all(r.remote_id and r.remote_id.startswith("Q") for r in results)
    assert opened <= 3  # 30 messages over at most 3 sessions
    received = peer.handler.received
    assert len(received) == 30
    assert all(r.dkim_ok for r in received)
    by_rcpt = {r.rcpt_to[0]: r for r in received}
    verp = BounceAddress(LINKS)
    for message in batch:
        got = by_rcpt[message.rcpt_to]
        assert got.data.replace(b"\r\n", b"\n") == message.data.replace(b"\r\n", b"\n")
        assert verp.send_id(got.mail_from) == message.send_id
        parsed = got.message
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert parsed["Subject"].startswith("Розпродаж: N")


def test_profiles_sign_with_their_own_domain_and_transactional_has_no_unsubscribe() -> None:
    with smtp_peer(dnsfunc=DNS) as peer:
        promo, transactional = profile("promo", peer), profile("transactional", peer)
        deliver(promo, prepared(promo, ["a@example.com"]))
        deliver(transactional, prepared(transactional, ["b@example.com"]))
    first, second = peer.handler.received
    assert first.dkim_ok
    assert second.dkim_ok
    assert b"d=shop.example;" in first.data
    assert b"d=mail.shop.example;" in second.data
    assert first.mail_from.endswith("@bounces.shop.example")
    assert second.mail_from.endswith("@bounces.mail.shop.example")
    assert first.message["List-Unsubscribe"] is not None
    assert second.message["List-Unsubscribe"] is None
    assert second.message["List-Unsubscribe-Post"] is None


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_tls_modes_verify_the_server_certificate(tls: str, tmp_path: Path) -> None:
    with smtp_peer(dnsfunc=DNS, tls=tls, cert_dir=tmp_path) as peer:  # type: ignore[arg-type]
        promo = profile("promo", peer)
        promo.smtp.tls = tls  # type: ignore[assignment]
        promo.smtp.ca_file = peer.ca_file
        results, _ = deliver(promo, prepared(promo, ["a@example.com", "b@example.com"]))
    assert [r.outcome for r in results] == [Outcome.SENT] * 2
    assert all(r.tls and r.dkim_ok for r in peer.handler.received)


def test_untrusted_certificate_is_a_temporary_failure(tmp_path: Path) -> None:
    with smtp_peer(tls="implicit", cert_dir=tmp_path) as peer:
        promo = profile("promo", peer)
        promo.smtp.tls = "implicit"
        results, _ = deliver(promo, prepared(promo, ["a@example.com"]))
    assert results[0].outcome is Outcome.TEMPORARY
    assert results[0].detail == "connection"
    assert "CERTIFICATE_VERIFY_FAILED" in results[0].reason
    assert peer.handler.received == []


def test_auth_over_starttls(tmp_path: Path) -> None:
    with smtp_peer(
        dnsfunc=DNS, tls="starttls", cert_dir=tmp_path, users={"shop": "s3cret"}
    ) as peer:
        good = profile("promo", peer, username="shop", password=SecretStr("s3cret"))
        good.smtp.tls, good.smtp.ca_file = "starttls", peer.ca_file
        ok, _ = deliver(good, prepared(good, ["a@example.com"]))
        bad = profile("promo", peer, username="shop", password=SecretStr("wrong"))
        bad.smtp.tls, bad.smtp.ca_file = "starttls", peer.ca_file
        refused, _ = deliver(bad, prepared(bad, ["b@example.com"]))
    assert ok[0].outcome is Outcome.SENT
    assert [r.login for r in peer.handler.received] == ["shop"]
    assert refused[0].outcome is Outcome.TEMPORARY
    assert refused[0].detail == "auth", refused[0].reason


@pytest.mark.parametrize("recorded", [False, True], ids=["plain", "with_handover_records"])
def test_replies_are_classified_and_the_batch_goes_on(recorded: bool) -> None:
    """The same with the send path's handover records: each is written before its final ".",
    and refusals at RCPT or DATA leave the session usable (RSET), as with ``sendmail``."""
    replies = {
        "unknown@example.com": "550 5.1.1 <unknown@example.com>: Recipient address rejected",
        "full@example.com": "452 4.2.2 Mailbox full, try later",
        "over@example.com": "552 5.2.2 Mailbox over quota",
        "grey@example.com": "451 4.7.1 Greylisted, please retry",
        "policy@example.com": "553 5.7.1 Sender address rejected by policy",
    }
    data_replies = {"spam@example.com": "554 5.7.1 Message rejected as spam"}
    addresses = [*replies, *data_replies, "ok1@example.com", "ok2@example.com"]
    with smtp_peer(dnsfunc=DNS) as peer:
        peer.handler.replies.update(replies)
        peer.handler.data_replies.update(data_replies)
        promo = profile("promo", peer, connections=2)
        marks: list[str] = []

        async def record(message: OutgoingEmail, *, then: Any = None) -> None:
            await asyncio.sleep(0.01)  # a commit's latency (the body is on the wire meanwhile)
            assert not any(message.rcpt_to in r.rcpt_to for r in peer.handler.received)
            marks.append(message.rcpt_to)
            then()  # the final "." as the journal's thread writes it

        results, opened = deliver(promo, prepared(promo, addresses), record if recorded else None)
    assert opened == 2  # refusals never cost a session
    if recorded:  # only messages whose body went out; a refusal at RCPT hands nothing over
        assert sorted(marks) == ["ok1@example.com", "ok2@example.com", "spam@example.com"]
    by_address = dict(zip(addresses, results, strict=True))
    expected = {
        "unknown@example.com": (Outcome.PERMANENT, 550, "5.1.1"),
        "full@example.com": (Outcome.TEMPORARY, 452, "4.2.2"),
        "over@example.com": (Outcome.TEMPORARY, 552, "5.2.2"),
        "grey@example.com": (Outcome.TEMPORARY, 451, "4.7.1"),
        "policy@example.com": (Outcome.PERMANENT, 553, "5.7.1"),
        "spam@example.com": (Outcome.PERMANENT, 554, "5.7.1"),
        "ok1@example.com": (Outcome.SENT, 250, None),
        "ok2@example.com": (Outcome.SENT, 250, None),
    }
    for address, (outcome, code, detail) in expected.items():
        result = by_address[address]
        assert (result.outcome, result.code, result.detail) == (outcome, code, detail), address
    assert "Recipient address rejected" in by_address["unknown@example.com"].reason
    assert sorted(r.rcpt_to[0] for r in peer.handler.received) == [
        "ok1@example.com",
        "ok2@example.com",
    ]


def test_service_closing_drops_the_connection_and_later_messages_still_go() -> None:
    with smtp_peer(dnsfunc=DNS) as peer:
        peer.handler.replies["busy@example.com"] = "421 4.3.2 Service shutting down"
        promo = profile("promo", peer, connections=1)
        results, opened = deliver(promo, prepared(promo, ["busy@example.com", "a@example.com"]))
    assert results[0].outcome is Outcome.TEMPORARY
    assert results[0].code == 421
    assert results[1].outcome is Outcome.SENT
    assert opened == 2


def test_unreachable_server_is_temporary() -> None:
    with smtp_peer() as peer:
        port = peer.port
    promo = SendingProfile(
        name="promo",
        from_address="p@shop.example",
        smtp=SmtpServer(port=port, tls="none", timeout_s=2),
    )
    batch = prepared(promo, ["a@example.com"])
    results, _ = deliver(promo, batch)
    assert results[0].outcome is Outcome.TEMPORARY
    assert results[0].detail == "connection"


def test_profile_rate_limits_sends() -> None:
    with smtp_peer(dnsfunc=DNS) as peer:
        promo = profile("promo", peer, connections=4)
        promo.rate_per_second = 40
        batch = prepared(promo, [f"r{i}@example.com" for i in range(20)])
        started = time.perf_counter()
        results, _ = deliver(promo, batch)
        elapsed = time.perf_counter() - started
    assert all(r.ok for r in results)
    assert elapsed >= (20 - 4) / 40 * 0.9  # a burst of 4 tokens, then 40/s


def test_render_and_address_failures_are_per_send_results() -> None:
    broken = compile_email(
        "broken",
        {"en": EmailVersion(subject="{{ 1 / contact.contact_id }}", mjml="<mjml></mjml>")},
    )
    with smtp_peer(dnsfunc=DNS) as peer:
        promo = profile("promo", peer)
        composer = Composer(promo, LINKS)
        batch = requests(["zero@example.com", "one@example.com", "bad@@example.com"], "en")
        out = composer.prepare_many(broken, batch)
        failed_render, good, bad_address = out
        assert isinstance(failed_render, SendResult)
        assert failed_render.permanent
        assert failed_render.detail == "render_error"
        assert "broken[en].subject, line 1" in failed_render.reason
        assert isinstance(bad_address, SendResult)
        assert bad_address.detail == "invalid_address"
        assert isinstance(good, OutgoingEmail)
        results, _ = deliver(promo, [good])
    assert results[0].ok
    assert len(peer.handler.received) == 1


def test_sessions_the_server_closed_while_idle_are_replaced() -> None:
    async def two_batches(
        channel: SmtpChannel, first: list[OutgoingEmail], second: list[OutgoingEmail]
    ):  # type: ignore[no-untyped-def]
        try:
            results = await channel.send(first)
            await asyncio.sleep(1.0)  # the server times the idle sessions out meanwhile
            return results + await channel.send(second), channel.pool.opened
        finally:
            await channel.close()

    with smtp_peer(dnsfunc=DNS, idle_timeout=0.3) as peer:
        promo = profile("promo", peer, connections=2)
        batch = prepared(promo, [f"i{n}@example.com" for n in range(8)])
        channel = SmtpChannel(promo.smtp)
        results, opened = asyncio.run(two_batches(channel, batch[:4], batch[4:]))
    assert all(r.ok for r in results), [r.reason for r in results if not r.ok]
    assert len(peer.handler.received) == 8
    assert 3 <= opened <= 4  # fresh sessions for the second batch


def test_a_record_that_fails_hands_nothing_over_though_the_body_was_sent() -> None:
    """The record is awaited after the body, before the final ``.``: when it fails the
    session is dropped and the server, which never got the ``.``, keeps nothing."""
    with smtp_peer(dnsfunc=DNS) as peer:
        promo = profile("promo", peer, connections=1)
        [message] = prepared(promo, ["lost@example.com"])
        body_started: list[bool] = []

        async def failing(_message: OutgoingEmail, *, then: Any = None) -> None:
            await asyncio.sleep(0.05)  # the body is on the wire meanwhile
            body_started.append(True)
            raise RuntimeError("disk full")

        with pytest.raises(RuntimeError, match="disk full"):
            deliver(promo, [message], failing)
        [after] = prepared(promo, ["after@example.com"])
        results, _ = deliver(promo, [after])
    assert body_started == [True]
    assert results[0].outcome is Outcome.SENT
    assert [r.rcpt_to for r in peer.handler.received] == [["after@example.com"]]


@pytest.mark.parametrize("big", [False, True], ids=["35kB", "8MB"])
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_the_final_dot_follows_the_record_from_the_committing_thread(loop: str, big: bool) -> None:
    """The server has the message before the session resumes: the thread that made the
    record durable wrote the final "." itself (on asyncio's and uvloop's transports), also
    for a body the socket could not take at once (the session waits until it has)."""
    with smtp_peer(dnsfunc=DNS) as peer:
        promo = profile("promo", peer, connections=1)
        [message] = prepared(promo, ["dot@example.com"])
        if big:  # an attachment-sized body, far beyond what a socket buffers
            padding = b"X" * 998 + b"\r\n"
            message = dataclasses.replace(message, data=message.data + padding * 8_000)
        taken_before_resume: list[bool] = []

        async def record(_message: OutgoingEmail, *, then: Any = None) -> None:
            writer = threading.Thread(target=then)  # as the journal's thread calls it
            writer.start()
            writer.join()
            deadline = time.monotonic() + 5
            while not peer.handler.received and time.monotonic() < deadline:
                time.sleep(0.01)  # the event loop is blocked: only the thread's "." counts
            taken_before_resume.append(bool(peer.handler.received))

        async def run() -> list[SendResult]:
            channel = SmtpChannel.for_profile(promo)
            try:
                return await channel.send([message], handover=record)
            finally:
                await channel.close()

        results = uvloop.run(run()) if loop == "uvloop" else asyncio.run(run())
    assert taken_before_resume == [True]
    assert results[0].outcome is Outcome.SENT
    assert [r.rcpt_to for r in peer.handler.received] == [["dot@example.com"]]


def test_an_answer_lost_after_the_final_dot_is_sent_unconfirmed_never_retried() -> None:
    """The server took the message but its 250 never came (a timeout here): the send is
    handed over, so it is ``sent`` (unconfirmed), not temporary (a retry would be a copy)."""
    with smtp_peer(dnsfunc=DNS) as peer:
        receive = peer.handler.handle_DATA

        async def slow(server: Any, session: Any, envelope: Any) -> str:
            reply = await receive(server, session, envelope)
            await asyncio.sleep(3)  # past the client's timeout
            return reply

        peer.handler.handle_DATA = slow  # type: ignore[method-assign]
        promo = profile("promo", peer, connections=1, timeout_s=1)
        [message] = prepared(promo, ["slow@example.com"])

        async def record(_message: OutgoingEmail, *, then: Any = None) -> None:
            then()

        results, _ = deliver(promo, [message], record)
    [result] = results
    assert (result.outcome, result.detail) == (Outcome.SENT, "unconfirmed"), result
    assert "answer was lost" in result.reason
    assert [r.rcpt_to for r in peer.handler.received] == [["slow@example.com"]]
