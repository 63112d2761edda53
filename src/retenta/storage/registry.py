"""Backends by ``type`` name; a third-party backend registers the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from retenta.storage.base import Database

if TYPE_CHECKING:
    from retenta.settings import Settings

BACKENDS: dict[str, Callable[[Settings], Database]] = {}


def register(
    type_name: str,
) -> Callable[[Callable[[Settings], Database]], Callable[[Settings], Database]]:
    def deco(factory: Callable[[Settings], Database]) -> Callable[[Settings], Database]:
        BACKENDS[type_name] = factory
        return factory

    return deco


@register("duckdb")
def _duckdb(settings: Settings) -> Database:
    from retenta.storage.duckdb.engine import DuckDatabase

    cfg = settings.storage
    return DuckDatabase(
        settings.data_dir / "retenta.duckdb",
        memory_limit=cfg.memory_limit,
        threads=cfg.threads,
        checkpoint_threshold=cfg.checkpoint_threshold,
        memory_budget=cfg.memory_budget,
    )


def open_database(settings: Settings) -> Database:
    return BACKENDS[settings.storage.type](settings)
