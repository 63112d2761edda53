"""Send-time optimization: each contact's best local hour from past human opens and clicks,
with the workspace's pattern for contacts with little history (docs/sendtime.md)."""

from retenta.sendtime.model import BestHour, next_at_hour
from retenta.sendtime.service import best_hour, best_hours, workspace_histogram

__all__ = ["BestHour", "best_hour", "best_hours", "next_at_hour", "workspace_histogram"]
