"""Promo codes (pure): an unambiguous alphabet, a check character, generation, guessing odds.

The alphabet leaves out ``0 O 1 I L`` — the characters people misread or mistype — and
keeps 31 symbols. 31 is prime, so a check character computed as the position-weighted sum
mod 31 catches every single wrong character and every swap of two neighbours (weights
1…n differ mod 31 while the code is under 31 characters). The check character stops typos
at checkout; it does not stop guessing, because the algorithm is no secret: the odds of a
guess come from the random characters alone, ``pool size / 31**length`` per try.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
VALUE = {c: i for i, c in enumerate(ALPHABET)}
BASE = len(ALPHABET)  # 31, prime
MIN_LENGTH, MAX_LENGTH = 6, 20
PREFIX = re.compile(r"[A-Z0-9]{0,10}")
IMPORTED = re.compile(r"[A-Z0-9_-]{3,64}")
MAX_FILL = 1e-4  # a pool may hold at most this share of all codes of its length


def check_char(body: str) -> str:
    """The check character of ``body`` (alphabet characters only).

    >>> check_char("ABC234")
    'D'
    >>> check_char("ABC243") != check_char("ABC234")  # a swap is caught
    True
    """
    total = sum((i + 1) * VALUE[c] for i, c in enumerate(body))
    return ALPHABET[total % BASE]


def generate(length: int = 8, prefix: str = "") -> str:
    """``prefix`` + ``length`` random characters + the check character.

    >>> code = generate(8, "SPRING")
    >>> code.startswith("SPRING"), len(code), valid(code, prefix="SPRING")
    (True, 15, True)
    """
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise ValueError(f"length must be {MIN_LENGTH}-{MAX_LENGTH}")
    body = "".join(secrets.choice(ALPHABET) for _ in range(length))
    return prefix + body + check_char(body)


def valid(code: str, *, prefix: str = "") -> bool:
    """Is ``code`` well-formed (prefix, alphabet, check character)? Typos fail here.

    >>> code = "ABC234" + check_char("ABC234")
    >>> valid(code), valid("ABC243" + code[-1]), valid("ABD234" + code[-1])
    (True, False, False)
    """
    code = normalize(code)
    if not code.startswith(prefix):
        return False
    body, check = code[len(prefix) : -1], code[-1:]
    return bool(body) and all(c in VALUE for c in body + check) and check_char(body) == check


def normalize(code: str) -> str:
    """As typed at checkout → as stored: upper case, no spaces.

    >>> normalize(" spring-7k ")
    'SPRING-7K'
    """
    return re.sub(r"\s+", "", code).upper()


def guess_odds(pool_size: int, length: int) -> float:
    """The chance one random guess is a valid code of the pool: ``size / 31**length``.

    >>> f"{guess_odds(100_000, 8):.2e}"
    '1.17e-07'
    """
    return pool_size / float(BASE**length)


def capacity(length: int) -> int:
    """The most codes a pool of this length may hold (keeps guesses at ≤ 1 in 10,000).

    >>> capacity(6), capacity(8)
    (88750, 85289103)
    """
    return int(BASE**length * MAX_FILL)
