"""Open pixel, click redirect and machine-open detection (pure; the I/O is in ``track_store``).

Tracked URLs carry a signed token (``Keyring.url_token``, the workspace's key): an open
token holds (workspace, contact, send); a click token also the link's index and target
URL. The redirect goes only to the URL inside a genuine token, so the endpoint is no
open redirect: an edited URL breaks the signature.

Machine opens and clicks are flagged (``machine=true``) and kept out of human rates:

- **Apple Mail Privacy Protection** fetches every image through Apple's proxy when the
  message reaches the device, opened or not. Apple's proxy IP ranges cannot be checked
  offline, so the proxy is recognised by its user agent: exactly ``Mozilla/5.0`` with no
  platform or engine details (a real browser or mail app always adds them).
- **Link scanners** (Microsoft Safe Links, Proofpoint, Mimecast, Barracuda, …) fetch links
  and images on delivery: a known scanner user agent, an empty or a scripting-library
  user agent, a ``HEAD`` request, a hit within ``DELIVERY_WINDOW`` of the send, or
  clicks on several links of one message within ``BURST_WINDOW`` (a person clicks one).
- Gmail's image proxy (``GoogleImageProxy``) fetches when the person opens the message,
  so it counts as a human open.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from retenta.messaging.signing import Keyring

OPEN, CLICK = "open", "click"
DELIVERY_WINDOW = timedelta(seconds=2)
BURST_WINDOW = timedelta(seconds=2)
BURST_LINKS = 3  # distinct links of one send clicked within BURST_WINDOW
MAX_URL = 2048

SCANNER_AGENTS = (
    "barracuda", "mimecast", "proofpoint", "messagelabs", "symantec", "trendmicro",
    "forcepoint", "bitdefender", "fortiguard", "sophos", "safelinks", "microsoft office",
    "ms-office", "ms search", "cisco", "ironport", "zscaler", "paloalto", "checkpoint",
    "python-requests", "python-urllib", "aiohttp", "httpx", "curl/", "wget/", "go-http-client",
    "java/", "okhttp", "libwww", "headlesschrome", "phantomjs", "bot", "spider", "crawler",
    "scanner", "linkpreview", "slack-imgproxy", "facebookexternalhit",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Hit:
    """What a genuine tracking token says."""

    workspace_id: str
    contact_id: int
    send_id: str
    link: int | None = None
    url: str | None = None


class Tracker:
    """Tracked URLs for one server: ``<base>/t/o/<token>.gif`` and ``<base>/t/c/<token>``."""

    def __init__(self, keyring: Keyring, base_url: str) -> None:
        self.keyring = keyring
        self.base_url = base_url.rstrip("/")

    def open_url(self, workspace_id: str, contact_id: int, send_id: str) -> str:
        token = self.keyring.url_token(OPEN, workspace_id, str(contact_id), send_id)
        return f"{self.base_url}/t/o/{token}.gif"

    def click_url(
        self, workspace_id: str, contact_id: int, send_id: str, link: int, url: str
    ) -> str:
        if not trackable(url):
            raise ValueError(f"only http(s) links up to {MAX_URL} characters are tracked: {url!r}")
        token = self.keyring.url_token(
            CLICK, workspace_id, str(contact_id), send_id, str(link), url
        )
        return f"{self.base_url}/t/c/{token}"

    def read_open(self, token: str) -> Hit | None:
        fields = self.keyring.read_url_token(OPEN, token.removesuffix(".gif"))
        if fields is None or len(fields) != 3 or not fields[1].isdigit():
            return None
        return Hit(fields[0], int(fields[1]), fields[2])

    def read_click(self, token: str) -> Hit | None:
        """A genuine click token whose target is still an http(s) URL, else ``None``."""
        fields = self.keyring.read_url_token(CLICK, token)
        if fields is None or len(fields) != 5 or not (fields[1].isdigit() and fields[3].isdigit()):
            return None
        if not trackable(fields[4]):
            return None
        return Hit(fields[0], int(fields[1]), fields[2], int(fields[3]), fields[4])


def trackable(url: str) -> bool:
    """An absolute http(s) URL with a host: the only kind a click may redirect to.

    >>> trackable("https://shop.example/a"), trackable("javascript:alert(1)")
    (True, False)
    >>> trackable("//evil.example/"), trackable("mailto:a@b.c")
    (False, False)
    """
    if len(url) > MAX_URL or any(c in url for c in "\r\n\t\x00 "):
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


# --- rewriting the rendered HTML ---------------------------------------------------------

ANCHOR_HREF = re.compile(
    r"""(<a\b[^>]*?\bhref\s*=\s*)(?:"([^"]*)"|'([^']*)')([^>]*>)""", re.IGNORECASE
)
NO_TRACK = re.compile(r"\bdata-(?:retenta-)?no-?track\b", re.IGNORECASE)


def rewrite_links(
    html: str, click_url: Callable[[int, str], str], *, skip: Sequence[str] = ("/u/",)
) -> tuple[str, list[str]]:
    """Every trackable ``<a href>`` replaced by ``click_url(index, url)``; the URLs in order.

    Skipped: non-http(s) links (mailto:, tel:, #anchors), links containing a ``skip``
    fragment (the unsubscribe and preference pages: a scanner must never unsubscribe
    anybody, and RFC 8058 wants them untouched), and anchors marked ``data-notrack``.

    >>> html = ('<a href="https://s.example/x?a=1&amp;b=2">X</a> <a href="mailto:a@b.c">m</a>'
    ...         ' <a href="https://t.example/u/tok">unsubscribe</a>')
    >>> out, urls = rewrite_links(html, lambda i, u: f"https://t.example/t/c/{i}")
    >>> out.split("</a>")[0], urls
    ('<a href="https://t.example/t/c/0">X', ['https://s.example/x?a=1&b=2'])
    """
    urls: list[str] = []

    def replace(match: re.Match[str]) -> str:
        raw = match.group(2) if match.group(2) is not None else match.group(3)
        url = html_lib.unescape(raw).strip()
        whole = match.group(0)
        if not trackable(url) or any(s in url for s in skip) or NO_TRACK.search(whole):
            return whole
        tracked = click_url(len(urls), url)
        urls.append(url)
        return f'{match.group(1)}"{html_lib.escape(tracked)}"{match.group(4)}'

    return ANCHOR_HREF.sub(replace, html), urls


def add_open_pixel(html: str, pixel_url: str) -> str:
    """A 1×1 image just before ``</body>`` (or at the end).

    >>> add_open_pixel("<html><body>Hi</body></html>", "https://t.example/t/o/x.gif")[-28:]
    'display:none"></body></html>'
    """
    img = (
        f'<img src="{html_lib.escape(pixel_url)}" width="1" height="1" alt="" style="display:none">'
    )
    at = html.lower().rfind("</body>")
    return html + img if at < 0 else html[:at] + img + html[at:]


# --- machine detection -------------------------------------------------------------------


def apple_privacy_proxy(user_agent: str) -> bool:
    """Apple's MPP proxy: the bare ``Mozilla/5.0`` user agent, no platform details.

    >>> apple_privacy_proxy("Mozilla/5.0"), apple_privacy_proxy(" Mozilla/5.0 ")
    (True, True)
    >>> apple_privacy_proxy("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit")
    False
    """
    return user_agent.strip() == "Mozilla/5.0"


def scanner_agent(user_agent: str) -> bool:
    """An empty, scripted or known security-scanner user agent.

    >>> scanner_agent(""), scanner_agent("Mozilla/5.0 (compatible; Barracuda Sentinel)")
    (True, True)
    >>> scanner_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120")
    False
    """
    agent = user_agent.strip().lower()
    return not agent or any(token in agent for token in SCANNER_AGENTS)


def machine_open(
    *, user_agent: str, method: str, sent_at: datetime | None, at: datetime
) -> str | None:
    """Why an open is a machine's (``None``: a person's).

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> machine_open(user_agent="Mozilla/5.0", method="GET", sent_at=None, at=t)
    'apple_privacy_proxy'
    >>> machine_open(user_agent="Mozilla/5.0 (Macintosh) AppleWebKit", method="GET",
    ...              sent_at=t, at=t + timedelta(seconds=1))
    'at_delivery'
    """
    if apple_privacy_proxy(user_agent):
        return "apple_privacy_proxy"
    return _scanner_reason(user_agent, method, sent_at, at)


def machine_click(
    *,
    user_agent: str,
    method: str,
    sent_at: datetime | None,
    at: datetime,
    link: int,
    recent_clicks: Sequence[tuple[int, datetime]] = (),
) -> str | None:
    """Why a click is a machine's; ``recent_clicks`` are the send's earlier (link, at).

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> ua = "Mozilla/5.0 (Windows NT 10.0) Chrome/120"
    >>> machine_click(user_agent=ua, method="GET", sent_at=t, at=t + timedelta(hours=1), link=0)
    >>> machine_click(user_agent=ua, method="GET", sent_at=t, at=t + timedelta(hours=1), link=2,
    ...               recent_clicks=[(0, t + timedelta(hours=1)), (1, t + timedelta(hours=1))])
    'link_burst'
    """
    reason = _scanner_reason(user_agent, method, sent_at, at)
    if reason:
        return reason
    burst = {n for n, when in recent_clicks if abs(at - when) <= BURST_WINDOW} | {link}
    return "link_burst" if len(burst) >= BURST_LINKS else None


def _scanner_reason(
    user_agent: str, method: str, sent_at: datetime | None, at: datetime
) -> str | None:
    if method.upper() == "HEAD":
        return "head_request"
    if scanner_agent(user_agent):
        return "scanner_user_agent"
    if sent_at is not None and at - sent_at <= DELIVERY_WINDOW:
        return "at_delivery"
    return None
