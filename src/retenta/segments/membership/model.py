"""The values the membership engine hands out, and the shapes of what it is given."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

Kind = Literal["entered", "exited"]
Cause = Literal["event", "expiry", "refresh", "definition"]


@dataclass(frozen=True)
class MembershipEvent:
    """A contact entered or left a segment (journeys start from these)."""

    workspace_id: str
    segment_id: str
    contact_id: int
    kind: Kind
    at: datetime
    cause: Cause


@dataclass(frozen=True)
class RefreshResult:
    size: int
    entered: int
    exited: int
    elapsed_ms: float


@dataclass(frozen=True)
class DriftReport:
    """One periodic full recompute compared with the incremental state."""

    workspace_id: str
    segment_id: str
    checked_at: datetime
    size: int
    expired: int  # changes explained by time passing, applied with cause "expiry"
    drift: int  # changes nothing explained, repaired with cause "refresh"; must be 0
    sample: tuple[int, ...] = field(default=())


@dataclass(frozen=True)
class SegmentSpec:
    """What the engine needs of a stored segment (``segments`` table, SERVICE's)."""

    workspace_id: str
    segment_id: str
    kind: str
    revision: int
    realtime: bool
    definition: Mapping[str, Any] | None = None
    sql: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


class Compiled(Protocol):
    @property
    def sql(self) -> str: ...


# ``retenta.segments.compiler.compile_segment``: ``(definition, *, workspace_id, dialect,
# params, now, resolve_segment, candidates, rfm_config, event_facts) -> Compiled`` (tests
# pass a stand-in).
CompileFn = Callable[..., Compiled]


class SqlSegmentFn(Protocol):
    """Turns a SQL-template segment into a member query (VIEWS' ``sqlsegments``)."""

    def __call__(
        self, cur: Any, spec: SegmentSpec, *, now: datetime, candidates: str | None
    ) -> str: ...


Subscriber = Callable[[Sequence[MembershipEvent]], None]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)
