"""The one small interface every channel implements, and how outcomes are classified.

A channel takes a batch of prepared messages and answers one :class:`SendResult` per
message, in order. It never raises for a message's failure: a refused recipient, a full
mailbox or a dropped connection is that message's result, marked *permanent* (do not retry;
a hard bounce) or *temporary* (retry later with backoff; a soft bounce).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeVar


class Outcome(StrEnum):
    SENT = "sent"  # the next hop accepted it
    TEMPORARY = "temporary"  # not accepted now; retry later
    PERMANENT = "permanent"  # refused for good; never retry this message


@dataclass(frozen=True, slots=True)
class SendResult:
    send_id: str
    outcome: Outcome
    reason: str = ""
    code: int | None = None  # the protocol's status (SMTP reply code, HTTP status)
    detail: str | None = None  # e.g. the RFC 3463 enhanced status code "5.1.1"
    remote_id: str | None = None  # the peer's id for the message, when it gives one

    @property
    def permanent(self) -> bool:
        return self.outcome is Outcome.PERMANENT

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SENT


M_contra = TypeVar("M_contra", contravariant=True)
M = TypeVar("M")
R = TypeVar("R", bound=SendResult)


async def send_concurrently(
    batch: Sequence[M], send_one: Callable[[M], Awaitable[R]], workers: int
) -> list[R]:
    """``send_one`` over ``batch`` with at most ``workers`` messages in flight (one per
    connection); the results in the batch's order. ``send_one`` never raises."""
    results: list[R | None] = [None] * len(batch)
    pending = iter(range(len(batch)))

    async def worker() -> None:
        for index in pending:
            results[index] = await send_one(batch[index])

    await asyncio.gather(*(worker() for _ in range(min(workers, len(batch)))))
    return [r for r in results if r is not None]


class Channel(Protocol[M_contra]):
    """``send(batch) -> results``: one result per message, same order; ``close`` at the end."""

    name: str

    async def send(self, batch: Sequence[M_contra]) -> list[SendResult]: ...

    async def close(self) -> None: ...
