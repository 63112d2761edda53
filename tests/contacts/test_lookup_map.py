"""A lookup answered from the writer's identifier map, and only while the map is right."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.contacts import queries
from tests.conftest import Workspace

BASE = "/api/v1/contacts"


def send(client: TestClient, ws: Workspace, kind: str, body: dict[str, Any]) -> None:
    resp = client.post(f"/v1/{kind}", json=body, auth=ws.write_auth)
    assert resp.status_code == 200, resp.text


def identify(client: TestClient, ws: Workspace, n: int, **body: Any) -> None:
    send(client, ws, "identify", {"messageId": f"i-{n}", **body})


def lookup(client: TestClient, ws: Workspace, **params: str) -> Any:
    return client.get(f"{BASE}/lookup", params=params, headers=ws.api_headers)


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The identifier values looked up in the database (``holder_of``) rather than the map."""
    asked: list[str] = []
    probe = queries.holder_of

    def counted(cur: Any, workspace_id: str, id_type: str, value: str) -> int | None:
        asked.append(value)
        return probe(cur, workspace_id, id_type, value)

    monkeypatch.setattr(queries, "holder_of", counted)
    return asked


def test_a_mapped_identifier_skips_the_probe_and_answers_the_same(
    client: TestClient, container: Container, ws: Workspace, probes: list[str]
) -> None:
    identify(client, ws, 1, userId="u-1", traits={"email": "Ann@Example.com", "plan": "gold"})
    identify(client, ws, 2, userId="u-2")  # the next unit moves the first one's keys into the map
    assert container.identity.committed_owner(ws.id, "email", "ann@example.com") is not None
    from_map = lookup(client, ws, email="ANN@example.com ")
    assert from_map.status_code == 200, from_map.text
    assert probes == []
    container.identity.cache.owners.clear()
    from_db = lookup(client, ws, email="ann@example.com")
    assert probes == ["ann@example.com"]
    assert from_map.json() == from_db.json()
    assert from_map.json()["attributes"]["plan"] == "gold"


def test_an_identifier_of_an_erased_contact_is_not_answered_from_the_map(
    client: TestClient, container: Container, ws: Workspace, probes: list[str]
) -> None:
    identify(client, ws, 1, userId="u-1", traits={"email": "ann@example.com"})
    identify(client, ws, 2, userId="u-2")
    cid = lookup(client, ws, external_id="u-1").json()["id"]
    assert container.identity.committed_owner(ws.id, "external_id", "u-1") == cid
    assert client.delete(f"{BASE}/{cid}", headers=ws.api_headers).status_code == 200
    assert lookup(client, ws, external_id="u-1").status_code == 404
    assert probes == ["u-1"]  # the map could not vouch for it: the database answered


def test_a_merged_away_identifier_answers_with_the_winner(
    client: TestClient, container: Container, ws: Workspace, probes: list[str]
) -> None:
    identify(client, ws, 1, anonymousId="dev-1", traits={"email": "ann@example.com"})
    identify(client, ws, 2, userId="u-1")
    # the device's contact and the user's become one
    identify(client, ws, 3, userId="u-1", anonymousId="dev-1")
    identify(client, ws, 4, userId="u-2")
    by_user = lookup(client, ws, external_id="u-1").json()
    by_device = lookup(client, ws, anonymous_id="dev-1").json()
    by_email = lookup(client, ws, email="ann@example.com").json()
    assert by_user["id"] == by_device["id"] == by_email["id"]
    assert len(by_user["merged_from"]) == 1
    assert probes == []


def test_the_map_is_per_workspace(
    client: TestClient, container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    identify(client, ws, 1, userId="u-1", traits={"email": "ann@example.com"})
    identify(client, ws, 2, userId="u-2")
    assert container.identity.committed_owner(ws.id, "email", "ann@example.com") is not None
    assert container.identity.committed_owner(other_ws.id, "email", "ann@example.com") is None
    assert lookup(client, other_ws, email="ann@example.com").status_code == 404


def reread_identifiers(container: Container) -> None:
    """What a start does: every stored identifier's hash and owner read whole; and the
    writer's map emptied, so lookups go to the candidates."""
    with container.db.read() as cur:
        container.identity.known.rebuild(cur)
    container.identity.cache.owners.clear()


def test_an_identifier_stored_before_the_start_skips_the_probe(
    client: TestClient, container: Container, ws: Workspace, other_ws: Workspace, probes: list[str]
) -> None:
    identify(client, ws, 1, userId="u-1", traits={"email": "ann@example.com", "plan": "gold"})
    identify(client, ws, 2, userId="u-2", traits={"phone": "+380671234567"})
    reread_identifiers(container)
    ann = lookup(client, ws, email="ann@example.com")
    assert ann.status_code == 200, ann.text
    assert ann.json()["attributes"]["plan"] == "gold"
    assert lookup(client, ws, phone="067 123 45 67").json()["id"] != ann.json()["id"]
    assert lookup(client, ws, external_id="u-1").json()["id"] == ann.json()["id"]
    assert probes == []
    assert lookup(client, other_ws, email="ann@example.com").status_code == 404


def test_a_device_taken_over_since_the_start_is_found_with_its_new_holder(
    client: TestClient, container: Container, ws: Workspace, probes: list[str]
) -> None:
    identify(client, ws, 1, userId="u-1", anonymousId="dev-1")
    reread_identifiers(container)
    before = lookup(client, ws, anonymous_id="dev-1").json()["id"]
    assert probes == []
    identify(client, ws, 2, userId="u-2", anonymousId="dev-1")  # another person, same device
    identify(client, ws, 3, userId="u-3")
    container.identity.cache.owners.clear()  # the candidate is now stale: u-1's contact
    after = lookup(client, ws, anonymous_id="dev-1").json()
    assert after["id"] != before
    assert after["id"] == lookup(client, ws, external_id="u-2").json()["id"]
    assert "dev-1" in probes  # the candidate's profile did not hold it: the index answered


def test_an_erased_contacts_identifier_is_not_found_through_its_candidate(
    client: TestClient, container: Container, ws: Workspace, probes: list[str]
) -> None:
    identify(client, ws, 1, userId="u-1", traits={"email": "ann@example.com"})
    reread_identifiers(container)
    cid = lookup(client, ws, email="ann@example.com").json()["id"]
    assert client.delete(f"{BASE}/{cid}", headers=ws.api_headers).status_code == 200
    container.identity.cache.owners.clear()
    assert lookup(client, ws, email="ann@example.com").status_code == 404
