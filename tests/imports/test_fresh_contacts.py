"""The column-wise path for brand-new contacts stores exactly what identity resolution stores.

The same files are imported into two data directories, once with the column-wise path
(``imports.fresh_contacts``) and once with it switched off (every row a message through
``identity.bulk.create_new_contacts`` and ``resolve``), over random mixes of brand-new
people, identifiers shared by two rows, invalid and blocked values, people already
stored, an erased person and attributes with empty cells; contacts (by their
identifiers), attributes, provenance, language, time zone, identities, consents, merges,
identity events and the job's rejects must be the same.
"""

from __future__ import annotations

import asyncio
import doctest
import random
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retenta.app import Container, build_container
from retenta.identity.store import dumps
from retenta.imports import fresh_contacts
from retenta.imports.loaders import import_message_id, import_message_ids
from retenta.imports.mapping import ROW
from retenta.settings import Settings
from tests.imports.helpers import rejects, run_import, write_csv

HEADER = ["id", "email", "phone", "name", "born", "lang", "tz", "tier", "news"]
MAPPING: dict[str, str | None] = {
    "id": "external_id",
    "email": "email",
    "phone": "phone",
    "name": "first_name",
    "born": "birthday",
    "lang": "language",
    "tz": "timezone",
    "tier": "attr.tier",
    "news": "email_consent",
}
SEED_ROWS = [  # stored before the import (the regular path: fewer rows than MIN_ROWS)
    ["old-1", "old1@example.com", "", "Old", "", "", "", "", "yes"],
    ["old-2", "", "+380501110002", "Olga", "", "uk", "", "", ""],
    ["gone-1", "gone@example.com", "", "Gone", "", "", "", "", ""],
]


def random_rows(rng: random.Random, n: int) -> list[list[str]]:
    rows = []
    for i in range(n):
        roll = rng.random()
        ext = f"c-{i}" if rng.random() < 0.8 else ""
        email = f"user{i}@example.com" if rng.random() < 0.9 else ""
        phone = f"+38050{2000000 + i}" if rng.random() < 0.5 else ""
        if roll < 0.05:
            email = f"user{rng.randrange(n)}@example.com"  # maybe another row's too
        elif roll < 0.08:
            email = rng.choice(["not-an-email", "test@test.com", "null"])
        elif roll < 0.11:
            ext, email = rng.choice([("old-1", ""), ("", "old1@example.com"), ("x", "gone@ex.com")])
        elif roll < 0.13:
            phone = "+380501110002"
        elif roll < 0.15:
            email = "gone@example.com"  # the erased person
        elif roll < 0.17:
            ext = rng.choice(["0", "undefined", "  "])
        name = rng.choice(["Ann", "", "Олена", ' "q" ', "  "])
        born = rng.choice(["1990-04-23", "", "23.04.1991"])
        lang = rng.choice(["uk", "", "en-US"])
        tz = rng.choice(["Europe/Kyiv", "", "UTC"])
        tier = rng.choice(["gold", "", "silver"])
        news = rng.choice(["yes", "no", ""])
        rows.append([ext, email, phone, name, born, lang, tz, tier, news])
    return rows


def state(c: Container, ws: str) -> dict[str, Any]:
    """Everything the import wrote, with contact ids replaced by their identifiers."""
    with c.db.read() as cur:
        ids = cur.execute(
            "SELECT contact_id, list((type, value) ORDER BY type, value) FROM identities"
            " WHERE workspace_id = ? GROUP BY contact_id",
            [ws],
        ).fetchall()
        name = {cid: tuple(tuple(x) for x in found) for cid, found in ids}
        contacts = cur.execute(
            "SELECT id, attributes, provenance, language, timezone, created_at, last_seen_at,"
            " merged_into FROM contacts WHERE workspace_id = ?",
            [ws],
        ).fetchall()
        consents = cur.execute(
            "SELECT contact_id, channel, topic, status, source FROM consents"
            " WHERE workspace_id = ?",
            [ws],
        ).fetchall()
        events = cur.execute(
            "SELECT kind, identifier_type, identifier_value, reason FROM identity_events"
            " WHERE workspace_id = ?",
            [ws],
        ).fetchall()
        merges = cur.execute("SELECT count(*) FROM merges WHERE workspace_id = ?", [ws]).fetchone()
    # Times are the jobs' (which differ between the two data directories): compare ranks.
    stamps = sorted({t for r in contacts for t in (r[5], r[6]) if t is not None})
    rank = {t: j for j, t in enumerate(stamps)}
    prov = [orjson.loads(r[2]) for r in contacts]
    at_rank = {t.isoformat(): j for t, j in rank.items()}
    for p in prov:
        for v in p.values():
            v["at"] = at_rank.get(v["at"], v["at"])
    contacts = [(*r[:5], rank.get(r[5]), rank.get(r[6]), r[7]) for r in contacts]
    return {
        "contacts": sorted(
            (
                name.get(r[0], ()),
                orjson.dumps(orjson.loads(r[1]), option=orjson.OPT_SORT_KEYS),
                orjson.dumps(p, option=orjson.OPT_SORT_KEYS),
                r[3],
                r[4],
                r[5],
                r[6],
                name.get(r[7]) if r[7] is not None else None,
            )
            for r, p in zip(contacts, prov, strict=True)
        ),
        "consents": sorted((name.get(r[0], ()), *r[1:]) for r in consents),
        "identity_events": sorted(events, key=repr),
        "merges": merges,
    }


def import_into(tmp: Path, label: str, files: list[Path], *, column_wise: bool) -> Any:
    c = build_container(Settings(data_dir=tmp / label, background_workers=False))
    try:
        ws = c.tenancy.create_workspace(name="W")
        seed = run_import(c, ws, files[0], "contacts", MAPPING)
        assert seed["status"] == "done", seed["error"]
        gone = c.identity.lookup(workspace_id=ws, id_type="external_id", value="gone-1")
        assert gone is not None
        asyncio.run(c.contacts.erase(workspace_id=ws, contact_id=gone, requested_by="test"))
        saved = fresh_contacts.MIN_ROWS
        fresh_contacts.MIN_ROWS = 64 if column_wise else 10**9
        try:
            jobs = [run_import(c, ws, f, "contacts", MAPPING) for f in files[1:]]
        finally:
            fresh_contacts.MIN_ROWS = saved
        outcome = [
            (
                j["status"],
                j["accepted_rows"],
                j["rejected_rows"],
                [(r["row_number"], r["field"], r["reason"]) for r in rejects(c, ws, j["id"])],
            )
            for j in jobs
        ]
        made = sum(j["stats"].get("contacts_created_by_column", 0) for j in jobs)
        # last-seen times are written every 2 s: whether one fell inside a run is its timing
        c.db.write(lambda conn: c.identity.flush(conn))
        return state(c, ws), outcome, made
    finally:
        c.close()


@pytest.mark.parametrize("seed", [1, 2])
def test_column_wise_new_contacts_equal_identity_resolution(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    files = [write_csv(tmp_path / "seed.csv", HEADER, SEED_ROWS)]
    files.append(write_csv(tmp_path / "a.csv", HEADER, random_rows(rng, 400)))
    # The same people again plus new ones: a second file over what the first stored.
    again = random_rows(random.Random(seed), 400)[:150] + random_rows(rng, 200)
    files.append(write_csv(tmp_path / "b.csv", HEADER, again))
    regular, regular_jobs, none = import_into(tmp_path, "regular", files, column_wise=False)
    columns, column_jobs, made = import_into(tmp_path, "columns", files, column_wise=True)
    assert none == 0
    assert made > 200  # the path under test did the work
    assert column_jobs == regular_jobs
    assert columns == regular


# --- the new contacts' JSON, joined by column -----------------------------------------------


class Stamp:
    workspace_id = "ws"
    at = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    file_sha256 = "ab" * 32

    def message_ids(self, rows: pa.Array) -> pa.Array:
        return import_message_ids(self.file_sha256, rows)


def reference_json(names: list[str], rows: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """What identity writes for a new contact, row by row (``bulk.fresh_values`` and
    ``bulk.provenance_json`` on text traits)."""
    attributes, provenance = [], []
    for row in rows:
        present = {
            n.removeprefix("attr."): row[n] for n in names if row[n] is not None and row[n] != ""
        }
        one = {"source": "import", "at": Stamp.at.isoformat(),
               "message_id": import_message_id(Stamp.file_sha256, row[ROW])}  # fmt: skip
        attributes.append(dumps(present))
        provenance.append(dumps({k: one for k in present}))
    return attributes, provenance


@settings(max_examples=200, deadline=None)
@given(
    cells=st.lists(
        st.tuples(st.one_of(st.none(), st.text(max_size=8)), st.sampled_from(["", "gold", None])),
        min_size=1,
        max_size=30,
    )
)
def test_the_json_by_column_is_the_json_identity_writes(cells: list[tuple[Any, Any]]) -> None:
    names = ["first_name", "attr.tier"]
    rows = [{"first_name": a, "attr.tier": b, ROW: 2 + i} for i, (a, b) in enumerate(cells)]
    table = pa.Table.from_pylist(rows, pa.schema(
        [("first_name", pa.string()), ("attr.tier", pa.string()), (ROW, pa.int64())]
    ))  # fmt: skip
    attributes, provenance = fresh_contacts.json_columns(Stamp(), table, names)
    assert (attributes.to_pylist(), provenance.to_pylist()) == reference_json(names, rows)


def test_a_date_trait_is_written_as_iso_text() -> None:
    table = pa.table({"birthday": pa.array([date(1990, 4, 23), None]), ROW: pa.array([2, 3])})
    attributes, _ = fresh_contacts.json_columns(Stamp(), table, ["birthday"])
    assert attributes.to_pylist() == ['{"birthday":"1990-04-23"}', "{}"]


def test_the_module_examples() -> None:
    result = doctest.testmod(fresh_contacts)
    assert result.attempted > 0
    assert result.failed == 0
