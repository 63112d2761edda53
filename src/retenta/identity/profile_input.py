"""What a message says about a person's profile: identify traits, locale, timezone (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from retenta.core.messages import Message


@dataclass(slots=True)
class ProfileInput:
    traits: dict[str, Any]
    language: str | None
    timezone: str | None
    fingerprint: int


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


# Locale-only inputs by their raw (locale, timezone): a storefront sends a few values,
# on most events. Shared, so never mutated (``ProfileInput.traits`` is read only).
_LOCALE_ONLY: dict[tuple[Any, Any], ProfileInput | None] = {}
_LOCALE_ONLY_ENTRIES = 10_000


def profile_input(m: Message, property_keys: Sequence[str]) -> ProfileInput | None:
    """What a message says about the person's profile (identify traits, locale, timezone).

    >>> at = None
    >>> m = Message("ws", "m1", "page", at, at, context={"locale": " uk-UA "})
    >>> p = profile_input(m, []); (p.traits, p.language, p.timezone)
    ({}, 'uk-UA', None)
    >>> profile_input(m, []) is p, profile_input(m, ["plan"]) == p
    (True, True)
    """
    identify = m.type == "identify" and bool(m.traits)
    ctx = m.context
    if not identify and not property_keys:
        return _locale_only(ctx)
    return _general(m, property_keys, identify)


def _locale_only(ctx: dict[str, Any]) -> ProfileInput | None:
    key = (ctx.get("locale"), ctx.get("timezone"))
    try:
        return _LOCALE_ONLY[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable value: never a locale, computed without the memo
        return _from(ctx, {})
    found = _LOCALE_ONLY[key] = _from(ctx, {})
    if len(_LOCALE_ONLY) > _LOCALE_ONLY_ENTRIES:
        _LOCALE_ONLY.clear()
    return found


def _general(m: Message, property_keys: Sequence[str], identify: bool) -> ProfileInput | None:
    traits = dict(m.traits) if identify else {}
    for key in property_keys:
        if key in m.properties:
            traits[key] = m.properties[key]
    return _from(m.context, traits)


def _from(ctx: dict[str, Any], traits: dict[str, Any]) -> ProfileInput | None:
    language = _text(traits.get("language")) or _text(ctx.get("locale"))
    timezone = _text(traits.get("timezone")) or _text(ctx.get("timezone"))
    if not traits and language is None and timezone is None:
        return None
    raw = orjson.dumps(traits, option=orjson.OPT_SORT_KEYS, default=str) if traits else b""
    return ProfileInput(traits, language, timezone, hash((raw, language, timezone)))


def late(provenance: dict[str, Any], traits: dict[str, Any], at: str) -> bool:
    """Whether a value of these traits was set by an event later than ``at``."""
    for name in traits:
        prov = provenance.get(name)
        if prov and prov.get("at") is not None and at < str(prov["at"]):
            return True
    return False
