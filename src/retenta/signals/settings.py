"""A workspace's signal thresholds: defaults here, overrides in ``signal_settings``."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field


class SignalSettings(BaseModel):
    """Every threshold the signal passes use, in days unless named otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    view_days: int = Field(default=14, ge=1, le=365, description="a view this recent counts")
    min_drop_percent: float = Field(default=0.0, ge=0, le=100, description="smaller drops: no")
    replenish_lead_days: float = Field(default=3, ge=0, le=90, description="remind this early")
    min_interval_days: float = Field(default=3, ge=0, le=365, description="shorter: not a habit")
    catch_up_days: float = Field(default=14, ge=1, le=365, description="a due signal stays due")
    winback_grace_days: float = Field(default=7, ge=0, le=365, description="late by at least")
    population_min_buyers: int = Field(default=5, ge=1, le=100_000)
    nbo_after_days: float = Field(default=14, ge=1, le=365, description="after the last order")
    bestseller_days: int = Field(default=90, ge=1, le=3650)
    daily_hour_utc: int = Field(default=6, ge=0, le=23, description="the daily pass runs after")


def load_settings(cur: Any, workspace_id: str) -> SignalSettings:
    row = cur.execute(
        "SELECT settings FROM signal_settings WHERE workspace_id = ?", [workspace_id]
    ).fetchone()
    return SignalSettings.model_validate(orjson.loads(row[0]) if row else {})


def save_settings(conn: Any, workspace_id: str, settings: SignalSettings, now: Any) -> None:
    """Writer-side: replace the workspace's overrides."""
    conn.execute(
        "INSERT OR REPLACE INTO signal_settings VALUES (?, ?, ?)",
        [workspace_id, settings.model_dump_json(), now],
    )
