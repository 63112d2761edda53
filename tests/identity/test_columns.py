"""Identifiers normalized a column at a time give ``normalize``'s verdict for every value."""

from __future__ import annotations

import doctest

import phonenumbers
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retenta.identity import columns
from retenta.identity.columns import normalize_column, normalized_phones
from retenta.identity.normalize import Normalizer, normalize_with_reason
from retenta.settings import IdentitySettings

IDENTITY = IdentitySettings(default_phone_region="UA")
REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


def example_numbers() -> list[str]:
    """Every region's example numbers of every type, in E.164, plus near misses of each."""
    out = []
    for region in REGIONS:
        for kind in phonenumbers.PhoneNumberType.values():
            number = phonenumbers.example_number_for_type(region, kind)
            if number is None:
                continue
            text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            out += [text, text[:-1], text + "7", text[:-1] + "0", text[:4] + "9" + text[5:]]
    return out


def expected(id_type: str, raws: list[object]) -> tuple[list[str | None], list[bool]]:
    verdicts = [normalize_with_reason(id_type, raw, IDENTITY) for raw in raws]
    return [v for v, _ in verdicts], [v is None and r != "empty" for v, r in verdicts]


def check(id_type: str, raws: list[object], arrow_type: pa.DataType = pa.string()) -> int:
    """Assert the column's verdicts equal ``normalize``'s; the rows settled by column."""
    calls: list[object] = []

    class Counting(Normalizer):
        def __call__(self, t: str, raw: object) -> tuple[str | None, str | None]:
            if raw is not None:
                calls.append(raw)
            return super().__call__(t, raw)

    found = normalize_column(id_type, pa.array(raws, arrow_type), Counting(IDENTITY))
    values, invalid = expected(id_type, raws)
    assert found.values.to_pylist() == values
    assert found.invalid.tolist() == invalid
    return sum(raw is not None for raw in raws) - len(calls)


EDGES = [
    None, "", "  ", "null", " NULL ", "undefined", "0", "\u00a0c-1", "c-1\u2003", "c 1", " c-1 ",
    "c-1\x1c", "\x1fc-1", "Олена", "x" * 512, "x" * 513, "a\tb", "a\nb", "\x7f", "ok",
]  # fmt: skip


def test_plain_identifiers_and_their_edges() -> None:
    raws = [*EDGES, *(f"c-{i}" for i in range(200))]
    assert check("external_id", raws) >= 200  # the plain ones by column
    assert check("anonymous_id", raws) >= 200


def test_emails_and_their_edges() -> None:
    raws = [
        *EDGES, "Ann.Lee+shop@Gmail.COM", " ann@example.com ", "ann@@example.com",
        "ann@example", "ann@localhost", "a..b@example.com", ".a@example.com", "a.@example.com",
        "test@test.com", "null@example.com", "ann@example.com.", "ann@-example.com",
        "ann@exa_mple.com", "Олена@приклад.укр", "ann@приклад.укр", "\"a b\"@example.com",
        "a" * 64 + "@example.com", "a" * 65 + "@example.com", "a@" + "b" * 250 + ".com",
        *(f"user{i}@Example.COM" for i in range(200)),
    ]  # fmt: skip
    assert check("email", raws) >= 200


def test_phones_of_every_region() -> None:
    raws = [*example_numbers(), *EDGES, " +380501234567 ", "+380 50 123 45 67", "0501234567"]
    assert check("phone", raws) > len(raws) // 2  # most of them settled by column


def test_a_column_that_is_not_text_goes_one_by_one() -> None:
    assert check("external_id", [7, None, 12], pa.int64()) == 0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=30), st.from_regex(
    r"\A[ ]?[A-Za-z0-9._+-]{1,12}@[A-Za-z0-9.-]{1,12}[ ]?\Z"
)), max_size=40))  # fmt: skip
def test_any_text_as_email(raws: list[str | None]) -> None:
    check("email", list(raws))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=20)), max_size=40))
def test_any_text_as_external_id(raws: list[str | None]) -> None:
    check("external_id", list(raws))


@settings(max_examples=400, deadline=None)
@given(
    code=st.sampled_from(sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)),
    digits=st.lists(st.text("0123456789", min_size=1, max_size=14), min_size=1, max_size=8),
)
def test_any_digits_as_phone(code: int, digits: list[str]) -> None:
    check("phone", [f"+{code}{d}" for d in digits])


@pytest.mark.parametrize("raws", [example_numbers(), ["+380501234567", " +380501234568 ", "x"]])
def test_the_phones_of_a_batch_settled_by_column(raws: list[str]) -> None:
    found = normalized_phones(raws, IDENTITY)
    assert len(found) > len(raws) // 2
    for raw, verdict in found.items():
        assert verdict == normalize_with_reason("phone", raw, IDENTITY), raw


def test_examples_of_the_module() -> None:
    result = doctest.testmod(columns)
    assert result.attempted > 0
    assert result.failed == 0
