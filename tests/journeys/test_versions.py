"""Editing a live journey: runs in flight stay on their version or move by an explicit rule;
the versions API and the per-node counts the canvas polls."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.journeys import versions
from retenta.journeys.service import for_container
from tests.conftest import Workspace
from tests.journeys.durable_helpers import decisions, run_rows, send_rows, sign_up, waits
from tests.journeys.test_runs import journey


def three_waiting(client: TestClient, container: Container, ws: Workspace) -> str:
    journey_id = journey(client, ws, waits(days=3))
    sign_up(client, ws, "u1", "u2", "u3")
    assert for_container(container).runner.tick(datetime.now(UTC)) == 3
    assert {r[1:] for r in run_rows(container, journey_id)} == {(1, "active", "wait")}
    return journey_id


def put(client: TestClient, ws: Workspace, journey_id: str, doc: dict[str, Any]) -> Any:
    answer = client.put(f"/api/v1/journeys/{journey_id}", headers=ws.api_headers, json=doc)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_move_with_a_node_map_takes_runs_to_the_new_version(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    journey_id = three_waiting(client, container, ws)
    doc = {**waits(days=1, wait_id="pause", bye="msg_bye_v2"),
           "migrate": {"mode": "move", "node_map": {"wait": "pause"}}}  # fmt: skip
    answer = put(client, ws, journey_id, doc)
    assert answer["version"] == 2
    assert answer["migration"] == {"mode": "move", "moved": 3, "stayed": 0, "reasons": {}}
    assert {r[1:] for r in run_rows(container, journey_id)} == {(2, "active", "pause")}
    assert decisions(container, journey_id, "moved") == 3
    runner, now = for_container(container).runner, datetime.now(UTC)
    runner.tick(now + timedelta(hours=23))  # the new wait (1 day) counts from the move
    assert {r[2] for r in run_rows(container, journey_id)} == {"active"}
    runner.tick(now + timedelta(days=1, minutes=1))
    assert {r[2] for r in run_rows(container, journey_id)} == {"done"}
    messages = [m for _, m in send_rows(container, journey_id)]
    assert sorted(set(messages)) == ["msg_bye_v2", "msg_hello"]
    assert messages.count("msg_bye_v2") == 3


def test_move_keeps_a_node_of_the_same_id_and_its_clock(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    journey_id = three_waiting(client, container, ws)
    put(client, ws, journey_id, {**waits(days=1), "migrate": {"mode": "move"}})
    runner, now = for_container(container).runner, datetime.now(UTC)
    runner.tick(now + timedelta(days=1, minutes=1))  # 1 day from entry, not from the move
    assert {r[1:] for r in run_rows(container, journey_id)} == {(2, "done", "done")}


def test_runs_whose_node_is_gone_stay_and_the_answer_says_why(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    journey_id = three_waiting(client, container, ws)
    answer = put(client, ws, journey_id, {**waits(days=1, wait_id="pause"),
                                          "migrate": {"mode": "move"}})  # fmt: skip
    assert answer["migration"]["moved"] == 0
    assert answer["migration"]["stayed"] == 3
    assert answer["migration"]["reasons"] == {"node 'wait' is not in version 2": 3}
    runner, now = for_container(container).runner, datetime.now(UTC)
    runner.tick(now + timedelta(days=2))
    assert {r[1:] for r in run_rows(container, journey_id)} == {(1, "active", "wait")}
    runner.tick(now + timedelta(days=3, minutes=1))  # version 1's wait, version 1's message
    assert {r[2] for r in run_rows(container, journey_id)} == {"done"}
    assert [m for _, m in send_rows(container, journey_id)].count("msg_bye") == 3


def test_stay_is_the_default_and_new_runs_start_on_the_new_version(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    journey_id = three_waiting(client, container, ws)
    answer = put(client, ws, journey_id, waits(days=1, bye="msg_bye_v2"))
    assert answer["migration"] == {"mode": "stay", "moved": 0, "stayed": 3,
                                   "reasons": {"the rule is stay": 3}}  # fmt: skip
    sign_up(client, ws, "u4")
    for_container(container).runner.tick(datetime.now(UTC))
    versions = sorted(r[1] for r in run_rows(container, journey_id))
    assert versions == [1, 1, 1, 2]
    listed = client.get(f"/api/v1/journeys/{journey_id}/versions", headers=ws.api_headers)
    assert [(v["version"], v["runs_active"]) for v in listed.json()["versions"]] == [(2, 1), (1, 3)]
    assert listed.json()["versions"][0]["migration"]["stayed"] == 3
    one = client.get(f"/api/v1/journeys/{journey_id}/versions/1", headers=ws.api_headers).json()
    assert one["version"] == 1
    assert one["definition"]["nodes"][2]["message_id"] == "msg_bye"
    missing = client.get(f"/api/v1/journeys/{journey_id}/versions/9", headers=ws.api_headers)
    assert missing.status_code == 404


def test_a_bad_migration_rule_is_refused_with_its_field_and_saves_nothing(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    journey_id = three_waiting(client, container, ws)
    url = f"/api/v1/journeys/{journey_id}"
    cases = [
        ({"mode": "jump"}, "migrate.mode"),
        ({"mode": "move", "node_map": {"wait": "nowhere"}}, "migrate.node_map.wait"),
        ({"mode": "move", "node_map": {"typo": "wait"}}, "migrate.node_map.typo"),
        ({"mode": "move", "extra": 1}, "migrate.extra"),
    ]
    for rule, field in cases:
        answer = client.put(url, headers=ws.api_headers, json={**waits(), "migrate": rule})
        assert answer.status_code == 422, (rule, answer.text)
        assert answer.json()["error"]["field"] == field
    assert client.get(url, headers=ws.api_headers).json()["version"] == 1


def test_stats_count_entered_waiting_and_exited_per_node(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    journey_id = three_waiting(client, container, ws)
    url = f"/api/v1/journeys/{journey_id}/stats"
    stats = client.get(url, headers=ws.api_headers).json()
    assert stats["nodes"]["hello"]["entered"] == 3
    assert stats["nodes"]["wait"] == {"entered": 3, "waiting": 3, "converted": 0, "exited": 0}
    assert stats["totals"]["active"] == 3
    for_container(container).runner.tick(datetime.now(UTC) + timedelta(days=4))
    stats = client.get(url, headers=ws.api_headers).json()
    assert stats["nodes"]["wait"]["waiting"] == 0
    assert stats["nodes"]["done"]["exited"] == 3
    assert stats["totals"] == {"entered": 3, "active": 0, "done": 3, "stopped": 0,
                               "exited": 3, "converted": 0}  # fmt: skip
    assert client.get("/api/v1/journeys/jny_nope/stats", headers=ws.api_headers).status_code == 404


def test_pause_holds_runs_and_resume_lets_overdue_timers_fire(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    journey_id = three_waiting(client, container, ws)
    runner, later = for_container(container).runner, datetime.now(UTC) + timedelta(days=4)
    client.post(f"/api/v1/journeys/{journey_id}/pause", headers=ws.api_headers)
    assert runner.tick(later) == 0
    client.post(f"/api/v1/journeys/{journey_id}/resume", headers=ws.api_headers)
    assert runner.tick(later + timedelta(seconds=1)) == 3
    assert {r[2] for r in run_rows(container, journey_id)} == {"done"}


def test_doctests() -> None:
    result = doctest.testmod(versions)
    assert result.attempted > 0
    assert result.failed == 0
