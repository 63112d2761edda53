"""A contacts chunk's plan made in a worker process, beside the writer and off its GIL.

The plan (``fresh_contacts.plan``: identifier normalization, key hashes, the new contacts'
JSON) is pure Python work on the chunk alone, about a third of a contacts import's CPU. In
a thread beside the writer it still took turns with the writer's Python for the one GIL, so
the import used ~1.3 of two cores. A worker process plans chunk N+1 while the writer writes
chunk N. It is spawned on the first contacts chunk and dies with the server
(``core.workers.die_with_parent``); a worker that dies, or a chunk that will not ship, is
planned here instead, and the next chunk starts another worker. ``workers=0`` plans in
process.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import pickle
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from retenta.core.workers import die_with_parent
from retenta.identity.normalize import Normalizer
from retenta.identity.profile import Policies
from retenta.identity.rules import RuleSettings
from retenta.imports.fresh_contacts import MIN_ROWS, Plan, PlanRules, plan
from retenta.imports.loaders import LoadContext, import_message_id, import_message_ids

if TYPE_CHECKING:
    from datetime import datetime

    from retenta.settings import IdentitySettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rules:
    """What a plan reads of identity (``fresh_contacts.PlanRules``), built from its settings
    in the worker as ``IdentityService`` builds it."""

    settings: IdentitySettings
    normalizer: Normalizer
    policies: Policies
    rule_settings: RuleSettings

    @classmethod
    def of(cls, settings: IdentitySettings) -> Rules:
        policies = Policies(
            dict(settings.field_policies),
            settings.default_field_policy,
            tuple(settings.source_priority),
        )
        return cls(settings, Normalizer(settings), policies, RuleSettings.from_settings(settings))


@dataclass(frozen=True)
class Stamp:
    """What a plan reads of the job (``fresh_contacts.ChunkStamp``), without its services."""

    workspace_id: str
    file_sha256: str
    at: datetime

    def message_id(self, row: int, suffix: str = "") -> str:
        return import_message_id(self.file_sha256, row, suffix)

    def message_ids(self, rows: pa.Array) -> pa.Array:
        return import_message_ids(self.file_sha256, rows)


# ---------------------------------------------------------------- in the worker

_RULES: dict[str, Rules] = {}


def _plan_in_worker(
    settings: IdentitySettings, stamp: Stamp, table: pa.Table, traits: frozenset[str]
) -> Plan | None:
    key = settings.model_dump_json()
    rules = _RULES.get(key)
    if rules is None:
        _RULES.clear()
        rules = _RULES[key] = Rules.of(settings)
    return plan(rules, table, stamp, traits)


# ---------------------------------------------------------------- in the importer


class PlanWorkers:
    """Plans contacts chunks in one worker process (``workers=0``: in the caller's thread)."""

    def __init__(self, workers: int | None = None) -> None:
        self.size = (1 if (os.cpu_count() or 1) >= 2 else 0) if workers is None else workers
        if self.size not in (0, 1):
            raise ValueError("import plan workers must be 0 (in process) or 1")
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self.fallbacks = 0  # chunks planned here because the worker died or would not take them

    def plan(
        self, svc: PlanRules, table: pa.Table, ctx: LoadContext, traits: frozenset[str]
    ) -> Plan | None:
        """``fresh_contacts.plan`` of the chunk, made in the worker when there is one."""
        if self.size == 0 or table.num_rows < MIN_ROWS:  # the plan refuses a small chunk
            return plan(svc, table, ctx, traits)
        stamp = Stamp(ctx.workspace_id, ctx.file_sha256, ctx.at)
        try:
            future = self._start().submit(_plan_in_worker, svc.settings, stamp, table, traits)
            return future.result()
        except (BrokenProcessPool, pickle.PicklingError, OSError) as exc:
            log.warning("import plan worker failed (%s); planning in process", exc)
            self.fallbacks += 1
            self._forget()
            return plan(svc, table, ctx, traits)

    def close(self) -> None:
        """Stop the worker (another starts on the next chunk)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def _start(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    1, mp_context=mp.get_context("spawn"),
                    initializer=die_with_parent, initargs=(os.getpid(),),
                )  # fmt: skip
            return self._executor

    def _forget(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
