"""Real-world delivery reports and complaints parse to the right feedback."""

from __future__ import annotations

from pathlib import Path

import pytest

from retenta.messaging.bounces.arf import is_arf, parse_arf
from retenta.messaging.bounces.dsn import parse_dsn
from retenta.messaging.bounces.model import Kind

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "kind", "recipient", "status", "code", "send_id"),
    [
        ("postfix_user_unknown.eml", Kind.HARD_BOUNCE, "nobody@mail.example.net", "5.1.1", 550,
         "snd_0190aa11bb22cc33dd"),
        ("gmail_over_quota.eml", Kind.SOFT_BOUNCE, "full@gmail.example", "5.2.2", 552,
         "snd_0190aa11bb22cc44ee"),
        ("exchange_status_500.eml", Kind.HARD_BOUNCE, "j.doe@corp.example", "5.1.10", 550,
         "snd_0190aa11bb22cc55ff"),
        ("delayed.eml", Kind.DELAYED, "slow@mail.example.org", "4.4.7", None, None),
        ("soft_failed_after_retries.eml", Kind.SOFT_BOUNCE, "greylisted@mail.example.org",
         "4.7.1", 450, None),
        ("delivered.eml", Kind.DELIVERED, "happy@mail.example.org", "2.0.0", 250, None),
        ("qmail.eml", Kind.HARD_BOUNCE, "gone@oldhost.example", "5.1.1", None,
         "snd_0190aa11bb22cc99dd"),
        ("exim_prose.eml", Kind.HARD_BOUNCE, "someone@exim.example", None, 550,
         "snd_0190aa11bb22ccaaee"),
        ("mislabelled_text_status.eml", Kind.HARD_BOUNCE, "missing@legacy.example", "5.1.1", 550,
         None),
    ],
)  # fmt: skip
def test_delivery_reports(
    name: str, kind: Kind, recipient: str, status: str | None, code: int | None, send_id: str | None
) -> None:
    [feedback] = parse_dsn(sample(name))
    assert (feedback.kind, feedback.recipient, feedback.status, feedback.smtp_code) == (
        kind, recipient, status, code,
    )  # fmt: skip
    assert feedback.send_id == send_id
    assert feedback.source == "dsn"
    assert len(feedback.key) == 32


def test_the_signed_envelope_names_the_send_over_the_body() -> None:
    [feedback] = parse_dsn(sample("postfix_user_unknown.eml"), envelope_send_id="snd_abc")
    assert feedback.send_id == "snd_abc"


def test_a_folded_diagnostic_is_one_line() -> None:
    [feedback] = parse_dsn(sample("gmail_over_quota.eml"))
    assert feedback.diagnostic is not None
    assert "\n" not in feedback.diagnostic
    assert "over its quota" in feedback.diagnostic


def test_auto_replies_and_ordinary_mail_are_not_bounces() -> None:
    assert parse_dsn(sample("out_of_office.eml")) == []
    assert parse_dsn(b"From: a@b.example\nSubject: hello\n\nJust saying hi.\n") == []
    assert parse_dsn(b"") == []


def test_the_same_report_has_the_same_key_and_others_differ() -> None:
    keys = {parse_dsn(sample(n))[0].key for n in ("postfix_user_unknown.eml", "delayed.eml")}
    again = parse_dsn(sample("postfix_user_unknown.eml"))[0].key
    assert len(keys) == 2
    assert again in keys


def test_complaint_reports() -> None:
    [yahoo] = parse_arf(sample("arf_yahoo_abuse.eml"))
    assert (yahoo.kind, yahoo.recipient, yahoo.send_id, yahoo.detail) == (
        Kind.COMPLAINT, "angry@yahoo.example", "snd_0190aa11bb22ccddbb", "abuse",
    )  # fmt: skip
    assert yahoo.diagnostic is not None
    assert "Yahoo" in yahoo.diagnostic
    [redacted] = parse_arf(sample("arf_redacted.eml"))  # no Original-Rcpt-To: the original's To
    assert (redacted.recipient, redacted.send_id) == (
        "redacted@hotmail.example", "snd_0190aa11bb22cceecc",
    )  # fmt: skip
    assert parse_arf(sample("arf_not_spam.eml")) == []
    assert is_arf(sample("arf_yahoo_abuse.eml"))
    assert not is_arf(sample("postfix_user_unknown.eml"))
    assert parse_arf(sample("postfix_user_unknown.eml")) == []


def test_a_report_with_two_recipients_gives_two_feedbacks() -> None:
    report = sample("postfix_user_unknown.eml").replace(
        b"Diagnostic-Code: smtp; 550 5.1.1 <nobody@mail.example.net>: Recipient address\n"
        b"    rejected: User unknown in virtual mailbox table\n",
        b"Diagnostic-Code: smtp; 550 5.1.1 no such user\n\n"
        b"Final-Recipient: rfc822; other@mail.example.net\nAction: failed\nStatus: 5.7.1\n"
        b"Diagnostic-Code: smtp; 554 5.7.1 Message rejected as spam\n",
    )
    kinds = {(f.recipient, f.kind) for f in parse_dsn(report)}
    assert kinds == {
        ("nobody@mail.example.net", Kind.HARD_BOUNCE),
        ("other@mail.example.net", Kind.BLOCKED),
    }
