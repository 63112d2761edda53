"""Pure mapping and coercion: suggestions, validation errors, typed values and reasons."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from retenta.imports.coerce import as_consent, as_date, as_decimal, as_gender, as_timestamp
from retenta.imports.mapping import MappingError, coerce_chunk, suggest_mapping, validate_mapping


def test_suggests_from_russian_ukrainian_and_english_headers() -> None:
    cols = ["Email", "Номер телефону", "Фамилия", "Дата рождения", "Підписка", "Customer ID", "x"]
    assert suggest_mapping("contacts", cols) == {
        "Email": "email",
        "Номер телефону": "phone",
        "Фамилия": "last_name",
        "Дата рождения": "birthday",
        "Підписка": "email_consent",
        "Customer ID": "external_id",
        "x": None,
    }


def test_suggestion_never_maps_two_columns_to_one_field() -> None:
    assert suggest_mapping("contacts", ["email", "E-mail"]) == {"email": "email", "E-mail": None}


@pytest.mark.parametrize(
    ("entity", "mapping", "field"),
    [
        ("contacts", {"a": "first_name"}, "external_id"),
        ("contacts", {"a": "email", "b": "shoe_size"}, "shoe_size"),
        ("contacts", {"a": "email", "zzz": "phone"}, "zzz"),
        ("contacts", {"a": "email", "b": "email"}, "email"),
        ("orders", {"a": "order_id", "b": "email", "c": "total"}, "placed_at"),
        ("orders", {"a": "order_id", "b": "email", "c": "placed_at", "d": "sku"}, "price"),
        ("products", {"a": "name"}, "sku"),
        ("events", {"a": "event"}, "external_id"),
        ("widgets", {"a": "sku"}, "entity"),
    ],
)
def test_invalid_mappings_name_the_field(
    entity: str, mapping: dict[str, str | None], field: str
) -> None:
    with pytest.raises(MappingError) as err:
        validate_mapping(entity, ["a", "b", "c", "d"], mapping)
    assert err.value.field == field


def test_custom_prefixed_fields_are_valid() -> None:
    validate_mapping(
        "contacts", ["e", "t", "v"], {"e": "email", "t": "attr.tier", "v": "consent.viber"}
    )


def test_coercion_rejects_rows_with_every_reason() -> None:
    raw = pa.table(
        {
            "mail": ["ann@example.com", "not-an-email", "", "bob@example.com"],
            "born": ["23.04.1990", "1990-04-23", "", "31.02.1990"],
            "subscribed": ["yes", "нет", "так", "maybe"],
        }
    )
    mapping = {"mail": "email", "born": "birthday", "subscribed": "email_consent"}
    chunk = coerce_chunk("contacts", raw, mapping, first_row=2)
    assert chunk.table.column("_row").to_pylist() == [2]
    assert chunk.table.column("birthday").to_pylist() == [date(1990, 4, 23)]
    found = [(r.row_number, r.field, r.reason) for r in chunk.rejects]
    assert found == [
        (3, "email", "'not-an-email': not an e-mail address"),
        (4, "external_id", "no identifier: the row needs one of external_id, email, phone"),
        (5, "birthday", "'31.02.1990': not a date (expected YYYY-MM-DD or DD.MM.YYYY)"),
        (5, "email_consent", "'maybe': expected subscribed/unsubscribed/pending or yes/no"),
    ]
    assert chunk.rejected_rows == 3
    assert chunk.rejects[0].raw == {
        "mail": "not-an-email",
        "born": "1990-04-23",
        "subscribed": "нет",
    }


def test_blank_rows_are_skipped_not_rejected() -> None:
    raw = pa.table({"sku": ["A", " ", None], "name": ["x", "", None]})
    chunk = coerce_chunk("products", raw, {"sku": "sku", "name": "name"}, first_row=2)
    assert (chunk.table.num_rows, chunk.rejects, chunk.blank_rows) == (1, [], 2)


def test_timestamps_in_common_formats() -> None:
    cells = [
        "2024-05-01T10:00:00Z",
        "2024-05-01 10:00:00.250",
        "2024-05-01T13:00:00+03:00",
        "01.05.2024 10:00",
        "1714557600",
        "2024-13-45",
    ]
    out = as_timestamp(pa.array(cells))
    ten = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert out.values.to_pylist()[:5] == [ten, ten.replace(microsecond=250000), ten, ten, ten]
    assert out.bad is not None
    assert out.bad.to_pylist() == [False] * 5 + [True]


def test_money_consent_gender_vocabularies() -> None:
    assert as_decimal(pa.array(["1 299,50", "1,299.50", "99 грн"])).values.to_pylist() == [
        Decimal("1299.50"),
        Decimal("1299.50"),
        Decimal("99.00"),
    ]
    assert as_consent(pa.array(["Так", "opt-out", "pending"])).values.to_pylist() == [
        "subscribed",
        "unsubscribed",
        "pending",
    ]
    assert as_gender(pa.array(["Ж", "male", "чол"])).values.to_pylist() == [
        "female",
        "male",
        "male",
    ]
    assert as_date(pa.array(["1990/04/23"])).values.to_pylist() == [date(1990, 4, 23)]
