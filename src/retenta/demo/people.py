"""Names, e-mail addresses, phones and cities of demo contacts.

Faker builds the vocabularies once (seeded, per language); drawing from them is
vectorized numpy so a million people take seconds. Every identifier is produced in
its normalized form (lowercase e-mail, E.164 phone) and is unique by construction: it
embeds the contact's ordinal in the population.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from faker import Faker

from retenta.demo.model import LANGUAGES

FAKER_LOCALES = {"uk": "uk_UA", "ru": "ru_RU", "en": "en_GB", "pl": "pl_PL"}
EMAIL_DOMAINS = {
    "uk": ("gmail.com", "ukr.net", "i.ua", "meta.ua", "outlook.com"),
    "ru": ("gmail.com", "ukr.net", "yahoo.com", "outlook.com"),
    "en": ("gmail.com", "outlook.com", "yahoo.co.uk", "icloud.com", "hotmail.com"),
    "pl": ("gmail.com", "wp.pl", "onet.pl", "interia.pl", "o2.pl"),
}
# Mobile prefixes after the country code, and how many digits follow them.
PHONE_PLANS = {
    "uk": ("+380", ("50", "63", "66", "67", "68", "73", "93", "95", "96", "97", "98", "99"), 7),
    "ru": ("+380", ("50", "63", "66", "67", "68", "73", "93", "95", "96", "97", "98", "99"), 7),
    "en": ("+44", ("74", "75", "78"), 8),
    "pl": ("+48", ("50", "51", "53", "60", "66", "69", "72", "78", "79", "88"), 7),
}
CITIES = {
    "uk": ("Kyiv", "Lviv", "Odesa", "Kharkiv", "Dnipro", "Vinnytsia", "Poltava", "Chernihiv",
           "Ivano-Frankivsk", "Ternopil", "Uzhhorod", "Rivne", "Lutsk", "Zaporizhzhia", "Cherkasy"),
    "ru": ("Kyiv", "Odesa", "Kharkiv", "Dnipro", "Zaporizhzhia", "Mykolaiv", "Kryvyi Rih"),
    "en": ("London", "Manchester", "Birmingham", "Leeds", "Bristol", "Edinburgh", "New York"),
    "pl": ("Warszawa", "Kraków", "Wrocław", "Gdańsk", "Poznań", "Łódź", "Lublin", "Rzeszów"),
}  # fmt: skip
TIMEZONES = {
    "uk": ("Europe/Kyiv",),
    "ru": ("Europe/Kyiv",),
    "en": ("Europe/London", "Europe/London", "America/New_York"),
    "pl": ("Europe/Warsaw",),
}
_CYRILLIC_LATIN = (
    "a b v h g d e ie zh z y i i i k l m n o p r s t u f kh ts ch sh shch _ iu ia y e e _"
)
_CYRILLIC = {
    ch: latin.strip("_")
    for ch, latin in zip(
        "абвгґдеєжзиіїйклмнопрстуфхцчшщьюяыэёъ", _CYRILLIC_LATIN.split(), strict=True
    )
}


def ascii_name(name: str) -> str:
    """A name as it appears in an e-mail address.

    >>> ascii_name("Олена"), ascii_name("Łukasz"), ascii_name("Mary-Jane")
    ('olena', 'lukasz', 'maryjane')
    """
    out = "".join(_CYRILLIC.get(ch, ch) for ch in name.lower().replace("ł", "l"))
    plain = unicodedata.normalize("NFKD", out).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain if ch.isalnum())


@dataclass(frozen=True)
class NameBook:
    """Per language and gender: display first/last names and their ASCII forms."""

    first: dict[tuple[str, int], np.ndarray]
    last: dict[tuple[str, int], np.ndarray]
    first_ascii: dict[tuple[str, int], np.ndarray]
    last_ascii: dict[tuple[str, int], np.ndarray]


def _draw(fake: Faker, method: str, n: int) -> np.ndarray:
    names = sorted({getattr(fake, method)() for _ in range(n)})
    return np.array([x for x in names if '"' not in x and "\\" not in x], dtype=object)


@cache
def name_book() -> NameBook:
    """The vocabularies, built once per process from seeded Faker instances."""
    first, last = {}, {}
    for lang in LANGUAGES:
        fake = Faker(FAKER_LOCALES[lang])
        fake.seed_instance(20_240_501)
        for gender, suffix in ((0, "female"), (1, "male")):
            first[(lang, gender)] = _draw(fake, f"first_name_{suffix}", 300)
            last[(lang, gender)] = _draw(fake, f"last_name_{suffix}", 600)
    return NameBook(first, last, _ascii(first), _ascii(last))


def _ascii(book: dict[tuple[str, int], np.ndarray]) -> dict[tuple[str, int], np.ndarray]:
    return {k: np.array([ascii_name(w) for w in v], dtype=object) for k, v in book.items()}


@dataclass(frozen=True)
class People:
    """One row per person of a chunk (object arrays of str)."""

    first_name: np.ndarray
    last_name: np.ndarray
    email: np.ndarray
    phone: np.ndarray
    external_id: np.ndarray
    city: np.ndarray
    timezone: np.ndarray


def _by_group(
    rng: np.random.Generator, keys: list[tuple[Any, np.ndarray]], *tables: dict[Any, np.ndarray]
) -> list[np.ndarray]:
    """Draw one word per row from the vocabulary of the row's group (parallel tables agree)."""
    outs = [np.empty(len(keys[0][1]), dtype=object) for _ in tables]
    for key, mask in keys:
        pick = rng.integers(0, len(tables[0][key]), int(mask.sum()))
        for out, table in zip(outs, tables, strict=True):
            out[mask] = table[key][pick]
    return outs


def _emails(
    rng: np.random.Generator, a: np.ndarray, b: np.ndarray, lang: np.ndarray, ordinal: np.ndarray
) -> np.ndarray:
    """Unique addresses: name-based local parts ending in the person's ordinal."""
    style = rng.integers(0, 4, len(a))
    num = ordinal.astype(str).astype(object)
    local = np.select(
        [style == 0, style == 1, style == 2],
        [a + "." + b + num, a + num, b + "." + a + num],
        default=np.array([x[:1] for x in a], dtype=object) + b + num,
    )
    domain = np.empty(len(a), dtype=object)
    for code in LANGUAGES:
        mask = lang == code
        domain[mask] = np.asarray(EMAIL_DOMAINS[code], dtype=object)[
            rng.integers(0, len(EMAIL_DOMAINS[code]), int(mask.sum()))
        ]
    return np.asarray(local + "@" + domain)


def _phones(rng: np.random.Generator, lang: np.ndarray, ordinal: np.ndarray) -> np.ndarray:
    out = np.empty(len(lang), dtype=object)
    for code in LANGUAGES:
        mask = lang == code
        country, prefixes, digits = PHONE_PLANS[code]
        # an odd multiplier coprime with 10 makes ordinal -> subscriber number a bijection
        subscriber = (ordinal[mask] * 7_919 + 1_234_567) % 10**digits
        prefix = np.asarray(prefixes, dtype=object)[rng.integers(0, len(prefixes), int(mask.sum()))]
        out[mask] = country + prefix + np.char.zfill(subscriber.astype(str), digits).astype(object)
    return out


def make_people(
    rng: np.random.Generator, lang: np.ndarray, gender: np.ndarray, ordinal: np.ndarray
) -> People:
    """Names, unique normalized e-mails and E.164 phones for people of given languages."""
    book = name_book()
    groups = [((c, g), (lang == c) & (gender == g)) for c in LANGUAGES for g in (0, 1)]
    first, first_ascii = _by_group(rng, groups, book.first, book.first_ascii)
    last, last_ascii = _by_group(rng, groups, book.last, book.last_ascii)
    by_lang = [(c, lang == c) for c in LANGUAGES]
    (city,) = _by_group(rng, by_lang, {c: np.array(CITIES[c], object) for c in LANGUAGES})
    (tz,) = _by_group(rng, by_lang, {c: np.array(TIMEZONES[c], object) for c in LANGUAGES})
    return People(
        first_name=first,
        last_name=last,
        email=_emails(rng, first_ascii, last_ascii, lang, ordinal),
        phone=_phones(rng, lang, ordinal),
        external_id=(ordinal + 100_001).astype(str).astype(object),
        city=city,
        timezone=tz,
    )


def uuids(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random RFC-4122-shaped ids (as browsers' analytics libraries make anonymous ids)."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = np.frombuffer(raw.tobytes().hex().encode(), dtype="S32")
    chars = np.frombuffer(hexed.tobytes(), dtype=np.uint8).reshape(n, 32)
    dashed = np.insert(chars, [8, 12, 16, 20], ord("-"), axis=1)
    return np.frombuffer(dashed.tobytes(), dtype="S36").astype(str).astype(object)
