"""Which language version of a message a contact gets — one pure function for every channel.

The chain: the contact's language → the browser's languages (Accept-Language, in order) →
the workspace default → the message's first version. A tag matches a version exactly
(``pt-BR`` = ``pt-br``) or by its primary language (``uk-UA`` ↔ ``uk``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def normalize_tag(tag: str) -> str:
    """``"uk_UA "`` → ``"uk-ua"``.

    >>> normalize_tag("uk_UA "), normalize_tag("DE")
    ('uk-ua', 'de')
    """
    return tag.strip().replace("_", "-").lower()


def parse_accept_language(header: str | None, *, limit: int = 10) -> list[str]:
    """Languages of an ``Accept-Language`` header, best first; ``*`` and q=0 dropped.

    >>> parse_accept_language("uk-UA,uk;q=0.9,en-US;q=0.8,ru;q=0.7,*;q=0.5")
    ['uk-UA', 'uk', 'en-US', 'ru']
    >>> parse_accept_language("de;q=0, fr;q=0.5, en")
    ['en', 'fr']
    >>> parse_accept_language(None)
    []
    """
    weighted: list[tuple[float, int, str]] = []
    for position, item in enumerate((header or "").split(",")[:50]):
        tag, _, params = item.strip().partition(";")
        quality = _quality(params)
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, position, tag.strip()))
    return [tag for _, _, tag in sorted(weighted)[:limit]]


def _quality(params: str) -> float:
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def match_language(candidate: str | None, available: Sequence[str]) -> str | None:
    """The version of ``available`` that serves ``candidate``, exact before primary-subtag.

    >>> match_language("uk-UA", ["en", "uk"]), match_language("pt", ["pt-BR"])
    ('uk', 'pt-BR')
    >>> match_language("fr", ["en"]) is None
    True
    """
    if not candidate:
        return None
    wanted = normalize_tag(candidate)
    for version in available:
        if normalize_tag(version) == wanted:
            return version
    primary = wanted.split("-")[0]
    for version in available:
        if normalize_tag(version).split("-")[0] == primary:
            return version
    return None


def pick_language(
    available: Sequence[str],
    *,
    contact_language: str | None = None,
    browser_languages: Iterable[str] = (),
    workspace_default: str | None = None,
) -> str:
    """The language version to send: contact → browser → workspace default → first version.

    >>> versions = ["en", "uk", "de"]
    >>> pick_language(versions, contact_language="uk-UA", workspace_default="en")
    'uk'
    >>> pick_language(versions, browser_languages=["fr", "de-AT"], workspace_default="en")
    'de'
    >>> pick_language(versions, contact_language="pl", workspace_default="en")
    'en'
    >>> pick_language(["ru"], contact_language="pl", workspace_default="en")
    'ru'
    """
    if not available:
        raise ValueError("a message needs at least one language version")
    for candidate in (contact_language, *browser_languages, workspace_default):
        found = match_language(candidate, available)
        if found is not None:
            return found
    return available[0]
