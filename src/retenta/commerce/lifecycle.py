"""The order status lifecycle: placed → paid → shipped → returned, or → cancelled."""

from __future__ import annotations

NEXT = {
    "placed": ("paid", "shipped", "cancelled"),
    "paid": ("shipped", "returned", "cancelled"),
    "shipped": ("returned",),
    "returned": (),
    "cancelled": (),
}
STATUSES = tuple(NEXT)


def reachable(old: str, new: str) -> bool:
    """Whether ``new`` can follow ``old`` (directly or through skipped steps).

    >>> reachable("placed", "returned"), reachable("shipped", "paid"), reachable("paid", "paid")
    (True, False, False)
    """
    frontier, seen = list(NEXT.get(old, ())), set()
    while frontier:
        status = frontier.pop()
        if status == new:
            return True
        if status not in seen:
            seen.add(status)
            frontier.extend(NEXT[status])
    return False


def transitions() -> list[str]:
    """Every allowed ``'old>new'`` pair, for SQL membership tests.

    >>> "paid>returned" in transitions(), "cancelled>paid" in transitions()
    (True, False)
    """
    return [f"{a}>{b}" for a in STATUSES for b in STATUSES if reachable(a, b)]


def transitions_sql(old: str, new: str) -> str:
    """An SQL predicate: the status expression ``new`` may follow ``old``.

    >>> transitions_sql("o.status", "s.status")[:39]
    "(o.status || '>' || s.status) IN ('plac"
    """
    pairs = ", ".join(f"'{t}'" for t in transitions())
    return f"({old} || '>' || {new}) IN ({pairs})"


def fold(old: str | None, targets: list[str]) -> tuple[str | None, list[int]]:
    """Apply status events in time order; returns the final status and the accepted indexes.

    An event that the lifecycle does not allow (a late "paid" after "shipped", anything after
    "cancelled") is ignored, so events can arrive twice or out of order.

    >>> fold("paid", ["shipped", "paid", "returned"])
    ('returned', [0, 2])
    >>> fold(None, ["cancelled", "paid"])
    ('cancelled', [0])
    >>> fold("placed", ["bogus"])
    ('placed', [])
    """
    status, accepted = old, []
    for i, target in enumerate(targets):
        allowed = target in NEXT and (status is None or reachable(status, target))
        if allowed:
            status = target
            accepted.append(i)
    return status, accepted
