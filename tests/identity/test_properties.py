"""Property tests over generated event streams (hypothesis), on the real writer and DuckDB."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from retenta.app import Container
from retenta.core.messages import Message
from tests.conftest import make_workspace
from tests.identity.helpers import merges, msg, resolve

USERS = [f"u{i}" for i in range(4)]
ANONS = [f"a{i}" for i in range(6)]
EMAILS = ["e0@x.io", "e1@x.io", "e2@x.io"]
TOKENS = ["p0", "p1"]

event_spec = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["track", "identify", "identify", "alias"]),
        "user": st.none() | st.sampled_from(USERS),
        "anon": st.none() | st.sampled_from(ANONS),
        "email": st.none() | st.sampled_from(EMAILS),
        "token": st.none() | st.sampled_from(TOKENS),
        "previous": st.sampled_from(ANONS + USERS),
        "plan": st.none() | st.sampled_from(["free", "pro"]),
    }
)
streams = st.tuples(st.lists(event_spec, min_size=1, max_size=30), st.integers(1, 8))
PROPERTY_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def build(ws: str, spec: dict[str, Any], minute: int) -> Message | None:
    kind, user, anon = spec["type"], spec["user"], spec["anon"]
    if kind == "alias":
        if user is None:
            return None
        return msg(ws, "alias", user=user, previous=spec["previous"], minutes=minute)
    if user is None and anon is None:
        return None
    traits = {k: spec[k] for k in ("email", "plan") if spec[k] is not None}
    context = {"device": {"token": spec["token"]}} if spec["token"] else {}
    return msg(ws, kind, user=user, anon=anon, traits=traits, context=context, minutes=minute)


def run_stream(
    container: Container, ws: str, specs: list[dict[str, Any]], size: int
) -> list[Message]:
    built = [build(ws, s, i) for i, s in enumerate(specs)]
    messages = [m for m in built if m is not None]
    for start in range(0, len(messages), size):
        resolve(container, messages[start : start + size])
    return messages


def table(container: Container, sql: str, ws: str) -> list[tuple[Any, ...]]:
    with container.db.read() as cur:
        return sorted(cur.execute(sql, [ws]).fetchall(), key=repr)


def state(container: Container, ws: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    container.db.write(container.identity.flush)
    contacts = table(container, "SELECT * FROM contacts WHERE workspace_id = ?", ws)
    idents = table(container, "SELECT * FROM identities WHERE workspace_id = ?", ws)
    return contacts, idents


@PROPERTY_SETTINGS
@given(stream=streams)
def test_never_two_external_ids_on_one_contact(
    container: Container, stream: tuple[list[dict[str, Any]], int]
) -> None:
    ws = make_workspace(container).id
    messages = run_stream(container, ws, *stream)
    assert all(m.contact_id is not None and m.dropped is None for m in messages)
    (forbidden,) = table(
        container,
        "SELECT count(*) FROM (SELECT contact_id FROM identities WHERE workspace_id = ?"
        " AND type = 'external_id' GROUP BY contact_id HAVING count(*) > 1)",
        ws,
    )
    assert forbidden == (0,)
    (dead_owners,) = table(
        container,
        "SELECT count(*) FROM identities i JOIN contacts c ON c.id = i.contact_id"
        " WHERE i.workspace_id = ? AND c.merged_into IS NOT NULL",
        ws,
    )
    assert dead_owners == (0,)


@PROPERTY_SETTINGS
@given(stream=streams)
def test_device_belongs_to_the_last_person_who_logged_in_with_it(
    container: Container, stream: tuple[list[dict[str, Any]], int]
) -> None:
    ws = make_workspace(container).id
    messages = run_stream(container, ws, *stream)
    last_login: dict[str, str] = {}
    for m in messages:
        device = m.previous_id if m.type == "alias" else m.anonymous_id
        if m.user_id and device in ANONS:  # an alias says its previousId is this person
            last_login[device] = m.user_id
    for anon, user in last_login.items():
        holder = container.identity.lookup(workspace_id=ws, id_type="anonymous_id", value=anon)
        person = container.identity.lookup(workspace_id=ws, id_type="external_id", value=user)
        assert holder == person, (anon, user)


@PROPERTY_SETTINGS
@given(stream=streams)
def test_cache_agrees_with_the_database(
    container: Container, stream: tuple[list[dict[str, Any]], int]
) -> None:
    ws = make_workspace(container).id
    run_stream(container, ws, *stream)
    rows = table(
        container, "SELECT type, value, contact_id FROM identities WHERE workspace_id = ?", ws
    )
    probes = []
    for t, v, _ in rows:
        if t == "external_id":
            probes.append(msg(ws, user=v))
        elif t == "anonymous_id":
            probes.append(msg(ws, anon=v))
    resolve(container, probes)
    expected = [cid for t, _, cid in rows if t in ("external_id", "anonymous_id")]
    assert [p.contact_id for p in probes] == expected


@PROPERTY_SETTINGS
@given(
    stream=streams,
    user=st.sampled_from(USERS),
    email=st.none() | st.sampled_from(EMAILS),
    visitor_traits=st.dictionaries(st.sampled_from(["plan", "city", "name"]), st.text(max_size=3)),
)
def test_merge_then_unmerge_round_trips_exactly(
    container: Container,
    stream: tuple[list[dict[str, Any]], int],
    user: str,
    email: str | None,
    visitor_traits: dict[str, str],
) -> None:
    ws = make_workspace(container).id
    run_stream(container, ws, *stream)
    resolve(container, [msg(ws, user=user, minutes=50)])
    resolve(container, [msg(ws, "identify", anon="visitor", traits=visitor_traits, minutes=60)])
    if email and container.identity.lookup(workspace_id=ws, id_type="email", value=email) is None:
        email = None  # the final event may only link what exists: nothing first seen after
    before = state(container, ws)
    known = {m["id"] for m in merges(container, ws)}
    traits = {"email": email} if email else {}
    resolve(container, [msg(ws, "identify", user=user, anon="visitor", traits=traits, minutes=99)])
    made = [m for m in merges(container, ws) if m["id"] not in known]
    event(f"merges made by the final event: {min(len(made), 2)}")
    assert made
    for m in reversed(made):
        container.identity.unmerge(workspace_id=ws, merge_id=m["id"])
    assert state(container, ws) == before


@PROPERTY_SETTINGS
@given(stream=streams)
def test_anonymous_history_joins_the_person_who_identifies(
    container: Container, stream: tuple[list[dict[str, Any]], int]
) -> None:
    """Every event of a device used by exactly one person — before and after they identified —
    is on that person's timeline (devices whose events carried an email or push token can
    legitimately resolve elsewhere, so they are left out)."""
    ws = make_workspace(container).id
    messages = run_stream(container, ws, *stream)
    users: dict[str, set[str]] = {}
    tainted: set[str] = set()
    for m in messages:
        device = m.previous_id if m.type == "alias" else m.anonymous_id
        if device is None:
            continue
        users.setdefault(device, set())
        if m.user_id:
            users[device].add(m.user_id)
        if m.traits.get("email") or m.context.get("device"):
            tainted.add(device)
    checked = [d for d, people in users.items() if len(people) == 1 and d not in tainted]
    event(f"devices checked: {min(len(checked), 3)}")
    for device in checked:
        (user,) = users[device]
        person = container.identity.lookup(workspace_id=ws, id_type="external_id", value=user)
        assert person is not None
        with container.db.read() as cur:
            timeline = set(container.identity.timeline_contact_ids(cur, ws, person))
        for m in messages:
            if device in (m.anonymous_id, m.previous_id if m.type == "alias" else None):
                assert m.contact_id in timeline, (device, user, m.message_id)
