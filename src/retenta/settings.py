"""Typed settings; every backend is chosen by a short ``type`` name (storage/registry.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class DuckDBStorageSettings(BaseModel):
    type: Literal["duckdb"] = "duckdb"
    memory_limit: str = "1GB"  # DuckDB's buffer pool at most
    # The RSS the server aims to stay within: DuckDB's pool gets what the rest of the process
    # (the identity map, the messageId fingerprints, Python) leaves of it, between half of
    # ``memory_limit`` and all of it (storage/duckdb/memory.py). ``off`` (or empty): the pool is
    # ``memory_limit`` always. Issue #2's bound is 1.5 GB at 1M contacts and 50M events; this
    # leaves ~100 MB of it for what a tick (2 s) can add.
    memory_budget: str | None = "1400MiB"
    threads: int = 2
    # DuckDB's default is 16 MiB. A compaction step of 10k rows writes ~6-10 MB of WAL, so at
    # 16 MiB the writer's post-ack checkpoint (at half of it) followed almost every step of a
    # drain, each rewriting the changed tables' ART indexes whole, and single events right
    # after the batch bench fell (docs/ingest.md, session 12: figures both ways). A crash
    # replays at most this much WAL at start-up. The writer checkpoints after a unit at an
    # eighth of it (16 MiB: storage/duckdb/engine.py, CHECKPOINT_SHARE); DuckDB's own, inside
    # a COMMIT, only past the whole (session 21).
    checkpoint_threshold: str | None = "128MiB"

    @field_validator("memory_budget")
    @classmethod
    def _budget_off(cls, value: str | None) -> str | None:
        return None if value is None or value.strip().lower() in ("", "off", "none") else value


class IdentitySettings(BaseModel):
    default_phone_region: str = "UA"
    blocked_values: list[str] = Field(
        default_factory=lambda: [
            "null",
            "undefined",
            "none",
            "nil",
            "0",
            "-1",
            "n/a",
            "na",
            "unknown",
            "test@test.com",
            "test@example.com",
            "email@example.com",
            "noemail@noemail.com",
            "[object object]",
            "anonymous",
            "guest",
        ]
    )
    max_per_type: dict[str, int] = Field(
        default_factory=lambda: {
            "external_id": 1,
            "email": 5,
            "phone": 5,
            "anonymous_id": 100,
            "push_token": 20,
        }
    )
    max_per_custom_type: int = 5
    # Trait/property keys whose values are identifiers of type `custom:<key>`.
    custom_identifier_traits: list[str] = Field(default_factory=list)
    # Identifier types allowed to link (merge) two contacts; external ids never merge two people.
    merge_on: list[str] = Field(
        default_factory=lambda: ["anonymous_id", "email", "phone", "push_token", "custom"]
    )
    # Device identifiers a newly logged-in person takes over instead of merging (shared device).
    device_types: list[str] = Field(default_factory=lambda: ["anonymous_id", "push_token"])
    # Attribute -> policy: latest | first | max | union | source_priority (default: latest).
    field_policies: dict[str, Literal["latest", "first", "max", "union", "source_priority"]] = (
        Field(default_factory=dict)
    )
    default_field_policy: Literal["latest", "first", "max", "union", "source_priority"] = "latest"
    # For the source_priority policy: earlier in the list wins.
    source_priority: list[str] = Field(default_factory=lambda: ["api", "import", "system", "demo"])
    # Track/page property keys that also update the profile (identify traits always do).
    property_attribute_keys: list[str] = Field(default_factory=list)
    cache_entries: int = 3_000_000  # ~130 bytes each (~400 MB): 1M contacts x 3 identifiers
    contact_id_block: int = 1000
    last_seen_flush_s: float = 2.0
    # Identities' last_seen is informational and its UPDATE costs ~5x the contacts' one: it
    # is written this often (or once IDENTITY_FLUSH_ROWS are pending); a crash loses at most
    # this much of it.
    identity_last_seen_flush_s: float = 60.0


class FeedbackSettings(BaseModel):
    """The inbound SMTP endpoint for bounces and complaint reports (off without a port)."""

    smtp_host: str = "0.0.0.0"  # noqa: S104 - an MX endpoint listens on every interface
    smtp_port: int | None = None
    addresses: list[str] = Field(default_factory=list)  # feedback-loop (ARF) mailboxes


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RETENTA_", env_nested_delimiter="__")

    data_dir: Path = Path("./data")
    storage: DuckDBStorageSettings = Field(default_factory=DuckDBStorageSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    feedback: FeedbackSettings = Field(default_factory=FeedbackSettings)
    secret_key: str | None = None
    # GET /metrics from other machines needs this bearer token; without it only a scraper on
    # this machine is answered (retenta/metrics/access.py)
    metrics_token: SecretStr | None = None
    ingest_max_event_bytes: int = 32 * 1024
    ingest_max_batch_bytes: int = 500 * 1024
    # Benchmark bound only: accept and validate events but store nothing.
    ingest_skip_storage: bool = False
    # commerce's apply batched behind the acknowledgement under load (ingest/deferred.py)
    ingest_defer_apply: bool = True
    # When a /v1 request is answered: "journal" (written and fdatasync'd to the intake
    # journal, stored and applied behind the answer; the management API waits for it) or
    # "commit" (after the COMMIT that stored it); ingest/journal.py, docs/ingest.md
    ingest_acknowledge: Literal["commit", "journal"] = "journal"
    background_workers: bool = True
    # Opt-in multi-process ingest front (docs/ingest.md): N worker processes serve /v1/* on
    # their own port (Segment's "api host"); this process stays the one writer. 0 = off.
    ingest_workers: int = 0
    ingest_host: str = "127.0.0.1"
    ingest_port: int | None = None  # None: a free port (tests)
    # Email compose pool (docs/campaigns.md): worker processes that render, track, build and
    # DKIM-sign a send's email, so the sender's process only does SMTP, the hand-over journal
    # and the writer. None: 1 on a machine of <= 2 cores, else cpu_count - 1; 0: in process.
    compose_workers: int | None = Field(default=None, ge=0)
