"""The in-app message and its checks (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

MAX_TITLE = 200
MAX_BODY = 4000
MAX_URL = 2048
MAX_PAYLOAD = 16 * 1024  # octets of JSON
CHANNEL = "inapp"


@dataclass(frozen=True, slots=True)
class InAppMessage:
    """One message for one contact's app inbox (or an in-app popup the app shows)."""

    send_id: str
    contact_id: int
    title: str | None = None
    body: str | None = None
    url: str | None = None
    image_url: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    expires_at: datetime | None = None

    @classmethod
    def from_fields(
        cls,
        send_id: str,
        contact_id: int,
        fields: Mapping[str, str],
        *,
        payload: Mapping[str, Any] | None = None,
        expires_at: datetime | None = None,
    ) -> InAppMessage:
        """From a rendered in-app content's fields (``title``, ``body``, ``url``, ``image_url``).

        >>> InAppMessage.from_fields("s", 7, {"title": "", "body": "Hi", "url": ""}).title is None
        True
        """
        return cls(
            send_id, contact_id, fields.get("title") or None, fields.get("body") or None,
            fields.get("url") or None, fields.get("image_url") or None, dict(payload or {}),
            expires_at,
        )  # fmt: skip


def problem(message: InAppMessage) -> str | None:
    """Why a message cannot be stored, or None.

    >>> problem(InAppMessage("s", 1, title="Hi"))
    >>> problem(InAppMessage("s", 1))
    'a message needs a title or a body'
    >>> problem(InAppMessage("s", 1, body="x", url="javascript:alert(1)"))
    'url must be an http(s) URL or an app deep link (scheme://...)'
    """
    if not (message.title or message.body):
        return "a message needs a title or a body"
    if len(message.title or "") > MAX_TITLE or len(message.body or "") > MAX_BODY:
        return f"the title is limited to {MAX_TITLE} and the body to {MAX_BODY} characters"
    for name, url in (("url", message.url), ("image_url", message.image_url)):
        if url is not None and not link_ok(url, deep_links=name == "url"):
            what = (
                "an http(s) URL or an app deep link (scheme://...)"
                if name == "url"
                else ("an https URL")
            )
            return f"{name} must be {what}"
    if message.expires_at is not None and message.expires_at.tzinfo is None:
        return "expires_at must be timezone-aware"
    if len(orjson.dumps(dict(message.payload))) > MAX_PAYLOAD:
        return f"the payload is limited to {MAX_PAYLOAD} octets of JSON"
    return None


def link_ok(url: str, *, deep_links: bool) -> bool:
    """http(s) with a host, or (for tap targets) an app deep link like ``shop://order/42``.

    >>> [link_ok(u, deep_links=True) for u in ("https://s.ex/a", "shop://order/42",
    ...     "javascript:alert(1)", "data:text/html,x", "//s.ex")]
    [True, True, False, False, False]
    >>> link_ok("http://s.ex/i.png", deep_links=False)
    False
    """
    if len(url) > MAX_URL or any(c in url for c in "\r\n\t "):
        return False
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https" or (scheme == "http" and deep_links):
        return bool(parts.hostname)
    blocked = {"", "http", "https", "javascript", "data", "vbscript", "file", "blob", "about"}
    return deep_links and scheme not in blocked and url.startswith(f"{parts.scheme}://")
