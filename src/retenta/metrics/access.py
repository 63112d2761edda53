"""Who may read ``/metrics``: it holds no workspace's data, but it does show every
workspace's volumes together, so it is not for an API key of one of them.

With ``metrics_token`` set (``RETENTA_METRICS_TOKEN``), a scraper sends it as a bearer
token, from anywhere. Without one, only a scraper on this machine is answered: a loopback
peer whose request carries no proxy's forwarding headers (a reverse proxy on the same host
would otherwise make every outside request look local).
"""

from __future__ import annotations

import hmac
import ipaddress

FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def is_loopback(host: str | None) -> bool:
    """>>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("10.0.0.2"), is_loopback("x")
    (True, True, False, False)
    """
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refusal(
    *, token: str | None, authorization: str | None, peer: str | None, forwarded: bool
) -> tuple[int, str] | None:
    """None when the request may read the metrics, else ``(status, why)``.

    >>> refusal(token=None, authorization=None, peer="127.0.0.1", forwarded=False) is None
    True
    >>> refusal(token=None, authorization=None, peer="127.0.0.1", forwarded=True)[0]
    403
    >>> refusal(token="s3cret", authorization="Bearer s3cret", peer="10.1.1.1", forwarded=True)
    >>> refusal(token="s3cret", authorization="Bearer nope", peer="127.0.0.1", forwarded=False)[0]
    401
    """
    if token:
        scheme, _, given = (authorization or "").partition(" ")
        matches = hmac.compare_digest(given.strip().encode(), token.encode())
        if scheme.lower() == "bearer" and matches:
            return None
        return 401, "send the metrics token as 'Authorization: Bearer <token>'"
    if is_loopback(peer) and not forwarded:
        return None
    return 403, (
        "metrics are served to this machine only; set RETENTA_METRICS_TOKEN to scrape from"
        " elsewhere"
    )
