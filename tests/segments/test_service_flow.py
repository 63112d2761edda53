"""The flow report's SQL against a plain-Python reading of the same membership intervals,
for generated interval sets (hypothesis)."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retenta.app import Container
from retenta.segments.flow import NONE, end_of_day, flow_rows

DAY0 = date(2026, 9, 1)
SEGMENTS = ("seg_a", "seg_b", "seg_c")
Stay = tuple[int, str, datetime, datetime | None]


def at(hour: int) -> datetime:
    return datetime(2026, 9, 1, tzinfo=UTC) + timedelta(hours=hour)


@st.composite
def stays(draw: st.DrawFn) -> list[Stay]:
    """Per contact and segment, non-overlapping stays over ten days (the last may be open)."""
    out: list[Stay] = []
    for contact in range(1, draw(st.integers(1, 12)) + 1):
        for seg in SEGMENTS:
            cuts = sorted(set(draw(st.lists(st.integers(0, 240), max_size=6))))
            for i in range(0, len(cuts), 2):
                exited = at(cuts[i + 1]) if i + 1 < len(cuts) else None
                out.append((contact, seg, at(cuts[i]), exited))
    return out


def member(rows: list[Stay], contact: int, seg: str, t: datetime) -> bool:
    return any(c == contact and s == seg and e < t and (x is None or x >= t) for c, s, e, x in rows)


def reference(rows: list[Stay], ids: list[str], d1: date, d2: date) -> Counter[tuple[str, str]]:
    t1, t2 = end_of_day(d1), end_of_day(d2)
    out: Counter[tuple[str, str]] = Counter()
    for contact in sorted({r[0] for r in rows}):
        before = [s for s in ids if member(rows, contact, s, t1)]
        after = [s for s in ids if member(rows, contact, s, t2)]
        if not before and not after:
            continue
        for a in before or [NONE]:
            for b in after or [NONE]:
                out[(a, b)] += 1
    return out


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=stays(),
    ids=st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=3, unique=True),
    first=st.integers(0, 9),
    span=st.integers(0, 9),
)
def test_flow_matches_a_plain_reading_of_the_intervals(
    container: Container, rows: list[Stay], ids: list[str], first: int, span: int
) -> None:
    ws = f"ws_{uuid.uuid4().hex[:12]}"
    if rows:
        container.db.write(
            lambda c: c.executemany(
                "INSERT INTO segment_membership VALUES (?, ?, ?, ?, ?)",
                [[ws, s, cid, e, x] for cid, s, e, x in rows],
            )
        )
    d1 = DAY0 + timedelta(days=first)
    d2 = d1 + timedelta(days=span)
    with container.db.read() as cur:
        got = {(r["from"], r["to"]): r["count"] for r in flow_rows(cur, ws, ids, d1, d2)}
    assert got == dict(reference(rows, ids, d1, d2))
