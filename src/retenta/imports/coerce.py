"""Vectorized type coercion: a column of raw text cells → typed values plus a "bad" mask.

Every coercer takes a string Array whose cells are already trimmed (empty → null) and returns
``Coerced(values, bad, reason)``: ``bad`` is true where a non-empty cell could not be read,
``reason`` says what was expected. All work is pyarrow compute over the whole chunk; Python
runs per row only for JSON cells and for the (rare) rows that fail a vectorized parse.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import pyarrow as pa
import pyarrow.compute as pc

MONEY = pa.decimal128(18, 2)
TIMESTAMP = pa.timestamp("us", tz="UTC")
_SPACES = "[\\s\u00a0\u202f]"


@dataclass(frozen=True)
class Coerced:
    values: pa.Array
    bad: pa.Array | None  # boolean; None = nothing failed
    reason: str = ""


def clean(arr: pa.Array) -> pa.Array:
    """Trim whitespace and turn empty cells into nulls.

    >>> clean(pa.array([" a ", "", None, "b"])).to_pylist()
    ['a', None, None, 'b']
    """
    trimmed = pc.utf8_trim_whitespace(arr.cast(pa.string()))
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _bad(arr: pa.Array, ok: pa.Array) -> pa.Array:
    """Present but not ok (nulls are never bad here; required-ness is checked elsewhere)."""
    return pc.and_(pc.is_valid(arr), pc.invert(pc.fill_null(ok, False)))


def _keep(arr: pa.Array, ok: pa.Array) -> pa.Array:
    return pc.if_else(pc.fill_null(ok, False), arr, pa.scalar(None, arr.type))


def _lookup(arr: pa.Array, table: dict[str, str], out_type: pa.DataType = pa.string()) -> Coerced:
    """Map lower-cased cells through ``table``; cells not in it are bad."""
    keys = pa.array(list(table), pa.string())
    idx = pc.index_in(pc.utf8_lower(arr), value_set=keys)
    values = pa.array(list(table.values())).cast(out_type).take(idx)
    return Coerced(values, _bad(arr, pc.is_valid(idx)), "expected one of: " + ", ".join(table))


def as_string(arr: pa.Array) -> Coerced:
    return Coerced(arr, None)


EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[^@\s.]+$"


def as_email(arr: pa.Array) -> Coerced:
    """Lower-cased; a cheap shape check here, full validation in identity normalization.

    >>> c = as_email(pa.array(["Ann@Example.COM", "nope"]))
    >>> c.values.to_pylist(), c.bad.to_pylist()
    (['ann@example.com', None], [False, True])
    """
    lowered = pc.utf8_lower(arr)
    ok = pc.match_substring_regex(lowered, EMAIL_RE)
    return Coerced(_keep(lowered, ok), _bad(arr, ok), "not an e-mail address")


def as_phone(arr: pa.Array) -> Coerced:
    """Digits with optional +, spaces, dashes, dots and brackets; 7–15 digits.

    >>> as_phone(pa.array(["+38 (050) 123-45-67", "12"])).bad.to_pylist()
    [False, True]
    """
    digits = pc.replace_substring_regex(arr, r"[^0-9]", "")
    shape = pc.match_substring_regex(arr, r"^\+?[0-9\s().\-]+$")
    n = pc.utf8_length(digits)
    ok = pc.and_(shape, pc.and_(pc.greater_equal(n, 7), pc.less_equal(n, 15)))
    stripped = pc.replace_substring_regex(arr, r"[\s().\-]", "")
    return Coerced(_keep(stripped, ok), _bad(arr, ok), "not a phone number (7 to 15 digits)")


def as_integer(arr: pa.Array) -> Coerced:
    """Whole numbers; ``1 000`` and ``3.0`` accepted.

    >>> as_integer(pa.array(["1 000", "3.0", "2.5", "x"])).values.to_pylist()
    [1000, 3, None, None]
    """
    s = pc.replace_substring_regex(arr, _SPACES, "")
    ok = pc.match_substring_regex(s, r"^[+-]?[0-9]{1,18}(\.0+)?$")
    s = pc.replace_substring_regex(_keep(s, ok), r"\.0+$", "")
    return Coerced(pc.cast(s, pa.int64()), _bad(arr, ok), "not a whole number")


_MONEY_NOISE = "[\\s\u00a0\u202f$€£₴₽]|(?i:грн|uah|usd|eur|руб)\\.?"


def as_decimal(arr: pa.Array) -> Coerced:
    """Money: ``1 234,50``, ``1,234.50``, ``12.5 грн`` → DECIMAL(18,2), rounded half up.

    >>> as_decimal(pa.array(["1 234,50", "1,234.5", "12.345", "abc"])).values.to_pylist()
    [Decimal('1234.50'), Decimal('1234.50'), Decimal('12.35'), None]
    """
    s = pc.replace_substring_regex(arr, _MONEY_NOISE, "")
    comma_decimal = pc.match_substring_regex(s, r"^[+-]?[0-9]+,[0-9]{1,2}$")
    s = pc.if_else(
        comma_decimal,
        pc.replace_substring(s, ",", "."),
        pc.replace_substring_regex(s, r",(\d{3})", r"\1"),
    )
    ok = pc.match_substring_regex(s, r"^[+-]?[0-9]{1,16}(\.[0-9]{1,10})?$")
    wide = pc.cast(_keep(s, ok), pa.decimal128(38, 10))
    values = pc.cast(pc.round(wide, 2, round_mode="half_up"), MONEY)
    return Coerced(values, _bad(arr, ok), "not a number")


TRUE_WORDS = ("true", "1", "yes", "y", "t", "on", "да", "так", "+", "x", "v")
FALSE_WORDS = ("false", "0", "no", "n", "f", "off", "нет", "ні", "-")
BOOLEANS = {**dict.fromkeys(TRUE_WORDS, "true"), **dict.fromkeys(FALSE_WORDS, "false")}


def as_boolean(arr: pa.Array) -> Coerced:
    c = _lookup(arr, BOOLEANS)
    return Coerced(pc.equal(c.values, "true"), c.bad, "expected yes/no, true/false or 1/0")


CONSENTS = {
    **dict.fromkeys(TRUE_WORDS, "subscribed"),
    **dict.fromkeys(FALSE_WORDS, "unsubscribed"),
    **dict.fromkeys(("subscribed", "opt-in", "optin", "opted in", "подписан"), "subscribed"),
    **dict.fromkeys(("підписаний", "підписано"), "subscribed"),
    **dict.fromkeys(("unsubscribed", "opt-out", "optout", "opted out"), "unsubscribed"),
    **dict.fromkeys(("отписан", "відписаний", "відписано"), "unsubscribed"),
    "pending": "pending",
}


def as_consent(arr: pa.Array) -> Coerced:
    c = _lookup(arr, CONSENTS)
    return Coerced(c.values, c.bad, "expected subscribed/unsubscribed/pending or yes/no")


GENDERS = {
    **dict.fromkeys(("m", "male", "man", "м", "муж", "мужской", "мужчина", "ч", "чол"), "male"),
    **dict.fromkeys(("чоловік", "чоловіча", "чоловічий"), "male"),
    **dict.fromkeys(("f", "female", "woman", "w", "ж", "жен", "женский", "женщина"), "female"),
    **dict.fromkeys(("жін", "жінка", "жіноча", "жіночий"), "female"),
    **dict.fromkeys(("other", "o", "x", "non-binary", "nonbinary", "другое", "інше"), "other"),
}


def as_gender(arr: pa.Array) -> Coerced:
    c = _lookup(arr, GENDERS)
    return Coerced(c.values, c.bad, "expected male, female or other")


ORDER_STATUSES = {
    **dict.fromkeys(("placed", "new", "created", "pending", "processing", "open"), "placed"),
    **dict.fromkeys(("новый", "новий", "оформлен", "оформлено", "в обработке"), "placed"),
    **dict.fromkeys(("paid", "completed", "complete", "done", "оплачен", "оплачено"), "paid"),
    **dict.fromkeys(("выполнен", "виконано", "fulfilled"), "paid"),
    **dict.fromkeys(("shipped", "sent", "delivered", "отправлен", "доставлен"), "shipped"),
    **dict.fromkeys(("відправлено", "доставлено"), "shipped"),
    **dict.fromkeys(("returned", "refunded", "возврат", "повернення", "повернено"), "returned"),
    **dict.fromkeys(("cancelled", "canceled", "отменен", "отменён", "скасовано"), "cancelled"),
}


def as_order_status(arr: pa.Array) -> Coerced:
    c = _lookup(arr, ORDER_STATUSES)
    return Coerced(c.values, c.bad, "expected placed, paid, shipped, returned or cancelled")


CHANNELS = {
    **dict.fromkeys(("online", "web", "site", "app", "mobile", "сайт", "онлайн"), "online"),
    **dict.fromkeys(("offline", "store", "shop", "pos", "retail", "магазин"), "offline"),
    **dict.fromkeys(("call_centre", "call_center", "call centre", "call center"), "call_centre"),
    **dict.fromkeys(("phone", "call", "колл-центр", "кол-центр"), "call_centre"),
}


def as_order_channel(arr: pa.Array) -> Coerced:
    c = _lookup(arr, CHANNELS)
    return Coerced(c.values, c.bad, "expected online, offline or call_centre")


CURRENCY_SYMBOLS = {"₴": "UAH", "грн": "UAH", "$": "USD", "€": "EUR", "£": "GBP", "₽": "RUB"}


def as_currency(arr: pa.Array) -> Coerced:
    """ISO 4217 code, upper-cased; a few symbols accepted.

    >>> as_currency(pa.array(["uah", "грн", "dollars"])).values.to_pylist()
    ['UAH', 'UAH', None]
    """
    lowered = pc.utf8_lower(arr)
    sym = pa.array(list(CURRENCY_SYMBOLS.values())).take(
        pc.index_in(lowered, value_set=pa.array(list(CURRENCY_SYMBOLS)))
    )
    upper = pc.coalesce(sym, pc.utf8_upper(arr))
    ok = pc.match_substring_regex(upper, r"^[A-Z]{3}$")
    return Coerced(_keep(upper, ok), _bad(arr, ok), "not a 3-letter currency code (ISO 4217)")


def as_language(arr: pa.Array) -> Coerced:
    """``uk``, ``ru-UA``, ``en_US`` → lower-case BCP 47-ish tags."""
    s = pc.replace_substring(pc.utf8_lower(arr), "_", "-")
    ok = pc.match_substring_regex(s, r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")
    return Coerced(_keep(s, ok), _bad(arr, ok), "not a language code (e.g. uk, en-US)")


@functools.cache
def _zones() -> pa.Array:
    return pa.array(sorted(zoneinfo.available_timezones() | {"UTC"}))


def as_timezone(arr: pa.Array) -> Coerced:
    ok = pc.is_in(arr, value_set=_zones())
    return Coerced(_keep(arr, ok), _bad(arr, ok), "not an IANA time zone (e.g. Europe/Kyiv)")


_ISO = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?"
_OFFSET = r"(Z|[+-]\d{2}:?\d{2})$"
_DAY_FIRST = ("%d.%m.%Y", "%d/%m/%Y", "%Y/%m/%d", "%d.%m.%y")
_DAY_FIRST_TIME = ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M")
TIMESTAMP_REASON = "not a date/time (expected ISO 8601 like 2024-05-01T10:00:00Z or DD.MM.YYYY)"


def _cast_or_slow(arr: pa.Array, to: pa.DataType) -> pa.Array:
    """Vectorized ISO cast; if one cell is out of range (2024-13-40) parse cell by cell."""
    try:
        return pc.cast(arr, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([_parse_iso(v) for v in arr.to_pylist()], TIMESTAMP)


def _parse_iso(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _strptime_exact(arr: pa.Array, fmt: str) -> pa.Array:
    """``strptime`` that refuses day overflow (Arrow reads 31.02 as 3 March)."""
    parsed = pc.strptime(arr, format=fmt, unit="us", error_is_null=True)
    day_re = r"^(?P<d>\d{1,2})" if fmt.startswith("%d") else r"/(?P<d>\d{1,2})$"
    day = pc.cast(pc.struct_field(pc.extract_regex(arr, day_re), [0]), pa.int64())
    ok = pc.fill_null(pc.equal(day, pc.day(parsed)), False)
    return _keep(parsed, ok).cast(TIMESTAMP)


def parse_timestamps(arr: pa.Array) -> pa.Array:
    """Timestamps in UTC from ISO 8601 (offset or not), day-first dates, or Unix seconds.

    >>> parse_timestamps(pa.array(["2024-05-01T10:00:00+03:00", "01.05.2024 10:30"])).to_pylist()
    [datetime.datetime(2024, 5, 1, 7, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC')), \
datetime.datetime(2024, 5, 1, 10, 30, tzinfo=zoneinfo.ZoneInfo(key='UTC'))]
    """
    iso = pc.fill_null(pc.match_substring_regex(arr, _ISO + _OFFSET + "?$|" + _ISO + "$"), False)
    offset = pc.and_(iso, pc.fill_null(pc.match_substring_regex(arr, _OFFSET), False))
    naive_iso = pc.and_(iso, pc.invert(offset))
    with_tz = _cast_or_slow(_keep(arr, offset), TIMESTAMP)
    naive = _cast_or_slow(_keep(arr, naive_iso), pa.timestamp("us")).cast(TIMESTAMP)
    parts = [with_tz, naive]
    rest = _keep(arr, pc.invert(iso))
    for fmt in (*_DAY_FIRST_TIME, *_DAY_FIRST):
        parts.append(_strptime_exact(rest, fmt))
    epoch = _keep(rest, pc.fill_null(pc.match_substring_regex(rest, r"^\d{9,10}$"), False))
    parts.append(pc.multiply(pc.cast(epoch, pa.int64()), 1_000_000).cast(TIMESTAMP))
    return pc.coalesce(*parts)


def as_timestamp(arr: pa.Array) -> Coerced:
    values = parse_timestamps(arr)
    return Coerced(values, _bad(arr, pc.is_valid(values)), TIMESTAMP_REASON)


def as_date(arr: pa.Array) -> Coerced:
    """Dates: ``1990-04-23``, ``23.04.1990``, ``23/04/1990``.

    >>> as_date(pa.array(["23.04.1990", "1990-04-23", "31.02.1990"])).values.to_pylist()
    [datetime.date(1990, 4, 23), datetime.date(1990, 4, 23), None]
    """
    values = parse_timestamps(arr).cast(pa.timestamp("us")).cast(pa.date32())
    reason = "not a date (expected YYYY-MM-DD or DD.MM.YYYY)"
    return Coerced(values, _bad(arr, pc.is_valid(values)), reason)


def as_category_path(arr: pa.Array) -> Coerced:
    """``Women > Shoes``, ``Women/Shoes`` or ``Women|Shoes`` → ``["Women", "Shoes"]``."""
    return Coerced(pc.split_pattern_regex(arr, r"\s*(?:>|/|\|)\s*"), None)


def _json_ok(value: str | None) -> bool:
    try:
        return value is None or isinstance(orjson.loads(value), dict | list)
    except orjson.JSONDecodeError:
        return False


def as_json(arr: pa.Array) -> Coerced:
    """JSON text (an object or an array), kept as text; parsed per cell to validate."""
    ok = pa.array([_json_ok(v) for v in arr.to_pylist()], pa.bool_())
    return Coerced(_keep(arr, ok), _bad(arr, ok), "not valid JSON (an object or a list)")


COERCERS: dict[str, Callable[[pa.Array], Coerced]] = {
    "string": as_string,
    "email": as_email,
    "phone": as_phone,
    "integer": as_integer,
    "decimal": as_decimal,
    "boolean": as_boolean,
    "consent": as_consent,
    "gender": as_gender,
    "order_status": as_order_status,
    "order_channel": as_order_channel,
    "currency": as_currency,
    "language": as_language,
    "timezone": as_timezone,
    "timestamp": as_timestamp,
    "date": as_date,
    "category_path": as_category_path,
    "json": as_json,
}
