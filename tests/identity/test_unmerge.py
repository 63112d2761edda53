"""Merges are recorded with a snapshot and revert exactly; the two HTTP endpoints."""

from __future__ import annotations

from fastapi.testclient import TestClient

from retenta.app import Container
from tests.conftest import Workspace
from tests.identity.helpers import contact_row, full_state, merges, msg, owner, resolve


def _anonymous_then_identified(container: Container, ws: Workspace) -> tuple[int, int]:
    (person,) = resolve(
        container,
        [msg(ws.id, "identify", user="u1", anon="laptop", traits={"name": "Ann", "plan": "pro"})],
    )
    (visitor,) = resolve(
        container,
        [msg(ws.id, "identify", anon="phone", traits={"city": "Lviv", "plan": "free"}, minutes=1)],
    )
    assert person.contact_id is not None
    assert visitor.contact_id is not None
    return person.contact_id, visitor.contact_id


def _identity_rows(container: Container, ws: str) -> list[tuple[object, ...]]:
    with container.db.read() as cur:
        return cur.execute(
            "SELECT i.type, i.value, i.contact_id, c.merged_into FROM identities i"
            " LEFT JOIN contacts c ON c.id = i.contact_id WHERE i.workspace_id = ?"
            " ORDER BY i.contact_id, i.type",
            [ws],
        ).fetchall()


def test_merge_then_unmerge_restores_both_contacts_exactly(
    container: Container, ws: Workspace
) -> None:
    winner, loser = _anonymous_then_identified(container, ws)
    container.db.write(container.identity.flush)
    before = {c: full_state(container, c) for c in (winner, loser)}
    (login,) = resolve(container, [msg(ws.id, "identify", user="u1", anon="phone", minutes=2)])
    assert login.contact_id == winner
    merged = contact_row(container, winner)
    assert merged["attributes"] == {"name": "Ann", "plan": "free", "city": "Lviv"}
    (m,) = merges(container, ws.id)
    out = container.identity.unmerge(workspace_id=ws.id, merge_id=m["id"])
    assert out == {"winner_id": winner, "loser_id": loser}
    assert {c: full_state(container, c) for c in (winner, loser)} == before
    assert owner(container, ws.id, "anonymous_id", "phone") == loser
    (again,) = resolve(container, [msg(ws.id, anon="phone", minutes=3)])
    assert again.contact_id == loser


def test_identifier_first_seen_after_merge_stays_with_winner(
    container: Container, ws: Workspace
) -> None:
    winner, loser = _anonymous_then_identified(container, ws)
    (login,) = resolve(container, [msg(ws.id, "identify", user="u1", anon="phone", minutes=2)])
    # CI failed here once (session 24) with no merge stored, not reproduced in 2,000 runs:
    # a recurrence says whether the login resolved elsewhere or its merge went missing
    stored = merges(container, ws.id)
    assert (login.contact_id, len(stored)) == (winner, 1), (
        winner, loser, login, stored, _identity_rows(container, ws.id),
    )  # fmt: skip
    resolve(container, [msg(ws.id, user="u1", anon="watch", minutes=3)])
    (m,) = merges(container, ws.id)
    container.identity.unmerge(workspace_id=ws.id, merge_id=m["id"])
    assert owner(container, ws.id, "anonymous_id", "watch") == winner
    assert owner(container, ws.id, "anonymous_id", "phone") == loser


def test_unmerge_is_refused_while_a_later_merge_stands(container: Container, ws: Workspace) -> None:
    _anonymous_then_identified(container, ws)
    resolve(container, [msg(ws.id, anon="tv", minutes=2)])
    resolve(container, [msg(ws.id, "identify", user="u1", anon="phone", minutes=3)])
    resolve(container, [msg(ws.id, "identify", user="u1", anon="tv", minutes=4)])
    first, second = merges(container, ws.id)
    client_error = None
    try:
        container.identity.unmerge(workspace_id=ws.id, merge_id=first["id"])
    except Exception as exc:  # ApiError
        client_error = exc
    assert getattr(client_error, "status", None) == 409
    container.identity.unmerge(workspace_id=ws.id, merge_id=second["id"])
    container.identity.unmerge(workspace_id=ws.id, merge_id=first["id"])
    assert all(m["reverted_at"] is not None for m in merges(container, ws.id))


def test_merge_history_and_unmerge_over_http(
    client: TestClient, container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    winner, loser = _anonymous_then_identified(container, ws)
    (login,) = resolve(container, [msg(ws.id, "identify", user="u1", anon="phone", minutes=2)])
    stored = merges(container, ws.id)
    assert (login.contact_id, len(stored)) == (winner, 1), (winner, loser, login, stored)
    r = client.get(f"/api/v1/contacts/{winner}/merges", headers=ws.api_headers)
    assert r.status_code == 200, r.text
    (item,) = r.json()
    assert item["winner_id"] == winner
    assert item["loser_id"] == loser
    assert item["rule"] == "anonymous_history"
    assert item["inputs"] == [{"type": "anonymous_id", "value": "phone"}]
    assert item["reverted_at"] is None
    assert set(item) == {
        "id", "merged_at", "winner_id", "loser_id", "rule", "inputs",
        "trigger_message_id", "reverted_at",
    }  # fmt: skip
    assert client.get(f"/api/v1/contacts/{winner}/merges").status_code == 401
    assert client.post(f"/api/v1/merges/{item['id']}/unmerge").status_code == 401
    foreign = client.get(f"/api/v1/contacts/{winner}/merges", headers=other_ws.api_headers)
    assert foreign.status_code == 404
    assert foreign.json()["error"]["code"] == "not_found"
    r = client.post(f"/api/v1/merges/{item['id']}/unmerge", headers=other_ws.api_headers)
    assert r.status_code == 404
    r = client.post(f"/api/v1/merges/{item['id']}/unmerge", headers=ws.api_headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"winner_id": winner, "loser_id": loser}
    r = client.post(f"/api/v1/merges/{item['id']}/unmerge", headers=ws.api_headers)
    assert r.status_code == 409
    history = client.get(f"/api/v1/contacts/{loser}/merges", headers=ws.api_headers).json()
    assert history[0]["reverted_at"] is not None
