"""Segment counting, splitting, transliteration and cost: examples and properties."""

from __future__ import annotations

import doctest
import itertools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retenta.messaging.channels.sms import common, segments
from retenta.messaging.channels.sms.segments import (
    CONCATENATED,
    GSM7_BASIC,
    GSM7_EXTENSION,
    SINGLE,
    count,
    encoding_of,
    estimate_cost,
    split,
    transliteration_hint,
    units_of,
)

GSM_CHARS = sorted(GSM7_BASIC | GSM7_EXTENSION)
gsm_text = st.text(alphabet=st.sampled_from(GSM_CHARS), max_size=700)
any_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(GSM_CHARS),
        st.sampled_from("абвгґдеєжзиіїйЯЮЇЄ«»—’"),
        st.sampled_from(["😀", "👍", "🏽", "🎉", "𝄞", "中"]),
    ),
    max_size=400,
)


def test_doctests() -> None:
    for module in (segments, common):
        result = doctest.testmod(module)
        assert result.attempted > 0
        assert result.failed == 0


@pytest.mark.parametrize(
    ("text", "encoding", "units", "parts"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # extension characters count 2 septets
        ("a" * 159 + "€", "GSM-7", 161, 2),
        ("{}" * 76 + "[", "GSM-7", 306, 3),  # 153 septets hold 76 pairs + nothing of the 77th
        ("я" * 70, "UCS-2", 70, 1),
        ("я" * 71, "UCS-2", 71, 2),
        ("я" * 134, "UCS-2", 134, 2),
        ("я" * 135, "UCS-2", 135, 3),
        ("a" * 150 + "й", "UCS-2", 151, 3),  # one Cyrillic letter switches the whole text
        ("😀" * 35, "UCS-2", 70, 1),  # an emoji is two UTF-16 units
        ("😀" * 36, "UCS-2", 72, 2),
        ("a" * 66 + "😀" + "b" * 3, "UCS-2", 71, 2),  # the emoji does not fit in unit 67
        ("Ça coûte 5€", "UCS-2", 11, 1),  # û is not in GSM 03.38
        ("Ça côute", "UCS-2", 8, 1),
        ("Ça va à 5€", "GSM-7", 11, 1),  # Ç, à are
    ],
)
def test_known_counts(text: str, encoding: str, units: int, parts: int) -> None:
    got = count(text)
    assert (got.encoding, got.units, got.segments) == (encoding, units, parts)


def test_an_emoji_at_a_boundary_moves_to_the_next_segment() -> None:
    text = "a" * 66 + "😀" + "b" * 10
    parts = split(text)
    assert parts[0] == "a" * 66
    assert parts[1].startswith("😀")
    assert all(units_of(p, "UCS-2") <= 67 for p in parts)


def test_an_escape_pair_at_a_boundary_moves_to_the_next_segment() -> None:
    text = "x" * 152 + "|" + "y" * 20
    parts = split(text)
    assert parts == ["x" * 152, "|" + "y" * 20]


@settings(max_examples=300, deadline=None)
@given(any_text)
def test_split_is_lossless_and_fits(text: str) -> None:
    parts = split(text)
    assert "".join(parts) == text
    got = count(text)
    assert got.segments == len(parts)
    encoding = encoding_of(text)
    capacity = SINGLE[encoding] if len(parts) <= 1 else CONCATENATED[encoding]
    assert all(units_of(p, encoding) <= capacity for p in parts)
    for part, following in itertools.pairwise(parts):
        # greedy and therefore minimal: the next character would not have fitted
        assert units_of(part + following[0], encoding) > capacity


@settings(max_examples=200, deadline=None)
@given(gsm_text)
def test_gsm_text_counts_septets_with_extension_as_two(text: str) -> None:
    got = count(text)
    assert got.encoding == "GSM-7"
    assert got.units == len(text) + sum(ch in GSM7_EXTENSION for ch in text)
    if got.units <= 160:
        assert got.segments == (1 if text else 0)
    else:
        assert got.segments >= -(-got.units // 153)


@settings(max_examples=200, deadline=None)
@given(gsm_text, st.sampled_from("абвгґдеєжзиіїйЯЮЇЄ"), st.integers(min_value=0))
def test_one_cyrillic_letter_switches_to_ucs2(text: str, letter: str, where: int) -> None:
    at = where % (len(text) + 1)
    mixed = text[:at] + letter + text[at:]
    got = count(mixed)
    assert got.encoding == "UCS-2"
    assert got.units == len(mixed.encode("utf-16-le")) // 2


@settings(max_examples=200, deadline=None)
@given(any_text)
def test_ucs2_units_are_utf16_code_units(text: str) -> None:
    if encoding_of(text) == "UCS-2":
        assert count(text).units == len(text.encode("utf-16-le")) // 2


def test_transliteration_hint() -> None:
    text = "Ваше замовлення №1042 доставлено! Чекаємо на вас у магазині на Хрещатику, 22 — до 21:00"
    hint = transliteration_hint(text)
    assert hint is not None
    assert hint.segments == 2
    assert hint.transliterated_segments == 1
    assert encoding_of(hint.transliterated) == "GSM-7"
    assert "if transliterated" in str(hint)
    assert transliteration_hint("Привіт") is None  # 1 segment already: nothing to gain
    assert transliteration_hint("Hello 😀 " * 10) is None  # an emoji does not transliterate


def test_cost_uses_the_numbers_region_and_the_default() -> None:
    prices = {"UA": Decimal("0.02"), "PL": Decimal("0.035"), "*": Decimal("0.08")}
    ua = estimate_cost("+380501234567", "я" * 71, prices, currency="EUR")
    assert (ua.region, ua.segments, ua.total, ua.currency) == ("UA", 2, Decimal("0.04"), "EUR")
    pl = estimate_cost("+48512345678", "a" * 161, prices)
    assert (pl.region, pl.total) == ("PL", Decimal("0.070"))
    us = estimate_cost("+14155550100", "hi", prices)
    assert (us.region, us.price_per_segment, us.total) == ("US", Decimal("0.08"), Decimal("0.08"))
    none = estimate_cost("+14155550100", "hi", {"UA": Decimal("0.02")})
    assert none.total is None


def test_refuse_explains_what_is_wrong() -> None:
    cfg = common.SmsSettings(sender="Retenta", max_segments=2)
    ok = common.SmsMessage("s1", "+380501234567", "hello")
    assert common.refuse(ok, cfg) is None
    cases = {
        "invalid_number": common.SmsMessage("s2", "+38050", "hi"),
        "too_long": common.SmsMessage("s3", "+380501234567", "я" * 135),
        "empty": common.SmsMessage("s4", "+380501234567", ""),
        "invalid_sender": common.SmsMessage("s5", "+380501234567", "hi", "Retenta Shop Ltd"),
    }
    for detail, message in cases.items():
        result = common.refuse(message, cfg)
        assert result is not None
        assert (result.outcome.value, result.detail) == ("permanent", detail)
    no_sender = common.refuse(ok, common.SmsSettings())
    assert no_sender is not None
    assert no_sender.detail == "invalid_sender"
