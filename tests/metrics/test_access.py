"""Who may read ``/metrics`` (``retenta.metrics.access``), decided without a server."""

from __future__ import annotations

import pytest

from retenta.metrics.access import is_loopback, refusal


@pytest.mark.parametrize(
    ("peer", "forwarded", "allowed"),
    [
        ("127.0.0.1", False, True),
        ("127.5.6.7", False, True),
        ("::1", False, True),
        ("127.0.0.1", True, False),  # a reverse proxy on this host: the caller is elsewhere
        ("10.0.0.8", False, False),
        ("testclient", False, False),
        (None, False, False),
    ],
)
def test_without_a_token_only_this_machine_is_answered(
    peer: str | None, forwarded: bool, allowed: bool
) -> None:
    got = refusal(token=None, authorization=None, peer=peer, forwarded=forwarded)
    assert (got is None) is allowed
    if not allowed:
        assert got is not None
        assert got[0] == 403
        assert "RETENTA_METRICS_TOKEN" in got[1]


@pytest.mark.parametrize(
    ("authorization", "allowed"),
    [
        ("Bearer s3cret-token", True),
        ("bearer s3cret-token", True),
        ("Bearer s3cret-token2", False),
        ("Bearer s3cret", False),
        ("Basic s3cret-token", False),
        ("Bearer ключ", False),  # not ASCII: refused, not an error
        ("", False),
        (None, False),
    ],
)
def test_with_a_token_it_is_required_even_from_this_machine(
    authorization: str | None, allowed: bool
) -> None:
    got = refusal(
        token="s3cret-token", authorization=authorization, peer="127.0.0.1", forwarded=False
    )
    assert (got is None) is allowed
    if not allowed:
        assert got is not None
        assert got[0] == 401


def test_loopback_is_an_address_not_a_name() -> None:
    assert not is_loopback("localhost.evil.example")
    assert not is_loopback("")
