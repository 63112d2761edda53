"""Locale-aware filters for templates: money, numbers, percentages, dates (Babel).

Each filter reads the render's ``locale`` and ``timezone`` variables, so one template
formats ``1234.5`` as ``$1,234.50`` for an American and ``1.234,50 €`` for a German.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from jinja2 import pass_context
from jinja2.runtime import Context

DEFAULT_LOCALE = "en"


@lru_cache(maxsize=1024)
def babel_locale(tag: str | None) -> Locale:
    """A Babel locale for a language tag (``uk-UA``, ``de``); unknown tags fall back to English.

    >>> str(babel_locale("uk-UA")), str(babel_locale("xx")), str(babel_locale(None))
    ('uk_UA', 'en', 'en')
    """
    if not tag:
        return Locale.parse(DEFAULT_LOCALE)
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse(DEFAULT_LOCALE)


def _locale(ctx: Context) -> Locale:
    return babel_locale(ctx.get("locale"))


def _number(value: Any) -> Decimal | float | int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return value
    try:
        return Decimal(str(value).strip())
    except ArithmeticError:
        return None


@pass_context
def money(ctx: Context, value: Any, currency: str | None = None) -> str:
    """``{{ order.total | money(order.currency) }}`` in the contact's locale."""
    amount = _number(value)
    if amount is None:
        return ""
    code = (currency or ctx.get("currency") or "USD").upper()
    return format_money(amount, code, ctx.get("locale"))


@lru_cache(maxsize=65_536)
def format_money(amount: Decimal | float | int, currency: str, locale: str | None) -> str:
    """Memoized: a mailing repeats the same few catalog prices for thousands of contacts.

    >>> format_money(1234.5, "UAH", "uk")
    '1\xa0234,50\xa0₴'
    """
    return babel_numbers.format_currency(amount, currency, locale=babel_locale(locale))


@pass_context
def number(ctx: Context, value: Any, decimals: int | None = None) -> str:
    """``{{ points | number }}`` → ``12 345`` (ru), ``12,345`` (en); ``decimals`` fixes digits."""
    amount = _number(value)
    if amount is None:
        return ""
    return format_number(amount, None if decimals is None else int(decimals), ctx.get("locale"))


@lru_cache(maxsize=65_536)
def format_number(amount: Decimal | float | int, decimals: int | None, locale: str | None) -> str:
    """``decimals`` fixes the digits after the separator (at most 10).

    >>> format_number(1234.5, 2, "de"), format_number(1234567, None, "en")
    ('1.234,50', '1,234,567')
    """
    if decimals is None:
        return babel_numbers.format_decimal(amount, locale=babel_locale(locale))
    pattern = "#,##0" + ("." + "0" * min(decimals, 10) if decimals > 0 else "")
    return babel_numbers.format_decimal(amount, format=pattern, locale=babel_locale(locale))


@pass_context
def percent(ctx: Context, value: Any) -> str:
    """``{{ 0.15 | percent }}`` → ``15%`` (en), ``15 %`` (de)."""
    amount = _number(value)
    if amount is None:
        return ""
    return babel_numbers.format_percent(amount, locale=_locale(ctx))


def _as_datetime(value: Any) -> datetime | date | None:
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def _zone(ctx: Context) -> ZoneInfo:
    try:
        return ZoneInfo(str(ctx.get("timezone") or "UTC"))
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


@pass_context
def date_filter(ctx: Context, value: Any, fmt: str = "medium") -> str:
    """``{{ order.placed_at | date }}`` → ``Nov 28, 2026`` / ``28 нояб. 2026 г.``."""
    moment = _as_datetime(value)
    if moment is None:
        return ""
    if isinstance(moment, datetime):
        if moment.tzinfo is not None:
            moment = moment.astimezone(_zone(ctx))
        moment = moment.date()
    return babel_dates.format_date(moment, format=fmt, locale=_locale(ctx))


@pass_context
def datetime_filter(ctx: Context, value: Any, fmt: str = "medium") -> str:
    """A date and time in the contact's timezone and locale."""
    moment = _as_datetime(value)
    if not isinstance(moment, datetime):
        return date_filter(ctx, value, fmt)
    return babel_dates.format_datetime(moment, format=fmt, tzinfo=_zone(ctx), locale=_locale(ctx))


LOCALE_FILTERS = {
    "money": money,
    "number": number,
    "percent": percent,
    "date": date_filter,
    "datetime": datetime_filter,
}
