"""The fast path for well-formed events agrees with the full checker on every input."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retenta.ingest.schemas import (
    _OBJECT_FIELDS,
    TYPES,
    Defaults,
    InvalidEventError,
    _build,
    _Checker,
    _fast_message,
    to_message,
)

DEFAULTS = Defaults(
    workspace_id="ws", received_at=datetime(2026, 1, 1, tzinfo=UTC), ip="10.0.0.1",
    sent_at="2026-01-01T00:00:05Z", context={"locale": "uk-UA"},
)  # fmt: skip

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False),
    st.sampled_from(["", "u1", "x" * 300, "2026-01-01T00:00:00Z", "2026-01-01T03:00:00+03:00",
                     "not a time"]),
)  # fmt: skip
objects = st.one_of(st.none(), st.dictionaries(st.sampled_from(["a", "ip", "locale"]), scalars))
field_values = {
    "userId": scalars, "anonymousId": scalars, "messageId": scalars, "event": scalars,
    "name": scalars, "category": scalars, "timestamp": scalars, "originalTimestamp": scalars,
    "sentAt": scalars, "properties": objects, "traits": objects, "context": objects,
    "integrations": objects,
}  # fmt: skip
events = st.fixed_dictionaries({}, optional=field_values)


def checked(raw: dict[str, Any], kind: str) -> Any:
    """The full checker's result (a Message or the error list), bypassing the fast path."""
    c = _Checker(raw, "")
    for name in _OBJECT_FIELDS:
        c.obj(name)
    msg = _build(c, kind, DEFAULTS)
    return InvalidEventError(c.errors).errors if c.errors else msg


@settings(max_examples=400, deadline=None)
@given(raw=events, kind=st.sampled_from(sorted(TYPES)))
def test_fast_path_matches_the_checker(raw: dict[str, Any], kind: str) -> None:
    fast = _fast_message(raw, DEFAULTS, kind)
    if fast is None:
        return  # the checker decides alone
    assert checked(raw, kind) == fast


@pytest.mark.parametrize("kind", ["page", "screen"])
def test_an_empty_name_is_no_name_on_both_paths(kind: str) -> None:
    """Both paths store a page's or screen's ``name: ""`` as no name (the fast path kept
    ``""`` until session 10, so the same event was stored two ways)."""
    raw = {"userId": "u1", "messageId": "m1", "name": ""}
    fast = _fast_message(raw, DEFAULTS, kind)
    assert fast is not None
    assert fast.event is None
    assert checked(raw, kind) == fast


valid_times = st.sampled_from([None, "2026-01-01T00:00:00Z", "2026-01-01T03:00:00.5+03:00"])
well_formed = st.fixed_dictionaries(
    {"messageId": st.sampled_from(["m1", "abc-123"]), "userId": st.sampled_from(["u1", "42"])},
    optional={
        "anonymousId": st.sampled_from(["a1", None]), "event": st.sampled_from(["Viewed"]),
        "name": st.sampled_from(["Home", None]), "timestamp": valid_times,
        "originalTimestamp": valid_times, "sentAt": valid_times,
        "properties": objects, "traits": objects, "context": objects,
    },
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(raw=well_formed, kind=st.sampled_from(["identify", "page", "screen"]))
def test_well_formed_events_take_the_fast_path_and_match(raw: dict[str, Any], kind: str) -> None:
    fast = _fast_message(raw, DEFAULTS, kind)
    assert fast is not None
    assert checked(raw, kind) == fast


@pytest.mark.parametrize("kind", ["track", "page", "identify"])
@pytest.mark.parametrize("field", _OBJECT_FIELDS)
def test_a_field_that_is_not_an_object_is_named_once(kind: str, field: str) -> None:
    """The object fields are read twice (every event's check, then the type's own), and a
    client is told of each bad field once."""
    raw = {"type": kind, "userId": "u1", "event": "Viewed", field: "home page"}
    with pytest.raises(InvalidEventError) as refused:
        to_message(raw, DEFAULTS)
    assert [e.as_dict() for e in refused.value.errors] == [
        {"field": field, "reason": "must be an object, got string"}
    ]
