"""The hot path's shortcuts give exactly what the general code gives (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from retenta.core.messages import Message
from retenta.identity.normalize import (
    Normalizer,
    extract,
    extract_batch,
    extract_general,
    normalize_with_reason,
    only_ids,
)
from retenta.identity.profile_input import ProfileInput, profile_input
from retenta.settings import IdentitySettings

T = datetime(2026, 1, 1, tzinfo=UTC)
values = st.none() | st.sampled_from(
    ["ann@x.io", " Ann@X.io ", "+380501234567", "null", "", "u1", 7, True, ["x"], {"a": 1}]
)
bags = st.none() | st.dictionaries(
    st.sampled_from(["email", "phone", "loyalty", "name", "language", "timezone"]), values
)
contexts = st.fixed_dictionaries(
    {},
    optional={
        "traits": bags,
        "device": st.none() | st.fixed_dictionaries({}, optional={"token": values}) | values,
        "locale": values,
        "timezone": values,
    },
)


def message(
    kind: str, user: Any, anon: Any, prev: Any, traits: Any, props: Any, ctx: Any
) -> Message:
    return Message(
        "ws_1", "m1", kind, T, T, user_id=user, anonymous_id=anon, previous_id=prev,  # type: ignore[arg-type]
        traits=traits or {}, properties=props or {}, context=ctx,
    )  # fmt: skip


messages = st.builds(
    message,
    st.sampled_from(["track", "page", "identify", "alias"]),
    values,
    values,
    values,
    bags,
    bags,
    contexts,
)


@settings(max_examples=400, deadline=None)
@given(m=messages, custom=st.sampled_from([[], ["loyalty"]]))
def test_extract_with_the_shortcut_equals_the_general_extraction(
    m: Message, custom: list[str]
) -> None:
    norm = Normalizer(IdentitySettings())
    fast, general = extract(m, norm, custom), extract_general(m, norm, custom)
    assert fast == general
    if only_ids(m, custom):  # the shortcut's premise: nothing but userId/anonymousId offered
        assert {t for t, _ in general.identifiers} <= {"external_id", "anonymous_id"}


@settings(max_examples=300, deadline=None)
@given(batch=st.lists(messages, max_size=6), custom=st.sampled_from([[], ["loyalty"]]))
def test_the_batch_extraction_equals_the_general_one_with_keys(
    batch: list[Message], custom: list[str]
) -> None:
    norm = Normalizer(IdentitySettings())
    for m, ex in zip(batch, extract_batch(batch, norm, custom), strict=True):
        general = extract_general(m, norm, custom)
        assert (ex.identifiers, ex.rejected, ex.previous_id) == (
            general.identifiers,
            general.rejected,
            general.previous_id,
        )
        assert ex.keys == [(m.workspace_id, t, v) for t, v in general.identifiers]


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def reference_input(m: Message, keys: list[str]) -> ProfileInput | None:
    """``profile_input`` as it was written before the locale memo (the reference)."""
    identify = m.type == "identify" and bool(m.traits)
    ctx = m.context
    if not identify and not keys and "locale" not in ctx and "timezone" not in ctx:
        return None
    traits = dict(m.traits) if identify else {}
    for key in keys:
        if key in m.properties:
            traits[key] = m.properties[key]
    language = _text(traits.get("language")) or _text(ctx.get("locale"))
    timezone = _text(traits.get("timezone")) or _text(ctx.get("timezone"))
    if not traits and language is None and timezone is None:
        return None
    raw = orjson.dumps(traits, option=orjson.OPT_SORT_KEYS, default=str) if traits else b""
    return ProfileInput(traits, language, timezone, hash((raw, language, timezone)))


@settings(max_examples=300, deadline=None)
@given(m=messages, keys=st.sampled_from([[], ["language"]]))
def test_remembered_locale_inputs_equal_computed_ones(m: Message, keys: list[str]) -> None:
    expected = reference_input(m, keys)
    assert profile_input(m, keys) == expected
    assert profile_input(m, keys) == expected  # the second time from the memo


@settings(max_examples=300, deadline=None)
@given(
    id_type=st.sampled_from(["external_id", "anonymous_id", "push_token", "custom:loyalty",
                             "email", "phone"]),
    raw=values | st.text(max_size=20) | st.integers(),
)  # fmt: skip
def test_the_normalizer_agrees_with_normalize_with_reason(id_type: str, raw: Any) -> None:
    s = IdentitySettings(blocked_values=["null", "undefined", "u1"])
    norm = Normalizer(s)
    try:
        hash(raw)
        expected = normalize_with_reason(id_type, raw, s)
    except TypeError:  # a list or a dict: never an identifier, and recorded as rejected
        expected = (None, "not a string")
    assert norm(id_type, raw) == expected
    assert norm(id_type, raw) == expected
