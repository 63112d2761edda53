"""``GET|PUT /api/v1/policy`` with priorities, pre-emption and preferences; every refused
field named, with its reason; the held-back log shows who displaced whom."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Workspace

FULL = {
    "caps": [{"channel": "email", "max": 2, "window": "week"}],
    "priorities": {"trigger": 400, "overrides": {"cmp_flash": 500, "jny_cart": 450}},
    "preemption": {"horizon": {"amount": 30, "unit": "minutes"}, "action": "drop"},
    "preferences": {"categories": ["promo", "trigger"], "channels": ["email", "sms"],
                    "frequencies": {"weekly": {"max": 2, "window": "week"}}},
    "default_timezone": "America/New_York",
}  # fmt: skip


def put(client: TestClient, ws: Workspace, body: Any) -> Any:
    return client.put("/api/v1/policy", headers=ws.api_headers, json=body)


def test_priorities_preemption_and_preferences_round_trip(
    client: TestClient, ws: Workspace
) -> None:
    assert put(client, ws, FULL).status_code == 200
    got = client.get("/api/v1/policy", headers=ws.api_headers).json()
    assert got["priorities"] == {"transactional": 300, "trigger": 400, "promo": 100,
                                 "overrides": {"cmp_flash": 500, "jny_cart": 450}}  # fmt: skip
    assert got["preemption"] == {"enabled": True, "action": "drop",
                                 "horizon": {"amount": 30, "unit": "minutes"}}  # fmt: skip
    assert got["preferences"]["frequencies"] == {
        "weekly": {"max": 2, "per": {"amount": 7, "unit": "days"}, "window": "week"}}  # fmt: skip
    assert got["preferences"]["categories"] == ["promo", "trigger"]


def test_the_defaults_say_what_applies(client: TestClient, ws: Workspace) -> None:
    got = client.get("/api/v1/policy", headers=ws.api_headers).json()
    assert (got["priorities"]["transactional"], got["priorities"]["trigger"],
            got["priorities"]["promo"]) == (300, 200, 100)  # fmt: skip
    assert got["preemption"]["enabled"] is True
    assert got["preferences"]["enabled"] is True
    assert set(got["preferences"]["frequencies"]) == {"weekly", "monthly"}


def test_each_refused_field_is_named(client: TestClient, ws: Workspace) -> None:
    cases = {
        "default_timezone": {"default_timezone": "Mars/Olympus"},
        "priorities.trigger": {"priorities": {"trigger": 5000}},
        "priorities.overrides": {"priorities": {"overrides": {"newsletter": 5}}},
        "preemption.horizon.unit": {"preemption": {"horizon": {"amount": 1, "unit": "years"}}},
        "preemption.action": {"preemption": {"action": "skip"}},
        "preferences.frequencies": {"preferences": {"frequencies": {"daily": {"max": 1}}}},
        "preferences.channels.0": {"preferences": {"channels": ["fax"]}},
        "caps.0.per": {"caps": [{"channel": "email", "max": 1, "per": {"amount": 40}}]},
        "caps.0.channel": {"caps": [{"channel": "pigeon", "max": 1}]},
        "caps.0.max": {"caps": [{"channel": "email", "max": -1}]},
        "priorities.urgent": {"priorities": {"urgent": 1}},
    }
    for field, body in cases.items():
        answer = put(client, ws, body)
        assert answer.status_code == 422, (field, answer.text)
        error = answer.json()["error"]
        assert error["field"].startswith(field), (field, error)
        assert error["message"].startswith(error["field"] + ": ")
        assert error["details"][0]["field"] == error["field"]
        assert error["details"][0]["reason"]
    both = put(client, ws, {"caps": [{"channel": "email", "max": -1}], "default_timezone": "X/Y"})
    assert [d["field"] for d in both.json()["error"]["details"]] == [
        "caps.0.max",
        "default_timezone",
    ]
    assert "Mars/Olympus" not in client.get("/api/v1/policy", headers=ws.api_headers).text
