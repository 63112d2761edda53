"""SMS segment counting (GSM 03.38 / UCS-2), splitting, a transliteration hint, cost.

Pure functions. A text that every character of fits the GSM 03.38 default alphabet or its
extension table goes out as GSM-7: 160 septets in one segment, 153 per segment when it is
concatenated (the 6-octet UDH takes 7 septets). An extension character (``€ [ ] { } \\ ~ ^ |``
and form feed) is an escape plus a septet, so it counts 2 and is never split across two
segments. One character outside both tables (a Cyrillic letter, an emoji, a curly quote)
switches the whole message to UCS-2: 70 UTF-16 code units in one segment, 67 per
concatenated segment; a character outside the BMP (most emoji) is a surrogate pair of 2 units
and is never split either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import phonenumbers

Encoding = Literal["GSM-7", "UCS-2"]

# The default alphabet in code order (0x1B is the escape to the extension table).
GSM7_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION_CODES = {
    "\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F,
    "[": 0x3C, "~": 0x3D, "]": 0x3E, "|": 0x40, "€": 0x65,
}  # fmt: skip
GSM7_BASIC = frozenset(GSM7_TABLE) - {"\x1b"}
GSM7_EXTENSION = frozenset(GSM7_EXTENSION_CODES)
_GSM7_CODES = {ch: code for code, ch in enumerate(GSM7_TABLE) if ch != "\x1b"}

SINGLE = {"GSM-7": 160, "UCS-2": 70}
CONCATENATED = {"GSM-7": 153, "UCS-2": 67}


@dataclass(frozen=True, slots=True)
class SegmentCount:
    encoding: Encoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment: int  # the capacity of each segment at this length (160/153, 70/67)


def encoding_of(text: str) -> Encoding:
    """GSM-7 when every character is in the default alphabet or its extension table.

    >>> encoding_of("Sale -20% {today}"), encoding_of("Знижка"), encoding_of("ok 👍")
    ('GSM-7', 'UCS-2', 'UCS-2')
    """
    gsm = GSM7_BASIC | GSM7_EXTENSION
    return "GSM-7" if all(ch in gsm for ch in text) else "UCS-2"


def unit_cost(ch: str, encoding: Encoding) -> int:
    """Septets (GSM-7) or UTF-16 code units (UCS-2) one character takes.

    >>> [unit_cost(ch, "GSM-7") for ch in "a€"], [unit_cost(ch, "UCS-2") for ch in "я😀"]
    ([1, 2], [1, 2])
    """
    if encoding == "GSM-7":
        return 2 if ch in GSM7_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1


def units_of(text: str, encoding: Encoding | None = None) -> int:
    """Septets or UTF-16 code units of the whole text.

    >>> units_of("[x]"), units_of("Привіт 😀")
    (5, 9)
    """
    encoding = encoding or encoding_of(text)
    return sum(unit_cost(ch, encoding) for ch in text)


def gsm7_encode(text: str) -> bytes:
    """GSM 03.38 septets, one per octet (SMPP ``data_coding`` 0); extension as ESC + code.

    >>> gsm7_encode("@A€").hex()
    '00411b65'
    """
    out = bytearray()
    for ch in text:
        if ch in GSM7_EXTENSION_CODES:
            out += bytes((0x1B, GSM7_EXTENSION_CODES[ch]))
        else:
            out.append(_GSM7_CODES[ch])  # KeyError: not GSM-7 (callers check encoding_of)
    return bytes(out)


def split(text: str) -> list[str]:
    """The parts a text goes out in: no character (escape pair, surrogate pair) split.

    >>> [len(p) for p in split("a" * 161)]
    [153, 8]
    >>> [len(p) for p in split("я" * 71)]
    [67, 4]
    >>> [(len(p), units_of(p)) for p in split("x" * 152 + "€" + "y" * 10)]  # € moves on whole
    [(152, 152), (11, 12)]
    """
    if not text:
        return []
    encoding = encoding_of(text)
    if units_of(text, encoding) <= SINGLE[encoding]:
        return [text]
    capacity = CONCATENATED[encoding]
    parts: list[str] = []
    start, used = 0, 0
    for index, ch in enumerate(text):
        cost = unit_cost(ch, encoding)
        if used + cost > capacity:
            parts.append(text[start:index])
            start, used = index, 0
        used += cost
    parts.append(text[start:])
    return parts


def count(text: str) -> SegmentCount:
    """How many segments a text costs.

    >>> count("a" * 160)
    SegmentCount(encoding='GSM-7', units=160, segments=1, per_segment=160)
    >>> count("a" * 161).segments, count("€" * 80).segments, count("€" * 81).segments
    (2, 1, 2)
    >>> count("Привіт").encoding, count("я" * 70).segments, count("я" * 71).segments
    ('UCS-2', 1, 2)
    >>> count("")
    SegmentCount(encoding='GSM-7', units=0, segments=0, per_segment=160)
    """
    encoding = encoding_of(text)
    units = units_of(text, encoding)
    if units <= SINGLE[encoding]:
        return SegmentCount(encoding, units, 1 if units else 0, SINGLE[encoding])
    return SegmentCount(encoding, units, len(split(text)), CONCATENATED[encoding])


# Ukrainian and Russian letters (and the punctuation that forces UCS-2 most often) to what a
# reader understands in Latin: the Ukrainian national transliteration (2010), non-initial forms.
_LATIN = "a b v h g d e ie zh z y i i i k l m n o p r s t u f kh ts ch sh shch ' iu ia y e ' io"
_CYRILLIC = dict(zip("абвгґдеєжзиіїйклмнопрстуфхцчшщьюяыэъё", _LATIN.split(" "), strict=True))
_PUNCTUATION = {
    "«": '"', "»": '"', "„": '"', "“": '"', "”": '"', "‘": "'", "’": "'", "ʼ": "'",
    "–": "-", "—": "-", "−": "-", "…": "...", "\u00a0": " ", "№": "No", "₴": "UAH", "₽": "RUB",
}  # fmt: skip


def transliterate(text: str) -> str:
    """Latin letters for Cyrillic ones and plain punctuation for typographic one.

    >>> transliterate("Знижка «−20%» для Юлії — щодня")
    'Znyzhka "-20%" dlia Iulii - shchodnia'
    """
    out: list[str] = []
    for ch in text:
        lower = ch.lower()
        if lower in _CYRILLIC:
            latin = _CYRILLIC[lower]
            out.append(latin.capitalize() if ch != lower else latin)
        else:
            out.append(_PUNCTUATION.get(ch, ch))
    return "".join(out)


@dataclass(frozen=True, slots=True)
class TransliterationHint:
    segments: int  # as the text is (UCS-2)
    transliterated_segments: int  # in GSM-7, once transliterated
    transliterated: str

    def __str__(self) -> str:
        return (
            f"this message would be {self.transliterated_segments} segment"
            f"{'' if self.transliterated_segments == 1 else 's'} in GSM-7 if transliterated "
            f"(now {self.segments} in UCS-2)"
        )


def transliteration_hint(text: str) -> TransliterationHint | None:
    """A hint when transliterating would make a UCS-2 text GSM-7 and cheaper, else ``None``.

    >>> text = "Ваше замовлення №1042 доставлено. Дякуємо, що обрали нас! Код отримання: 7731"
    >>> print(transliteration_hint(text))
    this message would be 1 segment in GSM-7 if transliterated (now 2 in UCS-2)
    >>> transliteration_hint("Hello"), transliteration_hint("ok 👍")
    (None, None)
    """
    now = count(text)
    if now.encoding == "GSM-7":
        return None
    latin = transliterate(text)
    then = count(latin)
    if then.encoding != "GSM-7" or then.segments >= now.segments:
        return None
    return TransliterationHint(now.segments, then.segments, latin)


@dataclass(frozen=True, slots=True)
class CostEstimate:
    region: str | None  # ISO 3166 region of the number ("UA"), None when unknown
    segments: int
    price_per_segment: Decimal | None  # None: no price for that region and no default
    total: Decimal | None
    currency: str


def region_of(e164: str) -> str | None:
    """The region (ISO 3166-1 alpha-2) a number belongs to, by phonenumbers.

    >>> region_of("+380501234567"), region_of("+14155550100"), region_of("+999")
    ('UA', 'US', None)
    """
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    region: str | None = phonenumbers.region_code_for_number(number)
    return region if region and region != "ZZ" else None


def estimate_cost(
    to: str, text: str, prices: Mapping[str, Decimal], *, currency: str = "USD"
) -> CostEstimate:
    """Segments × the price for the number's region (``prices["*"]`` is the default).

    >>> prices = {"UA": Decimal("0.021"), "*": Decimal("0.05")}
    >>> e = estimate_cost("+380501234567", "Привіт! " * 10, prices)
    >>> e.region, e.segments, e.total
    ('UA', 2, Decimal('0.042'))
    >>> estimate_cost("+4915112345678", "Hi", {"UA": Decimal("0.021")}).total is None
    True
    """
    region = region_of(to)
    segments = count(text).segments
    price = prices.get(region or "", prices.get("*"))
    total = None if price is None else price * segments
    return CostEstimate(region, segments, price, total, currency)
