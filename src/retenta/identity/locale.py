"""Language and timezone for contacts that are not loaded: queued, then one ``UPDATE``.

Most storefront events carry ``context.locale``; on a known person's first event since
start-up that is a profile input the writer has not seen, and loading the whole contact
(attributes, provenance, identities) to compare two columns cost 60 ms per 1,000 events.
An input with no traits only ever sets ``language``/``timezone`` when they differ, so it is
queued here and written by one set-based ``UPDATE … RETURNING`` that says which contacts
actually changed (what the profile fingerprints need). A contact loaded later in the same
batch takes its queued values first, so the order of inputs is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from retenta.identity.cache import MAX_FINGERPRINTS, Fingerprints


@dataclass(slots=True)
class LocaleChange:
    language: str | None
    timezone: str | None
    fingerprint: int  # of the last input folded in


class LocaleWrites:
    """The batch's queued locale inputs, per contact, folded in message order.

    >>> q = LocaleWrites(); q.add(7, "uk-UA", None, 1); q.add(7, None, "Europe/Kyiv", 2)
    >>> q.changes[7]
    LocaleChange(language='uk-UA', timezone='Europe/Kyiv', fingerprint=2)
    >>> q.rows()
    [(7, 'uk-UA', 'Europe/Kyiv')]
    """

    def __init__(self) -> None:
        self.changes: dict[int, LocaleChange] = {}

    def add(self, cid: int, language: str | None, timezone: str | None, fp: int) -> None:
        """Fold an input in: a value it gives replaces the queued one, None keeps it."""
        prev = self.changes.get(cid)
        if prev is not None:
            language = language if language is not None else prev.language
            timezone = timezone if timezone is not None else prev.timezone
        self.changes[cid] = LocaleChange(language, timezone, fp)

    def pop(self, cid: int) -> LocaleChange | None:
        return self.changes.pop(cid, None) if self.changes else None

    def rows(self) -> list[tuple[int, str | None, str | None]]:
        return [(cid, c.language, c.timezone) for cid, c in self.changes.items()]


def fingerprints_after(
    change: LocaleChange, changed: bool, kept: Fingerprints | None
) -> Fingerprints:
    """The no-op inputs of a contact after its queued locale was written.

    Changed: only the last input is known to be a no-op now. Unchanged: the contact is as
    it was, so every input known to be a no-op still is, and the last one joins them.

    >>> fingerprints_after(LocaleChange("uk", None, 9), True, (1, 2))
    (9,)
    >>> fingerprints_after(LocaleChange("uk", None, 9), False, (1, 2, 3, 4))
    (2, 3, 4, 9)
    """
    if changed:
        return (change.fingerprint,)
    return (*(kept or ())[1 - MAX_FINGERPRINTS :], change.fingerprint)
