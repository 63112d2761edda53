"""Every leaf type runs in a real-time round: the member query confined to the candidates'
families (scope.py) gives the same members as the full query. A consent condition once
failed here only (the confined consents lost the ``rowid`` the view orders by)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.segments.compiler import compile_segment
from retenta.segments.membership import diff
from retenta.segments.membership.model import SegmentSpec
from retenta.segments.membership.source import MemberQueries
from tests.conftest import Workspace

LAST_30_DAYS = {"kind": "last", "amount": 30, "unit": "days"}
LEAVES: dict[str, dict[str, Any]] = {
    "attribute": {"type": "attribute", "field": "city", "value_type": "text", "op": "equals",
                  "value": "Kyiv"},
    "event": {"type": "event", "event": "Product Viewed", "window": LAST_30_DAYS,
              "compare": {"op": "gte", "value": 2}},
    "event_per": {"type": "event", "event": "Product Viewed", "per": "product_id",
                  "compare": {"op": "gte", "value": 2}},
    "order": {"type": "order", "window": LAST_30_DAYS},
    "purchase": {"type": "purchase", "where": [{"property": "category", "op": "equals",
                                                "value": "Shoes"}]},
    "message": {"type": "message", "status": "opened", "channel": "email"},
    "consent": {"type": "consent", "channel": "email", "status": "subscribed"},
    "trait": {"type": "trait", "trait": "last_activity_at", "op": "in_last",
              "value": 7, "unit": "days"},
    "not_event": {"type": "not", "condition": {"type": "event", "event": "Product Viewed"}},
}  # fmt: skip


NON_EMPTY = {"attribute", "event", "event_per", "consent", "trait", "not_event"}


def _members(cur: Any, sql: str) -> set[int]:
    return {int(r[0]) for r in cur.execute(f"SELECT contact_id FROM ({sql})").fetchall()}


@pytest.mark.parametrize("name", sorted(LEAVES))
def test_a_confined_round_query_agrees_with_the_full_query(
    name: str, client: TestClient, container: Container, ws: Workspace, people: dict[str, int]
) -> None:
    subscriber = next(iter(people.values()))
    consent = {"channel": "email", "status": "subscribed", "source": "form"}
    resp = client.post(
        f"/api/v1/contacts/{subscriber}/consents", json=consent, headers=ws.api_headers
    )
    assert resp.status_code in (200, 201), resp.text
    definition = {"version": 1, "root": LEAVES[name]}
    spec = SegmentSpec(ws.id, "seg_x", "rules", 1, True, definition)
    now = datetime.now(UTC)
    queries = MemberQueries(compile_segment)
    with container.db.read() as cur:
        full = _members(cur, queries.sql(cur, spec, now=now))
        ids = [r[0] for r in cur.execute("SELECT id FROM contacts").fetchall()]
        cur.register(diff.CANDIDATES, pa.table({"contact_id": ids}))
        cur.register(diff.FAMILY, pa.table({"contact_id": ids}))
        try:
            confined = _members(
                cur, queries.scoped_sql(cur, spec, now=now, candidates=diff.CANDIDATES)
            )
        finally:
            cur.unregister(diff.FAMILY)
            cur.unregister(diff.CANDIDATES)
    assert confined == full
    if name in NON_EMPTY:
        assert full
