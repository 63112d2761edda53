"""The import API over HTTP: upload → preview → job → progress → rejects; errors; isolation."""

from __future__ import annotations

import io
from pathlib import Path

from fastapi.testclient import TestClient

from retenta.app import Container
from tests.conftest import Workspace
from tests.imports.helpers import write_xlsx

CSV = "E-mail;Имя;Подписка\nann@example.com;Ann;yes\nbroken;Bob;no\n"


def _upload(
    client: TestClient, ws: Workspace, name: str = "c.csv", body: bytes | None = None
) -> dict:
    files = {"file": (name, io.BytesIO(body if body is not None else CSV.encode()), "text/csv")}
    resp = client.post("/api/v1/imports/uploads", files=files, headers=ws.api_headers)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def test_upload_preview_job_and_rejects(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    up = _upload(client, ws)
    assert up["columns"] == ["E-mail", "Имя", "Подписка"]
    assert up["sample_rows"][0] == {"E-mail": "ann@example.com", "Имя": "Ann", "Подписка": "yes"}
    assert up["suggested_mapping"] == {
        "E-mail": "email",
        "Имя": "first_name",
        "Подписка": "email_consent",
    }
    body = {
        "upload_id": up["upload_id"],
        "entity": "contacts",
        "mapping": up["suggested_mapping"],
        "save_mapping_as": "crm",
    }
    created = client.post("/api/v1/imports", json=body, headers=ws.api_headers)
    assert created.status_code == 201, created.text
    job = created.json()
    assert (job["status"], job["processed_rows"], job["progress"]) == ("queued", 0, 0.0)
    container.imports.run_pending()  # the server's background worker does this in `serve`
    done = client.get(f"/api/v1/imports/{job['id']}", headers=ws.api_headers).json()
    keys = ("status", "total_rows", "accepted_rows", "rejected_rows", "progress")
    assert [done[k] for k in keys] == ["done", 2, 1, 1, 1.0]
    rej = client.get(f"/api/v1/imports/{job['id']}/rejects", headers=ws.api_headers).json()
    assert rej["total"] == 1
    assert rej["items"][0]["row_number"] == 3
    assert rej["items"][0]["field"] == "email"
    assert rej["items"][0]["raw"] == {"E-mail": "broken", "Имя": "Bob", "Подписка": "no"}
    as_csv = client.get(f"/api/v1/imports/{job['id']}/rejects?format=csv", headers=ws.api_headers)
    assert as_csv.text.splitlines()[1].startswith("3,email,'broken': not an e-mail address")
    listed = client.get("/api/v1/imports", headers=ws.api_headers).json()
    assert [j["id"] for j in listed] == [job["id"]]
    mappings = client.get("/api/v1/import-mappings", headers=ws.api_headers).json()
    assert mappings[0]["name"] == "crm"
    assert mappings[0]["mapping"]["E-mail"] == "email"


def test_fields_and_saved_mapping_endpoint(client: TestClient, ws: Workspace) -> None:
    fields = client.get("/api/v1/imports/fields?entity=orders", headers=ws.api_headers).json()
    names = {f["name"] for f in fields["fields"]}
    assert {"order_id", "placed_at", "sku", "quantity", "price", "items"} <= names
    bad = client.get("/api/v1/imports/fields?entity=widgets", headers=ws.api_headers)
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "entity"
    saved = client.post(
        "/api/v1/import-mappings",
        json={"name": "feed", "entity": "products", "mapping": {"code": "sku", "x": "colour"}},
        headers=ws.api_headers,
    )
    assert saved.status_code == 422
    assert saved.json()["error"]["field"] == "colour"


def test_clear_errors(client: TestClient, ws: Workspace) -> None:
    up = _upload(client, ws)

    def start(**body: object) -> dict:
        resp = client.post(
            "/api/v1/imports", json={"upload_id": up["upload_id"], **body}, headers=ws.api_headers
        )
        assert resp.status_code in (404, 422), resp.text
        return dict(resp.json()["error"])

    assert start(entity="widgets")["field"] == "entity"
    assert (
        start(entity="contacts", mapping={"E-mail": "email", "Имя": "nickname"})["field"]
        == "nickname"
    )
    missing = start(entity="contacts", mapping={"Имя": "first_name"})
    assert missing["field"] == "external_id"
    assert "identifier" in missing["message"]
    assert start(entity="orders", mapping={"E-mail": "email"})["field"] == "order_id"
    assert start(entity="contacts", mapping_name="nope")["field"] == "mapping_name"
    resp = client.post(
        "/api/v1/imports", json={"upload_id": "upl_x", "entity": "contacts"}, headers=ws.api_headers
    )
    assert (resp.status_code, resp.json()["error"]["field"]) == (404, "upload_id")
    wrong_type = client.post(
        "/api/v1/imports/uploads",
        files={"file": ("c.pdf", io.BytesIO(b"%PDF"), "application/pdf")},
        headers=ws.api_headers,
    )
    assert (wrong_type.status_code, wrong_type.json()["error"]["field"]) == (422, "file")
    empty = client.post(
        "/api/v1/imports/uploads",
        files={"file": ("c.csv", io.BytesIO(b""), "text/csv")},
        headers=ws.api_headers,
    )
    assert empty.status_code == 422


def test_upload_size_limit(client: TestClient, container: Container, ws: Workspace) -> None:
    container.imports.max_upload_bytes = 1024
    resp = client.post(
        "/api/v1/imports/uploads",
        files={"file": ("big.csv", io.BytesIO(b"email\n" + b"a@example.com\n" * 200), "text/csv")},
        headers=ws.api_headers,
    )
    assert resp.status_code == 413
    error = resp.json()["error"]
    assert (error["code"], error["field"]) == ("file_too_large", "file")
    assert "upload limit of 1.0 KiB" in error["message"]
    assert list((container.settings.data_dir / "imports").glob("*")) == []


def test_xlsx_upload(client: TestClient, ws: Workspace, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "p.xlsx", ["SKU", "Title", "Price"], [["S-1", "Sock", 3.5]])
    up = _upload(client, ws, "p.xlsx", path.read_bytes())
    assert up["format"] == "xlsx"
    assert up["suggested_mappings"]["products"] == {"SKU": "sku", "Title": "name", "Price": "price"}


def test_workspace_isolation(
    client: TestClient, container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    up = _upload(client, ws)
    job = client.post(
        "/api/v1/imports",
        json={"upload_id": up["upload_id"], "entity": "contacts"},
        headers=ws.api_headers,
    ).json()
    other = other_ws.api_headers
    assert client.get(f"/api/v1/imports/{job['id']}", headers=other).status_code == 404
    assert client.get(f"/api/v1/imports/{job['id']}/rejects", headers=other).status_code == 404
    assert client.get("/api/v1/imports", headers=other).json() == []
    reuse = client.post(
        "/api/v1/imports", json={"upload_id": up["upload_id"], "entity": "contacts"}, headers=other
    )
    assert reuse.status_code == 404
    assert (
        client.get(f"/api/v1/imports/uploads/{up['upload_id']}", headers=other).status_code == 404
    )
    assert client.get("/api/v1/imports", headers={}).status_code == 401


def test_failed_job_reports_error_and_can_be_retried(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    up = _upload(client, ws)
    body = {"upload_id": up["upload_id"], "entity": "contacts"}
    job = client.post("/api/v1/imports", json=body, headers=ws.api_headers).json()
    stored = next((container.settings.data_dir / "imports").glob("*.csv"))
    hidden = stored.with_suffix(".away")
    stored.rename(hidden)  # the file vanished (a disk problem, an operator's mistake)
    container.imports.run_pending()
    failed = client.get(f"/api/v1/imports/{job['id']}", headers=ws.api_headers).json()
    assert failed["status"] == "failed"
    assert "No such file" in failed["error"] or "cannot" in failed["error"]
    hidden.rename(stored)
    retried = client.post(f"/api/v1/imports/{job['id']}/retry", headers=ws.api_headers)
    assert retried.json()["status"] == "queued"
    container.imports.run_pending()
    done = client.get(f"/api/v1/imports/{job['id']}", headers=ws.api_headers).json()
    assert (done["status"], done["error"], done["accepted_rows"]) == ("done", None, 1)
    again = client.post(f"/api/v1/imports/{job['id']}/retry", headers=ws.api_headers)
    assert (again.status_code, again.json()["error"]["field"]) == (409, "status")
