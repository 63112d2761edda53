"""Stored segment membership: full refresh with diff, real-time updates, expiry, drift.

``MembershipEngine`` (engine.py) is the API; ``build_membership(container)`` wires it to
the ingest pipeline's commit listeners. docs/segments-realtime.md explains the guarantees.
"""

from retenta.segments.membership.engine import MembershipEngine
from retenta.segments.membership.model import (
    DriftReport,
    MembershipEvent,
    RefreshResult,
    SegmentSpec,
)
from retenta.segments.membership.wiring import build_membership

__all__ = [
    "DriftReport",
    "MembershipEngine",
    "MembershipEvent",
    "RefreshResult",
    "SegmentSpec",
    "build_membership",
]
