"""The profile API over HTTP, on data written straight through the writer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.contacts.consent import record_consent, record_consents
from retenta.errors import ApiError
from retenta.storage.duckdb.compaction import CompactionPolicy, Compactor
from tests.conftest import Workspace
from tests.contacts.seed import T0, add_events, add_order, event_table, merge, new_contact

BASE = "/api/v1/contacts"


def error_of(resp: Any) -> dict[str, Any]:
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "field", "details"}
    return body["error"]  # type: ignore[no-any-return]


@pytest.fixture
def ann(container: Container, ws: Workspace) -> int:
    return new_contact(
        container,
        ws.id,
        identities=[
            ("email", "ann@example.com"),
            ("phone", "+380671234567"),
            ("external_id", "u-ann"),
            ("anonymous_id", "dev-ann"),
        ],
        attributes={"first_name": "Ann", "last_name": "Lee", "plan": "gold"},
    )


def test_lookup_by_each_identifier_type(client: TestClient, ws: Workspace, ann: int) -> None:
    for params in (
        {"email": " Ann@Example.COM "},
        {"phone": "067 123 45 67"},
        {"external_id": "u-ann"},
        {"anonymous_id": "dev-ann"},
    ):
        resp = client.get(f"{BASE}/lookup", params=params, headers=ws.api_headers)
        assert resp.status_code == 200, (params, resp.text)
        assert resp.json()["id"] == ann
    body = resp.json()
    assert body["attributes"]["plan"] == "gold"
    types = sorted(i["type"] for i in body["identifiers"])
    assert types == ["anonymous_id", "email", "external_id", "phone"]


def test_lookup_rejects_bad_input_naming_the_field(client: TestClient, ws: Workspace) -> None:
    resp = client.get(f"{BASE}/lookup", params={"email": "not-an-email"}, headers=ws.api_headers)
    assert resp.status_code == 422
    assert error_of(resp)["field"] == "email"
    both = {"email": "a@example.com", "phone": "+380671234567"}
    resp = client.get(f"{BASE}/lookup", params=both, headers=ws.api_headers)
    assert resp.status_code == 422
    assert "exactly one" in error_of(resp)["message"]
    resp = client.get(f"{BASE}/lookup", params={"fax": "1"}, headers=ws.api_headers)
    assert resp.status_code == 422
    assert error_of(resp)["field"] == "fax"
    resp = client.get(f"{BASE}/lookup", headers=ws.api_headers)
    assert resp.status_code == 422


def test_lookup_of_unknown_identifier_is_404(client: TestClient, ws: Workspace) -> None:
    resp = client.get(
        f"{BASE}/lookup", params={"email": "nobody@example.com"}, headers=ws.api_headers
    )
    assert resp.status_code == 404
    assert error_of(resp)["code"] == "not_found"


def test_list_and_search(client: TestClient, container: Container, ws: Workspace, ann: int) -> None:
    bob = new_contact(
        container, ws.id, identities=[("email", "bob@shop.ua")], attributes={"name": "Bob Ross"}
    )
    listed = client.get(BASE, headers=ws.api_headers).json()
    assert [c["id"] for c in listed["items"]] == [bob, ann]
    first = listed["items"][1]
    assert first["email"] == "ann@example.com"
    assert first["phone"] == "+380671234567"
    assert first["external_id"] == "u-ann"
    assert first["name"] == "Ann Lee"
    for q, expected in (
        ("u-ann", [ann]),  # exact external id
        ("+380671234567", [ann]),  # exact phone
        ("0671234567", [ann]),  # phone, normalized like identity does
        ("ANN@example.com", [ann]),  # email, normalized
        ("bo", [bob]),  # email and name prefix
        ("ross", []),  # a name prefix, not a substring
        ("lee", [ann]),  # last name prefix
    ):
        found = client.get(BASE, params={"q": q}, headers=ws.api_headers).json()["items"]
        assert [c["id"] for c in found] == expected, q


def test_list_pages_without_gaps(client: TestClient, container: Container, ws: Workspace) -> None:
    ids = [new_contact(container, ws.id) for _ in range(7)]
    merged = new_contact(container, ws.id)
    merge(container, ws.id, winner=ids[0], loser=merged)
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get(BASE, params=params, headers=ws.api_headers).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)  # the merged-away contact is not listed


def test_list_rejects_unknown_parameters_and_bad_cursors(client: TestClient, ws: Workspace) -> None:
    resp = client.get(BASE, params={"email": "a@b.co"}, headers=ws.api_headers)
    assert resp.status_code == 422
    assert error_of(resp)["field"] == "email"
    resp = client.get(BASE, params={"cursor": "!!nope"}, headers=ws.api_headers)
    assert resp.status_code == 422
    assert error_of(resp)["field"] == "cursor"
    resp = client.get(BASE, params={"limit": 0}, headers=ws.api_headers)
    assert resp.status_code == 422
    assert error_of(resp)["field"] == "limit"


def test_profile_with_traits_consents_and_merges(
    client: TestClient, container: Container, ws: Workspace, ann: int
) -> None:
    old = new_contact(container, ws.id, identities=[("email", "ann.old@example.com")])
    merge(container, ws.id, winner=ann, loser=old)
    add_order(
        container, ws.id, ann, "o1", [("s1", "Shoes", 2, 50.0, 1), ("s2", "Bags", 1, 30.0, 0)]
    )
    add_order(
        container, ws.id, old, "o2", [("s3", "Bags", 1, 20.0, 0)], placed_at=T0 + timedelta(days=3)
    )
    add_order(container, ws.id, ann, "o3", [("s4", "Hats", 9, 1.0, 0)], status="cancelled")
    add_events(container, event_table(ws.id, old, 3, start=T0 + timedelta(days=9)))
    for status in ("subscribed", "unsubscribed"):
        body = {"channel": "email", "status": status, "source": "form"}
        assert (
            client.post(f"{BASE}/{ann}/consents", json=body, headers=ws.api_headers).status_code
            == 200
        )
    profile = client.get(f"{BASE}/{ann}", headers=ws.api_headers).json()
    assert profile["merged_from"] == [old]
    assert {i["value"] for i in profile["identifiers"]} >= {
        "ann@example.com",
        "ann.old@example.com",
    }
    traits = profile["traits"]
    assert traits["orders"] == 2
    assert traits["revenue"] == 100.0  # 50 (one shoe returned) + 30 + 20; cancelled not counted
    assert traits["average_order_value"] == 50.0
    assert traits["favourite_category"] == "Bags"  # 2 bags bought vs 1 shoe kept
    assert traits["first_order_at"].startswith("2026-01-01")
    assert traits["last_order_at"].startswith("2026-01-04")
    assert traits["last_activity_at"].startswith("2026-01-10")
    current = profile["consents"]["current"]
    assert [(c["channel"], c["status"]) for c in current] == [("email", "unsubscribed")]
    assert [h["status"] for h in profile["consents"]["history"]] == ["subscribed", "unsubscribed"]
    # The merged-away id answers with the live contact.
    assert client.get(f"{BASE}/{old}", headers=ws.api_headers).json()["id"] == ann


def test_consent_validation_and_topics(client: TestClient, ws: Workspace, ann: int) -> None:
    url = f"{BASE}/{ann}/consents"
    resp = client.post(url, json={"channel": "email", "status": "maybe"}, headers=ws.api_headers)
    assert resp.status_code == 422
    assert error_of(resp)["field"] == "status"
    resp = client.post(
        url, json={"channel": "Email!", "status": "subscribed"}, headers=ws.api_headers
    )
    assert error_of(resp)["field"] == "channel"
    naive = {"channel": "sms", "status": "subscribed", "changed_at": "2026-01-01T10:00:00"}
    assert error_of(client.post(url, json=naive, headers=ws.api_headers))["field"] == "changed_at"
    later = {
        "channel": "email",
        "topic": "news",
        "status": "subscribed",
        "changed_at": "2026-02-01T00:00:00Z",
    }
    earlier = {**later, "status": "unsubscribed", "changed_at": "2026-01-01T00:00:00Z"}
    client.post(url, json=later, headers=ws.api_headers)
    state = client.post(url, json=earlier, headers=ws.api_headers).json()
    assert [(c["topic"], c["status"]) for c in state["current"]] == [("news", "subscribed")]
    assert len(state["history"]) == 2


def test_timeline_pages_through_merged_contacts_newest_first(
    client: TestClient, container: Container, ws: Workspace, ann: int
) -> None:
    old = new_contact(container, ws.id)
    merge(container, ws.id, winner=ann, loser=old)
    add_events(container, event_table(ws.id, ann, 40, prefix="a"), target="events")
    add_events(container, event_table(ws.id, old, 25, prefix="o", step_s=97))
    items = pages(client, ws, ann, limit=7)
    stamps = [(i["timestamp"], i["message_id"]) for i in items]
    assert len(items) == 65
    assert stamps == sorted(stamps, reverse=True)
    assert len({i["message_id"] for i in items}) == 65
    assert items[0]["properties"]["category"] == "Shoes"
    assert items[0]["context"] == {"ip": "10.0.0.1"}


def pages(
    client: TestClient, ws: Workspace, cid: int, *, limit: int, between: Any = None
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        resp = client.get(f"{BASE}/{cid}/events", params=params, headers=ws.api_headers)
        assert resp.status_code == 200, resp.text
        out += resp.json()["items"]
        cursor = resp.json()["next_cursor"]
        if cursor is None:
            return out
        if between is not None:
            between()


def test_timeline_pagination_is_exact_while_compaction_runs(
    client: TestClient, container: Container, ws: Workspace, ann: int
) -> None:
    others = [new_contact(container, ws.id) for _ in range(5)]
    for batch in range(6):
        for cid in [ann, *others]:
            add_events(container, event_table(ws.id, cid, 20, prefix=f"b{batch}", step_s=7 + batch))
    compactor = Compactor(
        CompactionPolicy(
            flush_rows=60, max_flush_rows=90, step_rows=50, l1_max_runs=2, l1_merge_min_rows=200
        )
    )

    def compact_a_little() -> None:
        for _ in range(3):
            container.db.write(compactor.step)

    items = pages(client, ws, ann, limit=9, between=compact_a_little)
    ids = [i["message_id"] for i in items]
    assert len(ids) == 120
    assert len(set(ids)) == 120
    stamps = [(i["timestamp"], i["message_id"]) for i in items]
    assert stamps == sorted(stamps, reverse=True)
    with container.db.read() as cur:
        assert cur.execute("SELECT count(*) FROM events").fetchone()[0] > 0  # compaction moved rows


def test_another_workspace_gets_404(
    client: TestClient, ws: Workspace, other_ws: Workspace, ann: int
) -> None:
    h = other_ws.api_headers
    for method, path in (
        ("get", f"{BASE}/{ann}"),
        ("get", f"{BASE}/{ann}/events"),
        ("get", f"{BASE}/{ann}/export"),
        ("delete", f"{BASE}/{ann}"),
    ):
        resp = client.request(method.upper(), path, headers=h)
        assert resp.status_code == 404, (method, path)
        assert error_of(resp)["code"] == "not_found"
    resp = client.post(
        f"{BASE}/{ann}/consents", json={"channel": "email", "status": "subscribed"}, headers=h
    )
    assert resp.status_code == 404
    assert (
        client.get(f"{BASE}/lookup", params={"email": "ann@example.com"}, headers=h).status_code
        == 404
    )
    assert client.get(BASE, params={"q": "u-ann"}, headers=h).json()["items"] == []
    assert client.get(f"{BASE}/{ann}", headers=ws.api_headers).status_code == 200


def test_credentials_and_roles(
    client: TestClient, container: Container, ws: Workspace, ann: int
) -> None:
    assert client.get(f"{BASE}/{ann}").status_code == 401
    resp = client.get(f"{BASE}/{ann}", headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401
    assert error_of(resp)["code"] == "unauthorized"
    user = container.tenancy.create_user(
        workspace_id=ws.id, email="viewer@shop.ua", password="long-enough-pw", role="analyst"
    )
    client.cookies.set("retenta_session", container.sessions.issue(user))
    csrf = {"X-Requested-With": "test"}
    assert client.get(f"{BASE}/{ann}").status_code == 200
    resp = client.delete(f"{BASE}/{ann}", headers=csrf)
    assert resp.status_code == 403
    assert error_of(resp)["code"] == "forbidden"
    resp = client.post(
        f"{BASE}/{ann}/consents", json={"channel": "email", "status": "subscribed"}, headers=csrf
    )
    assert resp.status_code == 403
    assert client.get(f"{BASE}/{ann}/export").status_code == 403


def test_openapi_lists_the_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (BASE, f"{BASE}/lookup", f"{BASE}/{{contact_id}}", f"{BASE}/{{contact_id}}/events"):
        assert path in paths


def test_record_consent_inside_a_writer_unit_of_work(
    container: Container, ws: Workspace, ann: int
) -> None:
    at = T0 + timedelta(hours=1)
    container.db.write(
        lambda c: container.contacts.record_consent(
            c,
            workspace_id=ws.id,
            contact_id=ann,
            channel="sms",
            topic="promo",
            status="subscribed",
            source="import",
            changed_at=at,
        )
    )
    table = pa.table(
        {
            "contact_id": [ann, ann],
            "channel": ["sms", "viber"],
            "topic": ["promo", "*"],
            "status": ["unsubscribed", "pending"],
            "source": ["import", "import"],
            "changed_at": [at + timedelta(hours=1), at],
        }
    )
    assert container.db.write(lambda c: record_consents(c, workspace_id=ws.id, table=table)) == 2
    consents = container.contacts.profile(workspace_id=ws.id, contact_id=ann)["consents"]
    current = {(c["channel"], c["topic"]): c["status"] for c in consents["current"]}
    assert current == {("sms", "promo"): "unsubscribed", ("viber", "*"): "pending"}
    assert len(consents["history"]) == 3
    with pytest.raises(ApiError, match="status must be one of"):
        container.db.write(
            lambda c: record_consent(
                c, workspace_id=ws.id, contact_id=ann, channel="sms", status="yes", source="x"
            )
        )
