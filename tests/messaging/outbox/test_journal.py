"""The hand-over journal: durable records, torn lines, rotation, and the copy into the table
that every orphan lookup makes first."""

from __future__ import annotations

import asyncio
from pathlib import Path

from retenta.app import Container
from retenta.messaging.outbox.journal import HandoverJournal
from retenta.messaging.outbox.ledger import NewSend
from retenta.messaging.services import for_container
from tests.conftest import Workspace


def test_records_survive_a_new_process_and_a_torn_line_is_not_one(tmp_path: Path) -> None:
    journal = HandoverJournal(tmp_path)
    journal.append([("snd_a1", 1), ("snd_b2", 2)])
    journal.append([("snd_c3", 1)])
    [segment] = journal.segments()
    with segment.open("ab") as torn:  # a crash in the middle of a write
        torn.write(b"snd_d4 ")
    after_restart = HandoverJournal(tmp_path)  # a new process opens a segment of its own
    closed = after_restart.rotate()
    assert segment in closed
    assert after_restart.read(closed) == [("snd_a1", 1), ("snd_b2", 2), ("snd_c3", 1)]
    after_restart.discard(closed)
    assert len(after_restart.segments()) == 1  # only the open one
    assert (journal.syncs, journal.records) == (2, 3)


def test_orphans_see_records_still_in_the_journal(container: Container, ws: Workspace) -> None:
    ledger = for_container(container).ledger
    assert ledger.journal is not None
    [send_id] = ledger.enqueue([NewSend(ws.id, 1, "msg_x", ("email",), "promo")])
    [claimed] = ledger.claim(10)
    asyncio.run(ledger.record_handover([(send_id, claimed.attempts)]))
    with container.db.read() as cur:  # not in the table yet: only in the fdatasync'd file
        assert cur.execute("SELECT count(*) FROM send_handovers").fetchone() == (0,)
    [(orphan, handed)] = ledger.orphans()
    assert (orphan.send_id, handed) == (send_id, True)
    with container.db.read() as cur:
        assert cur.execute("SELECT send_id, attempt FROM send_handovers").fetchall() == [
            (send_id, 1)
        ]
    assert ledger.absorb_journal() == 0  # copied once; the segment is gone


def test_a_pending_record_counts_once_confirmed_or_when_written_before_this_boot(
    tmp_path: Path,
) -> None:
    """SMTP's records are pending until the write that hands the message over (its final
    "."), which follows their confirmation at once. After a kill (same boot, the page cache
    intact) a pending record without its confirmation was never handed over; after a power
    loss the confirmation may be gone, so every pending record counts (never twice)."""
    journal = HandoverJournal(tmp_path)
    seen_in_file: list[bytes] = []

    def final_dot() -> None:  # runs right after the confirmation, on the journal's thread
        seen_in_file.append(journal.segments()[0].read_bytes())

    async def commit() -> None:
        await journal.commit([("snd_plain1", 1)], [([("snd_dot1", 2)], final_dot)])

    asyncio.run(commit())
    journal.append([], pending=[("snd_killed1", 1)])  # durable, then the process was killed
    with journal.segments()[0].open("ab") as torn:  # a confirmation torn by the kill
        torn.write(b"snd_killed1 1 !")
    assert seen_in_file[0].endswith(b"snd_plain1 1\nsnd_dot1 2 ?\nsnd_dot1 2 !\n")
    assert journal.syncs == 2  # the confirmation is not synced: a kill never loses it

    after_kill = HandoverJournal(tmp_path)
    closed = after_kill.rotate()
    assert after_kill.boot
    assert after_kill.boot == journal.boot
    assert after_kill.read(closed) == [("snd_plain1", 1), ("snd_dot1", 2)]

    segment = closed[0]  # the killed process's segment, read after a reboot (another boot_id)
    segment.write_bytes(segment.read_bytes().replace(journal.boot.encode(), b"0-other-boot"))
    assert after_kill.read(closed) == [("snd_plain1", 1), ("snd_dot1", 2), ("snd_killed1", 1)]
