"""The read half of a real-time round (worker thread, read cursor): candidates, their
families, and every real-time segment's members among them, as Arrow tables.

Reading outside the writer is safe because each contact's commit is notified only after
COMMIT (the read sees it) and a contact committed again later is pending again: its next
round reads the newer data, so the last write for a contact is always from the latest read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from retenta.segments.membership import batch, diff, passes

CANDIDATES_OF_TOUCHED = (
    "WITH RECURSIVE up(contact_id) AS ("
    "   SELECT unnest($ids::BIGINT[])"
    "   UNION"
    "   SELECT c.merged_into FROM contacts c JOIN up ON c.id = up.contact_id"
    "   WHERE c.merged_into IS NOT NULL)"
    " SELECT contact_id FROM up"
    " UNION"
    " SELECT c.id FROM contacts c"
    " WHERE c.workspace_id = $ws AND c.merged_into IN (SELECT contact_id FROM up)"
)


@dataclass(frozen=True)
class RoundRead:
    candidates: pa.Table  # contact_id
    members: pa.Table  # segment_id, contact_id

    def candidate_ids(self) -> list[int]:
        return [int(c) for c in self.candidates.column(0).to_pylist()]


def read_round(
    cur: Any,
    workspace_id: str,
    contact_ids: Sequence[int],
    queries: Sequence[tuple[str, str]],
    merged: str | None,
) -> RoundRead:
    """The touched contacts' candidates (merge relatives included) and each segment's members
    among them (the queries confined to the candidates' families, scope.py)."""
    cur.complete()
    params = {"ids": list(contact_ids), "ws": workspace_id}
    candidates = cur.sql(CANDIDATES_OF_TOUCHED, params=params).to_arrow_table()
    passes.register(cur, diff.CANDIDATES, candidates)
    try:
        family = cur.sql(passes.FAMILY_OF_CANDIDATES, params={"ws": workspace_id})
        passes.register(cur, diff.FAMILY, family.to_arrow_table())
        try:
            members = cur.sql(batch.members_select(queries, merged)).to_arrow_table()
        finally:
            cur.unregister(diff.FAMILY)
    finally:
        cur.unregister(diff.CANDIDATES)
    return RoundRead(candidates, members)
