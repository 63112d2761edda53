"""The hosted unsubscribe page (HTML, no scripts): a one-button form that POSTs the same
one-click body RFC 8058 mail clients send. A GET never unsubscribes by itself: link
scanners fetch every link of a message, and they must not unsubscribe anybody."""

from __future__ import annotations

import html

STYLE = "font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem"


def page(*, action: str, status: str | None, done: bool = False) -> str:
    """The page for a genuine link: a confirmation, or the button.

    >>> 'name="List-Unsubscribe" value="One-Click"' in page(action="/u/t", status="subscribed")
    True
    >>> "You are unsubscribed" in page(action="/u/t", status="unsubscribed")
    True
    """
    if done or status == "unsubscribed":
        body = (
            "<h1>You are unsubscribed</h1><p>You will not receive these emails any more."
            " It can take a moment for a mailing already on its way.</p>"
        )
    else:
        body = (
            "<h1>Unsubscribe</h1><p>Stop receiving these emails?</p>"
            f'<form method="post" action="{html.escape(action)}">'
            '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
            '<button type="submit">Unsubscribe</button></form>'
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex"><title>Unsubscribe</title></head>'
        f'<body style="{STYLE}">{body}</body></html>'
    )
