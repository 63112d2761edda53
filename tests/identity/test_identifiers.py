"""Which values become identifiers, limits, erasure, workspaces, alias."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st

from retenta.app import Container, build_container
from retenta.identity.normalize import _e164_fast, _phone_general, identifier_hash, normalize
from retenta.settings import IdentitySettings, Settings
from tests.conftest import Workspace, make_workspace
from tests.identity.helpers import identities, identity_events, merges, msg, owner, resolve


@pytest.mark.parametrize(
    ("id_type", "raw", "expected"),
    [
        ("email", "  Ann.Lee@Example.COM ", "ann.lee@example.com"),
        ("email", "not-an-email", None),
        ("email", "TEST@test.com", None),
        ("phone", "(067) 123-45-67", "+380671234567"),
        ("phone", "+1 415 555 2671", "+14155552671"),
        ("phone", "12", None),
        ("external_id", 42, "42"),
        ("external_id", "  undefined ", None),
        ("external_id", "null", None),
        ("external_id", True, None),
        ("anonymous_id", "", None),
        ("custom:card", " C-77 ", "C-77"),
    ],
)
def test_normalize(id_type: str, raw: object, expected: str | None) -> None:
    assert normalize(id_type, raw, IdentitySettings()) == expected


def test_identifier_hash_is_sha256_of_the_normalized_value() -> None:
    import hashlib

    assert identifier_hash("email", "a@b.io") == hashlib.sha256(b"a@b.io").hexdigest()


def test_blocked_values_never_link_people(container: Container, ws: Workspace) -> None:
    a, b = resolve(
        container,
        [
            msg(ws.id, "identify", anon="a1", traits={"email": "test@test.com", "phone": "0"}),
            msg(ws.id, "identify", anon="a2", traits={"email": "test@test.com"}),
        ],
    )
    assert a.contact_id != b.contact_id
    assert identities(container, a.contact_id or 0) == {("anonymous_id", "a1")}
    (c,) = resolve(container, [msg(ws.id, user="undefined", anon="a3")])
    assert identities(container, c.contact_id or 0) == {("anonymous_id", "a3")}
    assert merges(container, ws.id) == []


def test_invalid_email_is_recorded_and_the_event_kept(container: Container, ws: Workspace) -> None:
    (m,) = resolve(container, [msg(ws.id, "identify", user="u1", traits={"email": "ann@@x"})])
    assert m.contact_id is not None
    assert m.dropped is None
    (rejected,) = identity_events(container, ws.id, "rejected")
    assert rejected["identifier_type"] == "email"
    assert rejected["identifier_value"] == "ann@@x"
    assert "invalid email" in rejected["reason"]
    assert rejected["message_id"] == m.message_id
    resolve(container, [msg(ws.id, user="u1", context={"traits": {"email": "ann@@x"}})])
    assert len(identity_events(container, ws.id, "rejected")) == 1  # reported once per contact


def test_phone_push_token_and_custom_identifiers(settings: Settings) -> None:
    settings.identity.custom_identifier_traits = ["loyalty_card"]
    container = build_container(settings)
    try:
        ws = make_workspace(container)
        (m,) = resolve(
            container,
            [
                msg(
                    ws.id,
                    "identify",
                    user="u1",
                    traits={"phone": "067 123 45 67", "loyalty_card": "LC-9"},
                    context={"device": {"token": "apns-123"}},
                )
            ],
        )
        assert identities(container, m.contact_id or 0) == {
            ("external_id", "u1"),
            ("phone", "+380671234567"),
            ("custom:loyalty_card", "LC-9"),
            ("push_token", "apns-123"),
        }
        assert owner(container, ws.id, "phone", "+380 67 123 4567") == m.contact_id
    finally:
        container.close()


def test_per_type_limit_keeps_extra_identifiers_off(settings: Settings) -> None:
    settings.identity.max_per_type = {**settings.identity.max_per_type, "email": 2}
    container = build_container(settings)
    try:
        ws = make_workspace(container)
        emails = ["a@x.io", "b@x.io", "c@x.io"]
        msgs = [
            msg(ws.id, "identify", user="u1", traits={"email": e}, minutes=i)
            for i, e in enumerate(emails)
        ]
        resolve(container, msgs)
        cid = owner(container, ws.id, "external_id", "u1")
        assert {v for t, v in identities(container, cid or 0) if t == "email"} == {
            "a@x.io",
            "b@x.io",
        }
        assert owner(container, ws.id, "email", "c@x.io") is None
        (limit,) = identity_events(container, ws.id, "limit")
        assert limit["identifier_value"] == "c@x.io"
    finally:
        container.close()


def test_merge_that_would_break_a_limit_does_not_happen(settings: Settings) -> None:
    settings.identity.max_per_type = {**settings.identity.max_per_type, "anonymous_id": 2}
    container = build_container(settings)
    try:
        ws = make_workspace(container)
        resolve(container, [msg(ws.id, user="u1", anon="a1"), msg(ws.id, user="u1", anon="a2")])
        (visitor,) = resolve(container, [msg(ws.id, anon="a3")])
        (login,) = resolve(container, [msg(ws.id, user="u1", anon="a3")])
        assert merges(container, ws.id) == []
        assert owner(container, ws.id, "anonymous_id", "a3") == visitor.contact_id
        assert login.contact_id == owner(container, ws.id, "external_id", "u1")
        assert identity_events(container, ws.id, "limit")
    finally:
        container.close()


def _erase(container: Container, ws: str, cid: int) -> None:
    """What an erase does to identity data: suppress the identifiers, delete them."""

    def work(cur: object) -> None:
        rows = cur.execute(  # type: ignore[attr-defined]
            "SELECT type, value FROM identities WHERE contact_id = ?", [cid]
        ).fetchall()
        for t, v in rows:
            cur.execute(  # type: ignore[attr-defined]
                "INSERT INTO suppressed_identifiers (workspace_id, type, value_hash, reason)"
                " VALUES (?, ?, ?, 'erased')",
                [ws, t, identifier_hash(t, v)],
            )
        cur.execute("DELETE FROM identities WHERE contact_id = ?", [cid])  # type: ignore[attr-defined]
        cur.execute("UPDATE contacts SET erased_at = now() WHERE id = ?", [cid])  # type: ignore[attr-defined]

    container.db.write(work)
    container.identity.forget(ws, [cid])


def test_erased_identifiers_drop_old_events(container: Container, ws: Workspace) -> None:
    (m,) = resolve(
        container, [msg(ws.id, "identify", user="u1", anon="a1", traits={"email": "e@x.io"})]
    )
    assert m.contact_id is not None
    _erase(container, ws.id, m.contact_id)
    replayed = resolve(
        container,
        [
            msg(ws.id, user="u1"),
            msg(ws.id, anon="a1"),
            msg(ws.id, "identify", anon="new", traits={"email": "e@x.io"}),
            msg(ws.id, anon="someone-else"),
        ],
    )
    assert [r.dropped for r in replayed] == ["erased", "erased", "erased", None]
    assert [r.contact_id is None for r in replayed] == [True, True, True, False]
    assert owner(container, ws.id, "external_id", "u1") is None


def test_same_email_in_two_workspaces_is_two_contacts(
    container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    a, b = resolve(
        container,
        [
            msg(ws.id, "identify", user="u1", traits={"email": "ann@x.io"}),
            msg(other_ws.id, "identify", user="u1", traits={"email": "ann@x.io"}),
        ],
    )
    assert a.contact_id != b.contact_id
    assert owner(container, ws.id, "email", "ann@x.io") == a.contact_id
    assert owner(container, other_ws.id, "email", "ann@x.io") == b.contact_id
    assert merges(container, ws.id) == merges(container, other_ws.id) == []


def test_alias_links_previous_id_to_user(container: Container, ws: Workspace) -> None:
    (anon,) = resolve(container, [msg(ws.id, anon="old-anon")])
    (person,) = resolve(container, [msg(ws.id, "identify", user="u9", anon="fresh")])
    (alias,) = resolve(container, [msg(ws.id, "alias", user="u9", previous="old-anon")])
    assert alias.contact_id == person.contact_id
    (m,) = merges(container, ws.id)
    assert (m["winner_id"], m["loser_id"], m["rule"]) == (
        person.contact_id,
        anon.contact_id,
        "alias",
    )


def test_alias_between_two_external_ids_never_merges(container: Container, ws: Workspace) -> None:
    resolve(container, [msg(ws.id, user="old-id"), msg(ws.id, user="new-id")])
    (alias,) = resolve(container, [msg(ws.id, "alias", user="new-id", previous="old-id")])
    assert alias.contact_id == owner(container, ws.id, "external_id", "new-id")
    assert owner(container, ws.id, "external_id", "old-id") != alias.contact_id
    assert merges(container, ws.id) == []
    assert identity_events(container, ws.id, "conflict")


def test_email_only_contact_joins_the_person_who_identifies_with_it(
    container: Container, ws: Workspace
) -> None:
    (lead,) = resolve(container, [msg(ws.id, "identify", traits={"email": "lead@x.io"}, anon="n1")])
    (person,) = resolve(
        container, [msg(ws.id, "identify", user="u5", traits={"email": "lead@x.io"})]
    )
    assert person.contact_id == lead.contact_id
    assert identities(container, lead.contact_id or 0) >= {
        ("external_id", "u5"),
        ("email", "lead@x.io"),
    }


def test_rolled_back_unit_of_work_leaves_no_trace_in_the_cache(
    container: Container, ws: Workspace
) -> None:
    def failing(cur: object) -> None:
        container.identity.resolve(cur, [msg(ws.id, "identify", user="ghost", anon="g1")])
        raise RuntimeError("an applier failed")

    with pytest.raises(RuntimeError):
        container.db.write(failing)
    assert owner(container, ws.id, "external_id", "ghost") is None
    (m,) = resolve(container, [msg(ws.id, user="ghost")])
    assert m.contact_id is not None
    assert owner(container, ws.id, "external_id", "ghost") == m.contact_id
    assert identities(container, m.contact_id) == {("external_id", "ghost")}


def test_identities_bulk_loaded_by_another_writer_are_found(
    container: Container, ws: Workspace
) -> None:
    resolve(container, [msg(ws.id, anon="warm-up")])  # the hash index of known identifiers exists

    def bulk_load(cur: object) -> None:
        cur.execute(  # type: ignore[attr-defined]
            "INSERT INTO contacts (workspace_id, id, created_at, updated_at)"
            " VALUES (?, 900001, now(), now())",
            [ws.id],
        )
        cur.execute(  # type: ignore[attr-defined]
            "INSERT INTO identities VALUES (?, 'external_id', 'loaded', 900001, now(), now())",
            [ws.id],
        )

    container.db.write(bulk_load)
    (m,) = resolve(container, [msg(ws.id, user="loaded", anon="fresh")])
    assert m.contact_id == 900001
    assert owner(container, ws.id, "anonymous_id", "fresh") == 900001


@pytest.mark.parametrize(
    "raw",
    [
        "Ann.Lee+shop@Gmail.COM",
        "a..b@x.io",
        ".a@x.io",
        "a@b.test",
        "a@localhost",
        "user@sub.Example.co.uk",
        "x@-bad.com",
        "x@bad-.com",
        '"quoted local"@x.io',
        "ü@x.io",
        "a@bücher.de",
        "o'brien@x.io",
        "a" * 65 + "@x.io",
        "a@" + "b" * 64 + ".com",
        "plain",
        "a@b@c.io",
    ],
)
def test_email_fast_path_agrees_with_email_validator(raw: str) -> None:
    from email_validator import EmailNotValidError, validate_email

    try:
        expected: str | None = validate_email(raw, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        expected = None
    assert normalize("email", raw, IdentitySettings()) == expected


def test_contact_deleted_behind_the_cache_fails_once_then_heals(
    container: Container, ws: Workspace
) -> None:
    (m,) = resolve(container, [msg(ws.id, anon="gone")])
    resolve(container, [msg(ws.id, anon="other")])  # settles the first batch into the cache
    cid = m.contact_id

    def delete(cur: object) -> None:
        cur.execute("DELETE FROM identities WHERE contact_id = ?", [cid])  # type: ignore[attr-defined]
        cur.execute("DELETE FROM contacts WHERE id = ?", [cid])  # type: ignore[attr-defined]

    container.db.write(delete)  # without identity.forget: the cache still names the contact
    with pytest.raises(LookupError):
        resolve(container, [msg(ws.id, "identify", user="u1", anon="gone")])
    (retry,) = resolve(container, [msg(ws.id, "identify", user="u1", anon="gone")])
    assert retry.contact_id not in (None, cid)
    assert identities(container, retry.contact_id or 0) == {
        ("external_id", "u1"),
        ("anonymous_id", "gone"),
    }


def test_a_small_cache_evicting_mid_batch_never_duplicates_identifiers(settings: Settings) -> None:
    settings.identity.cache_entries = 40
    container = build_container(settings)
    try:
        ws = make_workspace(container).id
        people = [msg(ws, "identify", user=f"u{i}", anon=f"a{i}", minutes=i) for i in range(300)]
        resolve(container, people)
        expected = {f"u{i}": m.contact_id for i, m in enumerate(people)}
        for start in range(0, 300, 60):
            batch = [msg(ws, user=f"u{i}", anon=f"a{i}") for i in range(start, start + 60)]
            resolve(container, batch)
            assert [m.contact_id for m in batch] == [expected[m.user_id or ""] for m in batch]
        assert len(container.identity.cache.owners) <= 40 + 60 * 2
    finally:
        container.close()


def test_identifier_stored_behind_the_writers_back_fails_once_then_heals(
    container: Container, ws: Workspace
) -> None:
    (first,) = resolve(container, [msg(ws.id, anon="a-first")])
    resolve(container, [msg(ws.id, anon="a-other")])  # settles the first batch into the cache

    def swap(cur: object) -> None:
        """Another writer adds an identifier and removes one: the row count does not change,
        so only the primary key can notice."""
        cur.execute(  # type: ignore[attr-defined]
            "INSERT INTO identities SELECT workspace_id, type, 'a-sneaked', contact_id,"
            " first_seen, last_seen FROM identities WHERE value = 'a-first'"
        )
        cur.execute("DELETE FROM identities WHERE value = 'a-other'")  # type: ignore[attr-defined]

    container.db.write(swap)
    with pytest.raises(RuntimeError, match="another writer"):
        resolve(container, [msg(ws.id, anon="a-sneaked")])
    (retry,) = resolve(container, [msg(ws.id, anon="a-sneaked")])
    assert retry.contact_id == first.contact_id


def test_bulk_key_hashes_in_duckdb_equal_the_python_hash() -> None:
    import duckdb

    from retenta.identity.known import HASH_IN_DATABASE_FROM, key_hash, key_hashes

    keys = [("ws_1", "email", f"ann{i}@x.io") for i in range(HASH_IN_DATABASE_FROM)]
    keys.append(("ws_1", "custom:loyalty", "Ünïcode — значення"))
    assert key_hashes(duckdb.connect(), keys) == [key_hash(k) for k in keys]


E164_LIKE = st.builds(
    lambda code, rest: f"+{code}{rest}",
    st.sampled_from(sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)),
    st.text(alphabet="0123456789", min_size=0, max_size=14),
)


@given(text=st.one_of(E164_LIKE, st.from_regex(r"\+[0-9]{1,17}", fullmatch=True)))
@settings_(max_examples=600, deadline=None)
def test_e164_fast_path_agrees_with_the_general_parser(text: str) -> None:
    fast = _e164_fast(text)
    if fast is not None:
        for region in ("UA", "US", "DE"):
            assert fast == _phone_general(text, region)


@pytest.mark.parametrize("region", sorted(phonenumbers.SUPPORTED_REGIONS))
def test_e164_fast_path_agrees_on_every_regions_example_numbers(region: str) -> None:
    for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
        example = phonenumbers.example_number_for_type(region, kind)
        if example is None:
            continue
        text = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
        for candidate in (text, text[:-1], text + "1"):
            fast = _e164_fast(candidate)
            assert fast is None or fast == _phone_general(candidate, "UA")
