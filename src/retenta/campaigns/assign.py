"""Pure: who of the audience gets which variant, who is held out, and when each send is due.

Every draw is a hash, never a random number, so a restarted campaign assigns everybody the
same way: ``draw(salt, contact)`` is SHA-256 of ``salt:contact`` read as a number in [0, 1).

- The **global control group** of a workspace is ``draw("gc:" + workspace, contact) <
  pct/100``: the same contacts in every campaign (and growing the share only adds people).
- Inside a campaign one draw ``u = draw(campaign, contact)`` decides the rest: ``u < h`` is
  the campaign's holdout; above it ``v = (u - h) / (1 - h)`` is uniform again, and an A/B
  test sends variant ``floor(v / s * k)`` to ``v < s`` (the sample share ``s`` split evenly
  over ``k`` variants); the others wait for the winner.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

SEND = "send"  # no A/B test: gets the one message
TEST = "test"  # in the A/B sample: gets its variant now
REST = "rest"  # waits for the A/B winner
HOLDOUT = "holdout"  # the campaign's holdout: never sent
CONTROL = "control"  # the workspace's global control group: never sent promo


def draw(salt: str, contact_id: int) -> float:
    """A stable uniform number in [0, 1) for (salt, contact).

    >>> draw("cmp_1", 7) == draw("cmp_1", 7) != draw("cmp_2", 7)
    True
    >>> 0 <= draw("x", 1) < 1
    True
    """
    digest = hashlib.sha256(f"{salt}:{contact_id}".encode()).digest()
    return int.from_bytes(digest[:7], "big") / float(1 << 56)


def in_global_control(workspace_id: str, contact_id: int, pct: float) -> bool:
    """Whether the contact is in the workspace's global control group (``pct`` percent).

    >>> in_global_control("ws", 1, 0), in_global_control("ws", 1, 100)
    (False, True)
    """
    return draw(f"gc:{workspace_id}", contact_id) < pct / 100


@dataclass(frozen=True, slots=True)
class Plan:
    """How a campaign splits its audience (shares in percent)."""

    campaign_id: str
    variants: int
    holdout_pct: float = 0.0
    sample_pct: float | None = None  # None: no A/B test


def assign(plan: Plan, contact_id: int) -> tuple[str, int | None]:
    """``(group, variant)`` of one (non-control) contact.

    >>> assign(Plan("c", 1), 5)
    ('send', 0)
    >>> assign(Plan("c", 1, holdout_pct=99.999999), 5)
    ('holdout', None)
    >>> assign(Plan("c", 2, sample_pct=100), 5)[0]
    'test'
    """
    u = draw(plan.campaign_id, contact_id)
    h = plan.holdout_pct / 100
    if u < h:
        return HOLDOUT, None
    if plan.sample_pct is None:
        return SEND, 0
    v = (u - h) / (1 - h)
    s = plan.sample_pct / 100
    if v < s:
        return TEST, min(int(v / s * plan.variants), plan.variants - 1)
    return REST, None


def send_id_for(campaign_id: str, contact_id: int) -> str:
    """The one send id of a recipient (``snd_c`` + 31 hex, fits a VERP address).

    >>> send_id_for("cmp_1", 1) == send_id_for("cmp_1", 1) != send_id_for("cmp_1", 2)
    True
    """
    return "snd_c" + hashlib.sha256(f"{campaign_id}\x1f{contact_id}".encode()).hexdigest()[:31]


def zone(name: str | None, fallback: str) -> str:
    """A usable IANA zone name: the contact's, else the fallback.

    >>> zone("Europe/Kyiv", "UTC"), zone("Mars/Base", "UTC"), zone(None, "Asia/Tokyo")
    ('Europe/Kyiv', 'UTC', 'Asia/Tokyo')
    """
    if name:
        try:
            ZoneInfo(name)
            return name
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return fallback


def local_moment(start: datetime, at: time, day: date | None, zone_name: str) -> datetime:
    """The UTC moment of ``at`` local time in the zone: on ``day`` if given, else the next
    one at or after ``start``; a moment already past on ``day`` moves to the next day.

    >>> start = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
    >>> local_moment(start, time(10), None, "Europe/Kyiv").isoformat()
    '2026-06-01T07:00:00+00:00'
    >>> local_moment(start, time(10), None, "America/New_York").isoformat()
    '2026-06-01T14:00:00+00:00'
    >>> local_moment(datetime(2026, 6, 1, 8, tzinfo=UTC), time(10), None, "Europe/Kyiv").day
    2
    """
    tz = ZoneInfo(zone_name)
    local_day = day or start.astimezone(tz).date()
    moment = datetime.combine(local_day, at, tzinfo=tz)
    while moment.astimezone(UTC) < start:
        local_day += timedelta(days=1)
        moment = datetime.combine(local_day, at, tzinfo=tz)
    return moment.astimezone(UTC)


def earliest_local(at: time, day: date) -> datetime:
    """The first moment anywhere that is ``at`` on ``day`` (UTC+14, Kiribati).

    >>> earliest_local(time(10), date(2026, 12, 1)).isoformat()
    '2026-11-30T20:00:00+00:00'
    """
    return datetime.combine(day, at, tzinfo=ZoneInfo("Etc/GMT-14")).astimezone(UTC)


def spread(due: Sequence[datetime], per_second: float | None) -> list[datetime]:
    """Due times pushed later so that at most ``per_second`` fall in any second, in order
    of due time (a leaky bucket): ``s[i] = max(due[i], s[i-1] + 1/rate)``.

    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> [s.second + s.microsecond / 1e6 for s in spread([t, t, t], 2)]
    [0.0, 0.5, 1.0]
    >>> spread([t], None) == [t]
    True
    """
    if per_second is None or not due:
        return list(due)
    step_us = round(1_000_000 / per_second)
    base = np.array([int(d.timestamp() * 1_000_000) for d in due], dtype=np.int64)
    order = np.argsort(base, kind="stable")
    index = np.arange(len(base), dtype=np.int64) * step_us
    spaced = index + np.maximum.accumulate(base[order] - index)
    out = np.empty_like(spaced)
    out[order] = spaced
    return [datetime.fromtimestamp(int(us) / 1_000_000, tz=UTC) for us in out]


def due_times(
    start: datetime,
    zones: Iterable[str],
    *,
    local: tuple[time, date | None] | None,
) -> dict[str, datetime]:
    """The due moment per zone: ``start`` everywhere, or the local time in each zone."""
    return {z: start if local is None else local_moment(start, local[0], local[1], z)
            for z in set(zones)}  # fmt: skip


def provider_of(email: str | None, domains: dict[str, int]) -> int | None:
    """The throttle rule an address falls under (by its domain, lower case).

    >>> provider_of("Olena@GMail.com", {"gmail.com": 0}), provider_of("a@b.c", {})
    (0, None)
    """
    if not email or "@" not in email:
        return None
    return domains.get(email.rsplit("@", 1)[1].lower())


def spread_by_provider(
    due: Sequence[datetime],
    providers: Sequence[int | None],
    rates: Sequence[float],
    per_second: float | None,
) -> list[datetime]:
    """Due times under an overall rate AND a rate per mailbox provider.

    ``providers[i]`` indexes ``rates`` (None: no provider limit). Work-conserving: each
    overall slot goes to the provider whose next send is ready first (a heap of each
    provider's queue head), so a slow provider never holds up the others; within a provider
    sends keep their due order.

    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> out = spread_by_provider([t] * 4, [0, 0, None, None], [1.0], 10)
    >>> [round((s - t).total_seconds(), 2) for s in out]
    [0.0, 1.0, 0.1, 0.2]
    """
    if not due:
        return []
    step = None if per_second is None else round(1_000_000 / per_second)
    gaps = [round(1_000_000 / r) for r in rates]
    base = [int(d.timestamp() * 1_000_000) for d in due]
    queues: dict[int | None, list[int]] = {}
    for i in sorted(range(len(due)), key=lambda i: (base[i], i)):
        queues.setdefault(providers[i], []).append(i)
    heads = {p: 0 for p in queues}
    ready = {p: -(1 << 62) for p in queues}  # the provider's next free moment
    heap = [(base[q[0]], q[0], p) for p, q in queues.items()]
    heapq.heapify(heap)
    out = [0] * len(due)
    overall = -(1 << 62)
    while heap:
        candidate, i, p = heapq.heappop(heap)
        at = max(candidate, overall)
        out[i] = at
        if step is not None:
            overall = at + step
        if p is not None:
            ready[p] = at + gaps[p]
        heads[p] += 1
        if heads[p] < len(queues[p]):
            nxt = queues[p][heads[p]]
            heapq.heappush(heap, (max(base[nxt], ready[p]), nxt, p))
    return [datetime.fromtimestamp(us / 1_000_000, tz=UTC) for us in out]
