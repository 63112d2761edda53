"""The audience snapshot: who a campaign goes to, fixed when it starts (in the writer).

The audience is a segment's current members (the stored membership when it reflects the
segment's current revision, else the definition evaluated on the spot), or every contact
with a current ``subscribed`` consent on the campaign's first channel. Erased and
merged-away contacts are left out. Each member gets a group, a variant and a due time
(``assign.py``). All of that is computed on a read cursor, so the single writer is held
only for the insert; the rows land in ``campaign_recipients`` in the same writer unit that
moves the campaign to ``sending``, so a campaign is either not started or fully snapshotted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from retenta import sendtime
from retenta.campaigns import assign
from retenta.campaigns.definition import Campaign
from retenta.campaigns.store import first, read_global_control_pct
from retenta.segments import evaluate, members
from retenta.segments import store as segment_store
from retenta.segments.views import with_views

RECIPIENTS = pa.schema(
    [
        ("workspace_id", pa.string()),
        ("campaign_id", pa.string()),
        ("contact_id", pa.int64()),
        ("grp", pa.string()),
        ("variant", pa.int32()),
        ("send_id", pa.string()),
        ("timezone", pa.string()),
        ("send_at", pa.timestamp("us", tz="UTC")),
    ]
)
LIVE = (
    "SELECT m.contact_id, c.timezone FROM ({members}) AS m JOIN contacts c"
    " ON c.workspace_id = $ws AND c.id = m.contact_id"
    " WHERE c.erased_at IS NULL AND c.merged_into IS NULL ORDER BY m.contact_id"
)
CONSENTED = (
    "SELECT contact_id FROM consents WHERE channel = 'CHANNEL' GROUP BY contact_id"
    " HAVING bool_or(status = 'subscribed')"
    " AND NOT bool_or(topic = '*' AND status = 'unsubscribed')"
)


class AudienceError(Exception):
    """The audience cannot be read (the segment is gone or its definition fails)."""


@dataclass(frozen=True, slots=True)
class Recipient:
    contact_id: int
    group: str
    variant: int | None
    timezone: str


def audience(cur: Any, workspace_id: str, campaign: Campaign, now: datetime
             ) -> list[tuple[int, str | None]]:  # fmt: skip
    """``[(contact_id, timezone)]`` of the campaign's audience, in contact id order."""
    if campaign.audience == "all_consented":
        sql, params = _consented_sql(workspace_id, campaign.channels[0]), {"ws": workspace_id}
    else:
        seg = segment_store.get(cur, workspace_id, str(campaign.segment_id))
        if seg is None:
            raise AudienceError(f"segment {campaign.segment_id} does not exist")
        if members.stored_is_current(cur, seg):
            sql, params = members.STORED_MEMBERS, {"ws": workspace_id, "seg": seg.id}
        else:
            try:
                sql = evaluate.members_sql(cur, evaluate.Draft.of(seg), now=now)
            except Exception as exc:  # a definition that no longer compiles
                raise AudienceError(f"segment {seg.id} cannot be evaluated: {exc}") from exc
            params = {"ws": workspace_id}
    rows = cur.execute(LIVE.format(members=sql), params).fetchall()
    return [(int(r[0]), r[1]) for r in rows]


def _consented_sql(workspace_id: str, channel: str) -> str:
    query = sqlglot.parse_one(CONSENTED, read="duckdb")
    assert isinstance(query, exp.Query)
    placeholder = query.find(exp.Literal)
    assert placeholder is not None
    placeholder.replace(exp.Literal.string(channel))  # an AST literal, never spliced
    return with_views(query, workspace_id, "duckdb").sql("duckdb")


def default_zone(cur: Any, workspace_id: str, campaign: Campaign) -> str:
    """The campaign's fallback zone, else the workspace's ``settings.timezone``, else UTC."""
    row = first(cur.execute("SELECT json_extract_string(settings, '$.timezone') FROM workspaces"
                      " WHERE id = ?", [workspace_id]))  # fmt: skip
    return assign.zone(campaign.schedule.fallback_timezone,
                       assign.zone(row[0] if row else None, "UTC"))  # fmt: skip


def split(
    campaign_id: str, workspace_id: str, campaign: Campaign, people: Sequence[tuple[int, str]],
    control_pct: float,
) -> list[Recipient]:  # fmt: skip
    """Each person's group and variant (``people``: contact and its usable zone)."""
    ab = campaign.ab_test
    plan = assign.Plan(campaign_id, len(campaign.messages), campaign.holdout_pct,
                       None if ab is None else ab.sample_pct)  # fmt: skip
    promo = campaign.category == "promo"
    out = []
    for contact_id, zone in people:
        if promo and assign.in_global_control(workspace_id, contact_id, control_pct):
            out.append(Recipient(contact_id, assign.CONTROL, None, zone))
            continue
        group, variant = assign.assign(plan, contact_id)
        out.append(Recipient(contact_id, group, variant, zone))
    return out


def emails(cur: Any, workspace_id: str, contact_ids: Sequence[int]) -> dict[int, str]:
    """One email address per contact (the smallest, when it has several)."""
    rows = cur.execute(
        "SELECT contact_id, min(value) FROM identities WHERE workspace_id = ? AND type = 'email'"
        " AND contact_id IN (SELECT unnest(?::BIGINT[])) GROUP BY contact_id",
        [workspace_id, list(contact_ids)],
    ).fetchall()
    return {int(r[0]): str(r[1]) for r in rows}


def pace(cur: Any, workspace_id: str, campaign: Campaign, contact_ids: Sequence[int],
         due: Sequence[datetime]) -> list[datetime]:  # fmt: skip
    """The due times under the campaign's throttle (overall, and per mailbox provider by
    the domain of each contact's email address)."""
    throttle = campaign.throttle
    if throttle is None:
        return list(due)
    if not throttle.per_provider:
        return assign.spread(due, throttle.per_second)
    found, domains = emails(cur, workspace_id, contact_ids), throttle.domains()
    providers = [assign.provider_of(found.get(c), domains) for c in contact_ids]
    rates = [rule.per_second for rule in throttle.per_provider]
    return assign.spread_by_provider(due, providers, rates, throttle.per_second)


def schedule_times(
    cur: Any, workspace_id: str, campaign: Campaign, start: datetime,
    recipients: Sequence[Recipient],
) -> list[datetime | None]:  # fmt: skip
    """The due time of each recipient sent now (``send``/``test``); None for the others."""
    local = None
    if campaign.schedule.type == "local":
        assert campaign.schedule.time is not None
        local = (campaign.schedule.time, campaign.schedule.date)
    sendable = [i for i, r in enumerate(recipients) if r.variant is not None]
    if campaign.schedule.send_time == "optimal":
        people = [(recipients[i].contact_id, recipients[i].timezone) for i in sendable]
        due = optimal_times(cur, workspace_id, start, people)
    else:
        by_zone = assign.due_times(start, {recipients[i].timezone for i in sendable},
                                   local=local)  # fmt: skip
        due = [by_zone[recipients[i].timezone] for i in sendable]
    spaced = pace(cur, workspace_id, campaign, [recipients[i].contact_id for i in sendable], due)
    out: list[datetime | None] = [None] * len(recipients)
    for i, at in zip(sendable, spaced, strict=True):
        out[i] = at
    return out


def optimal_times(cur: Any, workspace_id: str, start: datetime,
                  people: Sequence[tuple[int, str]]) -> list[datetime]:  # fmt: skip
    """Each ``(contact, zone)``'s next best local hour (send-time optimization) at or after
    ``start`` — so within 24 hours — in that zone; one batch read for all."""
    best = sendtime.best_hours(cur, workspace_id, [c for c, _ in people], now=start)
    moments: dict[tuple[int, str], datetime] = {}
    out = []
    for contact_id, zone in people:
        key = (best[contact_id].hour, zone)
        if key not in moments:
            moments[key] = sendtime.next_at_hour(start, *key)
        out.append(moments[key])
    return out


def prepare(cur: Any, workspace_id: str, campaign_id: str, campaign: Campaign,
            now: datetime) -> tuple[pa.Table, datetime | None]:  # fmt: skip
    """The snapshot's rows, computed on a read cursor (the writer only inserts them), and
    the last due time of the A/B test sample."""
    fallback = default_zone(cur, workspace_id, campaign)
    people = [(cid, assign.zone(tz, fallback)) for cid, tz in audience(cur, workspace_id,
                                                                       campaign, now)]  # fmt: skip
    control = read_global_control_pct(cur, workspace_id)
    recipients = split(campaign_id, workspace_id, campaign, people, control)
    due = schedule_times(cur, workspace_id, campaign, now, recipients)
    table = pa.table(
        {
            "workspace_id": [workspace_id] * len(recipients),
            "campaign_id": [campaign_id] * len(recipients),
            "contact_id": [r.contact_id for r in recipients],
            "grp": [r.group for r in recipients],
            "variant": [r.variant for r in recipients],
            "send_id": [assign.send_id_for(campaign_id, r.contact_id) for r in recipients],
            "timezone": [r.timezone for r in recipients],
            "send_at": due,
        },
        schema=RECIPIENTS,
    )
    tests = [d for d, r in zip(due, recipients, strict=True) if r.group == assign.TEST and d]
    return table, max(tests, default=None)


def insert(conn: Any, table: pa.Table) -> None:
    conn.register("_campaign_recipients", table)
    try:
        conn.execute(
            f"INSERT INTO campaign_recipients ({', '.join(RECIPIENTS.names)})"
            f" SELECT {', '.join(RECIPIENTS.names)} FROM _campaign_recipients"
        )
    finally:
        conn.unregister("_campaign_recipients")
