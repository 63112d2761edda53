"""The campaigns services of one container (built once) and the checks made when a
campaign is scheduled; ``wire`` puts the runner in the server's lifecycle."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import Request

from retenta.campaigns import assign
from retenta.campaigns.definition import Campaign, parse
from retenta.campaigns.runner import CampaignRunner
from retenta.campaigns.store import CampaignRow, CampaignStore
from retenta.errors import ApiError
from retenta.messaging.outbox.model import SEND_CHANNELS
from retenta.segments import store as segment_store
from retenta.tenancy.deps import container

if TYPE_CHECKING:
    from retenta.app import Container
    from retenta.messaging.services import MessagingServices


@dataclass
class CampaignServices:
    store: CampaignStore
    runner: CampaignRunner
    messaging: MessagingServices

    async def schedule(self, workspace_id: str, campaign_id: str, body: Any) -> CampaignRow:
        """Check the campaign can go out, then move it from draft to scheduled."""
        row = self.store.get(workspace_id, campaign_id)
        campaign = row.campaign
        if isinstance(body, dict) and "schedule" in body:
            campaign = parse({**campaign.document(), "schedule": body["schedule"]})
            await self.store.update(workspace_id, campaign_id, campaign)
        self.check_sendable(workspace_id, campaign)
        return await self.store.transition(
            workspace_id,
            campaign_id,
            ("draft",),
            "scheduled",
            scheduled_at=start_time(campaign, datetime.now(UTC)),
        )

    def check_sendable(self, workspace_id: str, campaign: Campaign) -> None:
        """The segment exists; every variant has content on a channel; channels configured."""
        if campaign.audience == "segment":
            with self.store.db.read() as cur:
                seg = segment_store.get(cur, workspace_id, str(campaign.segment_id))
            if seg is None:
                raise ApiError(422, "unknown_segment", f"no segment {campaign.segment_id}",
                               field="segment_id")  # fmt: skip
        for index, message_id in enumerate(campaign.messages):
            field = "message_id" if campaign.message_id else f"variants[{index}]"
            self._check_message(workspace_id, message_id, campaign.channels, field)
        for index, channel in enumerate(campaign.channels):
            kinds = SEND_CHANNELS[channel]
            names = self.messaging.channel_settings.names
            if kinds and not any(names(workspace_id, kind) for kind in kinds):
                field = "channel" if len(campaign.channels) == 1 else f"cascade[{index}]"
                raise ApiError(422, "channel_not_configured",
                               f"the {channel} channel is not configured in this workspace",
                               field=field)  # fmt: skip

    def _check_message(
        self, workspace_id: str, message_id: str, channels: tuple[str, ...], field: str
    ) -> None:
        problems = []
        for channel in channels:
            try:
                self.messaging.content.resolve(workspace_id, message_id, channel)
                return
            except Exception as exc:  # unknown message, or no content for this channel
                problems.append(str(exc))
        reason = "; ".join(dict.fromkeys(problems)) or f"unknown message {message_id!r}"
        raise ApiError(422, "unknown_message", reason, field=field)


def start_time(campaign: Campaign, now: datetime) -> datetime:
    """When the audience is snapshotted: now, the ``at`` moment, or — for a local-time
    schedule on a date — the first moment that date's local time exists anywhere.

    >>> from datetime import timedelta
    >>> c = parse({"name": "x", "segment_id": "s", "message_id": "m",
    ...            "schedule": {"type": "local", "time": "10:00", "date": "2030-01-02"}})
    >>> start_time(c, datetime(2029, 1, 1, tzinfo=UTC)).isoformat()
    '2030-01-01T20:00:00+00:00'
    """
    schedule = campaign.schedule
    if schedule.type == "at" and schedule.at is not None:
        return max(now, schedule.at.astimezone(UTC))
    if schedule.type == "local" and schedule.date is not None and schedule.time is not None:
        return max(now, assign.earliest_local(schedule.time, schedule.date))
    return now


def for_container(c: Container) -> CampaignServices:
    existing: Any = getattr(c, "_campaigns", None)
    if existing is None:
        from retenta.messaging.services import for_container as messaging

        msg = messaging(c)
        existing = CampaignServices(CampaignStore(c.db), CampaignRunner(c.db, msg.ledger), msg)
        setattr(c, "_campaigns", existing)  # noqa: B010 - Container has no field for it
    assert isinstance(existing, CampaignServices)
    return existing


def wire(c: Container) -> None:
    """Run the campaign runner while the server runs."""
    if c.settings.background_workers:
        c.lifecycle.append(for_container(c).runner)


def services(request: Request) -> CampaignServices:
    return for_container(container(request))
