"""The hosted pages (HTML, no scripts, no external assets): confirm and preferences."""

from __future__ import annotations

import html

from retenta.messaging.consent_flows.preferences import FREQUENCIES, Preferences, Topic

STYLE = "font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem"
CHANNEL_NAMES = {"email": "Email", "sms": "SMS", "viber": "Viber", "push": "Push notifications"}
FREQUENCY_NAMES = {"any": "Whenever there is news", "weekly": "At most once a week",
                   "monthly": "At most once a month"}  # fmt: skip
CONFIRM_TEXT = {
    "confirmed": "<h1>Subscription confirmed</h1><p>Thank you! You will hear from us.</p>",
    "already_confirmed": "<h1>Already confirmed</h1><p>Your subscription is active.</p>",
    "expired": "<h1>This link has expired</h1><p>Please subscribe again to get a new one.</p>",
    "gone": "<h1>Nothing to confirm</h1><p>This subscription no longer exists.</p>",
}


def document(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{html.escape(title)}</title></head>'
        f'<body style="{STYLE}">{body}</body></html>'
    )


def confirm_page(action: str, status: str | None = None) -> str:
    """The button (a GET confirms nothing: scanners fetch links), or the outcome.

    >>> "<button" in confirm_page("/c/t"), "confirmed" in confirm_page("/c/t", "confirmed")
    (True, True)
    """
    if status is not None:
        return document("Subscription", CONFIRM_TEXT[status])
    return document(
        "Confirm your subscription",
        "<h1>Confirm your subscription</h1><p>Press the button to start receiving our"
        f' messages.</p><form method="post" action="{html.escape(action)}">'
        '<button type="submit" name="confirm" value="1">Confirm subscription</button></form>',
    )


def preferences_page(action: str, prefs: Preferences, topics: list[Topic], *,
                     saved: bool = False) -> str:  # fmt: skip
    """The form: channels, email topics, frequency, and "unsubscribe from everything"."""
    rows = [_checkbox(f"channel:{c}", CHANNEL_NAMES.get(c, c), on)
            for c, on in prefs.channels.items()]  # fmt: skip
    topic_rows = [
        _checkbox(f"topic:{t.topic}", t.name, prefs.topics.get(t.topic, False), t.description)
        for t in topics
    ]
    frequency = "".join(
        f'<label><input type="radio" name="frequency" value="{f}"'
        f"{' checked' if prefs.frequency == f else ''}> {FREQUENCY_NAMES[f]}</label><br>"
        for f in FREQUENCIES
    )
    body = (
        "<h1>Your subscription preferences</h1>"
        + ('<p role="status"><strong>Saved.</strong></p>' if saved else "")
        + f'<form method="post" action="{html.escape(action)}">'
        + "<fieldset><legend>Channels</legend>" + "".join(rows) + "</fieldset>"
        + ("<fieldset><legend>Email topics</legend>" + "".join(topic_rows) + "</fieldset>"
           if topics else "")
        + "<fieldset><legend>How often</legend>" + frequency + "</fieldset>"
        + '<p><button type="submit" name="save" value="1">Save preferences</button></p>'
        + '<p><button type="submit" name="unsubscribe_all" value="1">Unsubscribe from'
        " everything</button></p></form>"
    )  # fmt: skip
    return document("Subscription preferences", body)


def _checkbox(name: str, label: str, on: bool, description: str = "") -> str:
    note = f" <small>{html.escape(description)}</small>" if description else ""
    return (
        f'<label><input type="checkbox" name="{html.escape(name)}"'
        f"{' checked' if on else ''}> {html.escape(label)}</label>{note}<br>"
    )
