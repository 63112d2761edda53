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


def profile_input(m: Message, property_keys: Sequence[str]) -> ProfileInput | None:
    """What a message says about the person's profile (identify traits, locale, timezone)."""
    identify = m.type == "identify" and bool(m.traits)
    ctx = m.context
    if not identify and not property_keys and "locale" not in ctx and "timezone" not in ctx:
        return None  # the common case on the hot path: a track/page without profile data
    traits = dict(m.traits) if identify else {}
    for key in property_keys:
        if key in m.properties:
            traits[key] = m.properties[key]
    language = _text(traits.get("language")) or _text(m.context.get("locale"))
    timezone = _text(traits.get("timezone")) or _text(m.context.get("timezone"))
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
