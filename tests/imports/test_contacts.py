"""Contacts import: identify through identity resolution, attributes, consents, idempotence."""

from __future__ import annotations

from pathlib import Path

import pytest

from retenta.app import Container
from retenta.errors import ApiError
from tests.conftest import Workspace
from tests.imports.helpers import rejects, run_import, scalar, write_csv, write_xlsx

HEADER = ["Customer ID", "E-mail", "Телефон", "Имя", "Дата рождения", "Подписка", "sms", "Tier"]
ROWS = [
    ["c-1", "Ann@Example.com", "+380501234567", "Ann", "23.04.1990", "yes", "no", "gold"],
    ["c-2", "bob@example.com", "", "Bob", "", "нет", "", ""],
    ["", "carol@example.com", "067 765 43 21", "Carol", "1991-01-02", "", "так", "silver"],
    ["c-4", "not-an-email", "", "Dan", "", "", "", ""],
    ["", "", "", "Nobody", "", "", "", ""],
]
MAPPING: dict[str, str | None] = {
    "Customer ID": "external_id",
    "E-mail": "email",
    "Телефон": "phone",
    "Имя": "first_name",
    "Дата рождения": "birthday",
    "Подписка": "email_consent",
    "sms": "sms_consent",
    "Tier": "attr.tier",
}


def _contacts(container: Container, ws_id: str) -> int:
    return int(
        scalar(
            container,
            "SELECT count(*) FROM contacts WHERE workspace_id = ? AND merged_into IS NULL",
            [ws_id],
        )
    )


def test_contacts_are_resolved_with_attributes_and_consents(
    container: Container, ws: Workspace, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "contacts.csv", HEADER, ROWS)
    job = run_import(container, ws.id, path, "contacts", MAPPING)
    assert job["status"] == "done", job["error"]
    assert (job["accepted_rows"], job["rejected_rows"]) == (3, 2)
    assert [(r["row_number"], r["field"]) for r in rejects(container, ws.id, job["id"])] == [
        (5, "email"),
        (6, "external_id"),
    ]
    assert _contacts(container, ws.id) == 3
    ann = container.identity.lookup(workspace_id=ws.id, id_type="email", value="ann@example.com")
    assert ann is not None
    assert container.identity.lookup(workspace_id=ws.id, id_type="external_id", value="c-1") == ann
    carol = container.identity.lookup(workspace_id=ws.id, id_type="phone", value="+380677654321")
    assert carol is not None
    assert carol != ann
    attrs = scalar(container, "SELECT attributes::VARCHAR FROM contacts WHERE id = ?", [ann])
    assert '"first_name":"Ann"' in attrs.replace(" ", "")
    assert '"tier":"gold"' in attrs.replace(" ", "")
    assert '"birthday":"1990-04-23"' in attrs.replace(" ", "")
    with container.db.read() as cur:
        consents = cur.execute(
            "SELECT contact_id, channel, status, source FROM consents WHERE workspace_id = ?"
            " ORDER BY contact_id, channel",
            [ws.id],
        ).fetchall()
    bob = container.identity.lookup(workspace_id=ws.id, id_type="email", value="bob@example.com")
    assert sorted(consents) == sorted(
        [
            (ann, "email", "subscribed", "import"),
            (ann, "sms", "unsubscribed", "import"),
            (bob, "email", "unsubscribed", "import"),
            (carol, "sms", "subscribed", "import"),
        ]
    )
    assert scalar(container, "SELECT count(*) FROM all_events WHERE workspace_id = ?", [ws.id]) == 0


def test_reimport_creates_nothing_new(container: Container, ws: Workspace, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "contacts.csv", HEADER, ROWS)
    run_import(container, ws.id, path, "contacts", MAPPING)
    before = _counts(container, ws.id)
    again = run_import(container, ws.id, path, "contacts", MAPPING)
    assert again["accepted_rows"] == 3
    assert again["stats"]["consents_changed"] == 0
    assert _counts(container, ws.id) == before


def test_changed_consent_is_recorded_once(
    container: Container, ws: Workspace, tmp_path: Path
) -> None:
    first = write_csv(tmp_path / "a.csv", ["email", "subscribed"], [["ann@example.com", "yes"]])
    second = write_csv(tmp_path / "b.csv", ["email", "subscribed"], [["ann@example.com", "no"]])
    run_import(container, ws.id, first, "contacts")
    job = run_import(container, ws.id, second, "contacts")
    assert job["stats"]["consents_changed"] == 1
    with container.db.read() as cur:
        history = cur.execute(
            "SELECT status FROM consents WHERE workspace_id = ? ORDER BY changed_at", [ws.id]
        ).fetchall()
    assert history == [("subscribed",), ("unsubscribed",)]


def test_contacts_from_xlsx(container: Container, ws: Workspace, tmp_path: Path) -> None:
    rows = [["x-1", "xl@example.com", 380501112233, "Xena", None, "yes", None, None]]
    path = write_xlsx(tmp_path / "contacts.xlsx", HEADER, rows)
    job = run_import(container, ws.id, path, "contacts", MAPPING)
    assert job["accepted_rows"] == 1, job
    found = container.identity.lookup(workspace_id=ws.id, id_type="phone", value="+380501112233")
    assert found is not None
    assert found == container.identity.lookup(
        workspace_id=ws.id, id_type="external_id", value="x-1"
    )


def test_workspaces_are_isolated(
    container: Container, ws: Workspace, other_ws: Workspace, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "contacts.csv", HEADER, ROWS)
    job = run_import(container, ws.id, path, "contacts", MAPPING)
    assert _contacts(container, other_ws.id) == 0
    assert (
        container.identity.lookup(
            workspace_id=other_ws.id, id_type="email", value="ann@example.com"
        )
        is None
    )
    assert container.imports.jobs(workspace_id=other_ws.id) == []
    up = container.imports.upload_path(workspace_id=ws.id, path=path)
    with pytest.raises(ApiError) as err:
        container.imports.create_job(
            workspace_id=other_ws.id, upload_id=up["upload_id"], entity="contacts"
        )
    assert err.value.status == 404
    with pytest.raises(ApiError):
        container.imports.job(workspace_id=other_ws.id, job_id=job["id"])
    assert job["id"] not in {j["id"] for j in container.imports.jobs(workspace_id=other_ws.id)}


def _counts(container: Container, ws_id: str) -> tuple[int, ...]:
    with container.db.read() as cur:
        row = cur.execute(
            "SELECT (SELECT count(*) FROM contacts WHERE workspace_id = $ws),"
            " (SELECT count(*) FROM identities WHERE workspace_id = $ws),"
            " (SELECT count(*) FROM consents WHERE workspace_id = $ws),"
            " (SELECT count(*) FROM merges WHERE workspace_id = $ws)",
            {"ws": ws_id},
        ).fetchone()
    assert row is not None
    return tuple(int(v) for v in row)
