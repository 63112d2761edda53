"""Language pick (properties) and the token-bucket rate limiter."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retenta.messaging.channels.ratelimit import RateLimiter
from retenta.messaging.i18n import match_language, parse_accept_language, pick_language

TAGS = st.sampled_from(["en", "en-GB", "uk", "uk-UA", "ru", "de", "de-AT", "pt-BR", "pl", "fr"])


@given(
    available=st.lists(TAGS, min_size=1, max_size=5, unique=True),
    contact=st.none() | TAGS,
    browser=st.lists(TAGS, max_size=3),
    default=st.none() | TAGS,
)
def test_pick_is_always_one_of_the_versions_and_follows_the_chain(
    available: list[str], contact: str | None, browser: list[str], default: str | None
) -> None:
    picked = pick_language(
        available, contact_language=contact, browser_languages=browser, workspace_default=default
    )
    assert picked in available
    first_served = next(
        (
            match_language(c, available)
            for c in (contact, *browser, default)
            if match_language(c, available)
        ),
        available[0],
    )
    assert picked == first_served


def test_pick_needs_a_version() -> None:
    with pytest.raises(ValueError, match="at least one language"):
        pick_language([], contact_language="en")


@given(st.text(max_size=200))
def test_accept_language_never_fails(header: str) -> None:
    assert len(parse_accept_language(header)) <= 10


def test_rate_limiter_holds_the_rate() -> None:
    async def run() -> float:
        limiter = RateLimiter(100, burst=1)
        started = time.perf_counter()
        await asyncio.gather(*(limiter.acquire() for _ in range(31)))
        return time.perf_counter() - started

    assert asyncio.run(run()) >= 0.27  # 30 waits of 10 ms after the first token


def test_unlimited_and_invalid_rates() -> None:
    async def run() -> None:
        limiter = RateLimiter(None)
        for _ in range(1000):
            await limiter.acquire()

    started = time.perf_counter()
    asyncio.run(run())
    assert time.perf_counter() - started < 1
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(0)
