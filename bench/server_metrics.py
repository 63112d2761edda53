"""What a running ``retenta serve`` says about its writer (``GET /metrics``), as totals a
benchmark subtracts around a run: where the server's time went while it was measured."""

from __future__ import annotations

from dataclasses import dataclass, fields

import httpx
from prometheus_client.parser import text_string_to_metric_families

GAUGES = frozenset({"lead_events"})


@dataclass(frozen=True)
class WriterTotals:
    units: float = 0.0  # committed units of work (ingestion's, compaction's, others')
    unit_s: float = 0.0  # their time in the writer, BEGIN to the end of COMMIT
    commit_s: float = 0.0
    light_checkpoints: float = 0.0
    light_checkpoint_s: float = 0.0
    full_checkpoints: float = 0.0
    full_checkpoint_s: float = 0.0
    compaction_steps: float = 0.0
    compaction_s: float = 0.0
    ingest_units: float = 0.0
    lead_events: float = 0.0  # a gauge: the intake journal's lead now (not subtracted)

    def __sub__(self, other: WriterTotals) -> WriterTotals:
        return WriterTotals(
            **{
                f.name: getattr(self, f.name) - (0 if f.name in GAUGES else getattr(other, f.name))
                for f in fields(self)
            }
        )

    def summary(self, seconds: float) -> str:
        """One line: the writer's busy share and what filled it over ``seconds``."""
        busy = self.unit_s + self.light_checkpoint_s + self.full_checkpoint_s
        mean = self.unit_s / self.units * 1000 if self.units else 0.0
        return (
            f"writer busy {busy / seconds:.0%}: {self.units:.0f} units (mean {mean:.1f} ms,"
            f" COMMIT {self.commit_s:.2f} s; ingestion {self.ingest_units:.0f}, compaction"
            f" {self.compaction_steps:.0f} steps {self.compaction_s:.2f} s); checkpoints light"
            f" {self.light_checkpoints:.0f} ({self.light_checkpoint_s:.2f} s), full"
            f" {self.full_checkpoints:.0f} ({self.full_checkpoint_s:.2f} s)"
            + (
                f"; the journal's lead {self.lead_events:,.0f} at the end"
                if self.lead_events
                else ""
            )
        )


def writer_totals(url: str) -> WriterTotals:
    """The server's totals now (it must answer this machine: no token needed)."""
    text = httpx.get(f"{url}/metrics", timeout=30).raise_for_status().text
    got: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            kind = s.labels.get("kind")
            if s.name == "retenta_storage_writer_unit_duration_seconds_count":
                got["units"] = s.value
            elif s.name == "retenta_storage_writer_unit_duration_seconds_sum":
                got["unit_s"] = s.value
            elif s.name == "retenta_storage_commit_seconds_total":
                got["commit_s"] = s.value
            elif s.name == "retenta_storage_checkpoint_duration_seconds_count" and kind:
                got[f"{kind}_checkpoints"] = s.value
            elif s.name == "retenta_storage_checkpoint_duration_seconds_sum" and kind:
                got[f"{kind}_checkpoint_s"] = s.value
            elif s.name == "retenta_compaction_steps_total":
                got["compaction_steps"] = got.get("compaction_steps", 0.0) + s.value
            elif s.name == "retenta_compaction_seconds_total":
                got["compaction_s"] = got.get("compaction_s", 0.0) + s.value
            elif s.name == "retenta_ingest_units_total":
                got["ingest_units"] = s.value
            elif s.name == "retenta_ingest_journal_lead_events":
                got["lead_events"] = s.value
    return WriterTotals(**got)
