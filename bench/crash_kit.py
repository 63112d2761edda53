"""The crash drill of ``bench/bench_crash.py`` and ``tests/campaigns/test_crash_broadcast.py``.

1. :func:`prepare_store`: a data directory with N consented contacts, a segment, an email
   profile pointing at a :class:`~bench.broadcast_kit.CountingServer`, a stored message with
   the contact's product grid, a **scheduled** campaign to the segment, and a live journey
   (API entry → wait → send → exit).
2. :class:`Server`: ``retenta serve`` in a subprocess on that directory (the real server:
   campaign runner, journey runner, dispatcher); ``kill()`` is SIGKILL.
3. :class:`Feeder`: a thread that enters contacts into the journey over HTTP, each with its
   own Idempotency-Key, retrying until the server answers 202 (through the kills).
4. :func:`verify`: at the SMTP server, per recipient, the campaign's and the journey's
   messages (copies and distinct Message-IDs); in the database, every send settled and every
   accepted entry's run done.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx
from fastapi.testclient import TestClient

from bench.broadcast_kit import CountingServer, Setup, address, free_port, prepare
from retenta.app import build_container, create_app
from retenta.campaigns.service import for_container as campaigns
from retenta.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Drill:
    data_dir: Path
    setup: Setup
    journey_id: str
    size: int


def journey(message_id: str, wait_minutes: int) -> dict[str, Any]:
    return {
        "name": "Crash drill",
        "entry": {"trigger": {"type": "api"}, "rule": {"type": "every_time"}},
        "start": "wait",
        "nodes": [
            {"id": "wait", "type": "wait", "duration": {"amount": wait_minutes,
                                                         "unit": "minutes"}, "next": "send"},
            {"id": "send", "type": "send", "message_id": message_id, "next": "done"},
            {"id": "done", "type": "exit"},
        ],
    }  # fmt: skip


def prepare_store(data_dir: Path, *, size: int, smtp_port: int, wait_minutes: int) -> Drill:
    """The store, with the campaign scheduled (it starts when the server does)."""
    container = build_container(Settings(data_dir=data_dir, background_workers=False))
    try:
        client = TestClient(create_app(container))
        setup = prepare(container, client, size=size, smtp_port=smtp_port)
        answer = client.post("/api/v1/journeys", headers=setup.api_headers,
                             json=journey(setup.message_id, wait_minutes))  # fmt: skip
        assert answer.status_code == 201, answer.text
        journey_id = str(answer.json()["id"])
        answer = client.post(f"/api/v1/journeys/{journey_id}/activate",
                             headers=setup.api_headers)  # fmt: skip
        assert answer.status_code == 200, answer.text
        asyncio.run(campaigns(container).schedule(setup.workspace_id, setup.campaign_id, None))
    finally:
        container.close()
    return Drill(data_dir, setup, journey_id, size)


class Server:
    """``retenta serve`` on the drill's directory, in its own process."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir, self.log = data_dir, log
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 90.0) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "retenta.cli", "serve", "--data", str(self.data_dir),
                 "--port", str(self.port)],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=server_environment(),
            )  # fmt: skip
        self.starts += 1
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: see {self.log}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError("the server did not answer /healthz")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, no checkpoint."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def server_environment() -> dict[str, str]:
    """This environment, with byte code cached under one prefix: where
    PYTHONDONTWRITEBYTECODE is set, every restart would compile the whole app again
    (~10 s of a restart on a loaded machine)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.setdefault("PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / "retenta-pycache"))
    return env


@dataclass
class Feeder:
    """Enters ``numbers``' contacts into the journey, retrying each until it is accepted."""

    server: Server
    drill: Drill
    numbers: list[int]
    pause_s: float = 0.0
    accepted: dict[int, str] = field(default_factory=dict)  # number → run id
    retries: int = 0
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="feeder", daemon=True)
        self._thread.start()

    def join(self, timeout_s: float) -> None:
        assert self._thread is not None
        self._thread.join(timeout_s)

    def _run(self) -> None:
        url = f"{self.server.url}/api/v1/journeys/{self.drill.journey_id}/runs"
        with httpx.Client(timeout=5) as http:
            for number in self.numbers:
                self.accepted[number] = self._enter(http, url, number)
                time.sleep(self.pause_s)

    def _enter(self, http: httpx.Client, url: str, number: int) -> str:
        headers = {**self.drill.setup.api_headers, "Idempotency-Key": f"drill-{number}"}
        while True:
            try:
                answer = http.post(url, headers=headers, json={"email": address(number)})
                if answer.status_code == 202:
                    return str(answer.json()["run_id"])
            except httpx.HTTPError:
                pass  # killed meanwhile: the same key again after the restart
            self.retries += 1
            time.sleep(0.2)


def wait_until_quiet(smtp: CountingServer, expected: int, timeout_s: float,
                     quiet_s: float | None = None) -> int:  # fmt: skip
    """Until the server has ``expected`` messages, ``timeout_s`` passed, or (with
    ``quiet_s``) nothing new arrived for that long; the count."""
    started = last_change = time.monotonic()
    seen = smtp.count
    while smtp.count < expected:
        now = time.monotonic()
        if smtp.count != seen:
            seen, last_change = smtp.count, now
        if now - started > timeout_s or (quiet_s is not None and now - last_change > quiet_s):
            break
        time.sleep(0.1)
    return smtp.count


@dataclass
class Verdict:
    campaign_recipients: int  # recipients with a campaign message at the SMTP server
    campaign_copies: Counter[int]  # how many recipients got 1, 2, … campaign messages
    campaign_distinct: Counter[int]  # the same by distinct Message-ID
    journey_recipients: int
    journey_copies: Counter[int]
    entries_accepted: int
    runs: dict[str, int]  # journey runs by state
    sends: dict[str, int]  # the ledger by status
    unconfirmed: int  # sends taken as sent after a restart (handed, answer not recorded)
    missing_campaign: list[str]
    missing_journey: list[str]
    # of the missing, those whose send was recorded as handed before a kill (taken as sent,
    # never handed twice): the at-most-once window left, a kill between the confirmation's
    # write and the final "."'s (microseconds; docs/messaging-sends.md, "Crash safety")
    missing_handed: int = 0

    @property
    def exactly_once(self) -> bool:
        return (
            set(self.campaign_copies) == {1}
            and set(self.journey_copies) <= {1}
            and not self.missing_campaign
            and not self.missing_journey
        )


def verify(drill: Drill, smtp: CountingServer, accepted: dict[int, str]) -> Verdict:
    """Read the SMTP server's log and the stopped server's database."""
    copies: dict[str, Counter[str]] = {"c": Counter(), "j": Counter()}
    distinct: dict[str, dict[str, set[str]]] = {"c": defaultdict(set), "j": defaultdict(set)}
    for recipient, message_id in smtp.received():
        kind = "c" if message_id.startswith("<snd_c") else "j"
        copies[kind][recipient] += 1
        distinct[kind][recipient].add(message_id)
    everyone = {address(n) for n in range(drill.size)}
    entered = {address(n) for n in accepted}
    missing = sorted((everyone - set(copies["c"])) | (entered - set(copies["j"])))
    with duckdb.connect(str(database_file(drill.data_dir)), read_only=True) as conn:
        runs = dict(conn.execute("SELECT state, count(*) FROM journey_runs WHERE journey_id = ?"
                                 " GROUP BY ALL", [drill.journey_id]).fetchall())  # fmt: skip
        sends = dict(conn.execute("SELECT status, count(*) FROM sends GROUP BY ALL").fetchall())
        row = conn.execute(
            "SELECT count(*) FROM message_events WHERE status = 'sent' AND"
            " json_extract(properties, '$.unconfirmed')::BOOLEAN"
        ).fetchone()
        handed = conn.execute(
            "SELECT count(DISTINCT i.value) FROM identities i JOIN sends s"
            " ON s.contact_id = i.contact_id AND s.workspace_id = i.workspace_id"
            " WHERE i.type = 'email' AND i.value IN (SELECT unnest(?::VARCHAR[]))"
            " AND s.last_error LIKE 'unconfirmed%'",
            [missing],
        ).fetchone()
    return Verdict(
        campaign_recipients=len(copies["c"]),
        campaign_copies=Counter(copies["c"].values()),
        campaign_distinct=Counter(len(v) for v in distinct["c"].values()),
        journey_recipients=len(copies["j"]),
        journey_copies=Counter(copies["j"].values()),
        entries_accepted=len(accepted),
        runs={str(k): int(v) for k, v in runs.items()},
        sends={str(k): int(v) for k, v in sends.items()},
        unconfirmed=int(row[0]) if row else 0,
        missing_campaign=sorted(everyone - set(copies["c"]))[:20],
        missing_journey=sorted(entered - set(copies["j"]))[:20],
        missing_handed=int(handed[0]) if handed else 0,
    )


def database_file(data_dir: Path) -> Path:
    files = sorted(data_dir.glob("*.duckdb"))
    assert files, f"no database in {data_dir}"
    return files[0]
