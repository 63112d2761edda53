"""Create (or reuse) a demo data directory: workspace, keys, an admin user and the store.

The secrets of a demo are kept in ``DIR/demo.json`` (mode 0600) so that re-running
``retenta demo`` on the same directory can print them again; keys themselves are stored
hashed in the database like any other key.
"""

from __future__ import annotations

import json
import secrets
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from retenta.app import build_container
from retenta.demo.generate import GenerationReport, Progress, generate_store
from retenta.settings import Settings

DEMO_FILE = "demo.json"
DEMO_EMAIL = "demo@retenta.local"
WORKSPACE_NAME = "Demo store"


class DemoError(Exception):
    """The data directory cannot be used for a demo as asked (the message says why)."""


@dataclass
class DemoInfo:
    workspace_id: str
    write_key: str
    api_key: str
    email: str
    password: str
    contacts: int
    seed: int
    generated: bool = False
    generated_at: str | None = None
    seconds: float | None = None
    rows: dict[str, int] | None = None

    def save(self, data: Path) -> None:
        path = data / DEMO_FILE
        path.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        path.chmod(0o600)

    @classmethod
    def load(cls, data: Path) -> DemoInfo | None:
        path = data / DEMO_FILE
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def reset_dir(data: Path) -> None:
    """Delete a demo directory; refuses anything that is not one (or empty)."""
    if not data.exists():
        return
    if not (data / DEMO_FILE).exists() and any(data.iterdir()):
        raise DemoError(f"{data} is not a demo directory (no {DEMO_FILE}); refusing to delete it")
    shutil.rmtree(data)


def _create_tenancy(settings: Settings, contacts: int, seed: int) -> DemoInfo:
    container = build_container(settings)
    try:
        ws = container.tenancy.create_workspace(name=WORKSPACE_NAME)
        write = container.tenancy.issue_key(workspace_id=ws, kind="write", name="demo")
        api = container.tenancy.issue_key(workspace_id=ws, kind="api", name="demo")
        password = secrets.token_urlsafe(12)
        container.tenancy.create_user(
            workspace_id=ws, email=DEMO_EMAIL, password=password, role="admin"
        )
    finally:
        container.close()
    return DemoInfo(ws, write.secret, api.secret, DEMO_EMAIL, password, contacts, seed)


def _generate(
    settings: Settings, info: DemoInfo, days: int, progress: Progress | None
) -> GenerationReport:
    container = build_container(settings)
    try:
        return generate_store(
            container.db,
            info.workspace_id,
            contacts=info.contacts,
            seed=info.seed,
            days=days,
            progress=progress,
        )
    finally:
        container.close()


def _add_segments(settings: Settings, info: DemoInfo) -> None:
    """Example segments (demo/segments.py), so the segment pages have content."""
    from retenta.demo.segments import add_demo_segments

    container = build_container(settings)
    try:
        add_demo_segments(container, info.workspace_id)
    finally:
        container.close()


def _add_content(settings: Settings, info: DemoInfo) -> None:
    """Default blocks and example messages (messaging/content/seed.py) for the editor."""
    import asyncio

    from retenta.messaging.content import for_database
    from retenta.messaging.content.seed import seed_content

    container = build_container(settings)
    try:
        asyncio.run(seed_content(for_database(container.db), info.workspace_id))
    finally:
        container.close()


def _add_refused(settings: Settings, info: DemoInfo) -> None:
    """A few events the API refused (demo/refused.py), kept as its dead letters."""
    from retenta.demo.refused import refused_letters
    from retenta.ingest.deadletters import insert_dead_letters

    letters = refused_letters(info.workspace_id, datetime.now(UTC))
    container = build_container(settings)
    try:
        container.db.write(lambda conn: insert_dead_letters(conn, letters))
    finally:
        container.close()


def prepare_demo(
    data: Path,
    *,
    contacts: int = 20_000,
    seed: int = 42,
    days: int = 365,
    reset: bool = False,
    progress: Progress | None = None,
) -> DemoInfo:
    """A ready demo directory: reused when already generated, created otherwise."""
    if reset:
        reset_dir(data)
    info = DemoInfo.load(data)
    if info is not None and info.generated:
        return info
    if info is not None:
        raise DemoError(
            f"{data} holds an unfinished demo (generation was interrupted); run again with --reset"
        )
    if data.exists() and any(data.iterdir()):
        raise DemoError(f"{data} is not empty and is not a demo directory; choose another --data")
    data.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=data, background_workers=False)
    info = _create_tenancy(settings, contacts, seed)
    info.save(data)
    report = _generate(settings, info, days, progress)
    _add_segments(settings, info)
    _add_content(settings, info)
    _add_refused(settings, info)
    info.generated, info.generated_at = True, datetime.now(UTC).isoformat()
    info.seconds, info.rows = round(report.seconds, 2), report.rows
    info.save(data)
    return info
