"""``/api/v1/signals``: thresholds per workspace (checked by field) and a pass on demand; the
view window decides who hears of a price drop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from tests.conftest import Workspace


def test_settings_default_checked_saved_and_used(client: TestClient, ws: Workspace) -> None:
    h = ws.api_headers
    shown = client.get("/api/v1/signals/settings", headers=h).json()
    assert shown["settings"]["view_days"] == 14
    assert shown["help"]["view_days"]
    bad = client.put("/api/v1/signals/settings", headers=h, json={"view_days": 0})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "view_days"
    unknown = client.put("/api/v1/signals/settings", headers=h, json={"viewdays": 3})
    assert unknown.status_code == 422
    saved = client.put("/api/v1/signals/settings", headers=h, json={"view_days": 2})
    assert saved.json()["settings"]["view_days"] == 2
    assert client.get("/api/v1/signals/settings", headers=h).json()["settings"]["view_days"] == 2

    product = {"sku": "LAMP", "name": "Lamp", "price": 90}
    put = client.put("/api/v1/catalog/products", headers=h, json={"products": [product]})
    assert put.status_code == 200, put.text
    lately, long_ago = "lately", "long-ago"
    for user, at in (
        (lately, datetime.now(UTC)),
        (long_ago, datetime.now(UTC) - timedelta(days=3)),
    ):
        sent = client.post("/v1/track", auth=ws.write_auth, json={
            "userId": user, "event": "Product Viewed", "properties": product,
            "timestamp": at.isoformat()})  # fmt: skip
        assert sent.status_code == 200
    cheaper = {"products": [{**product, "price": 60}]}
    assert client.put("/api/v1/catalog/products", headers=h, json=cheaper).status_code == 200
    ran = client.post("/api/v1/signals/run", headers=h, json={"daily": False}).json()
    assert ran["catalog_changes"] == 1
    assert ran["catalog_signals"] == 1  # only the view inside the 2-day window
    again = client.post("/api/v1/signals/run", headers=h, json={"daily": True}).json()
    assert again["catalog_changes"] == 0
    assert again["daily_signals"] == 0  # nobody has bought anything here


def test_only_admins_change_settings(client: TestClient, ws: Workspace) -> None:
    analyst = client.put("/api/v1/signals/settings", json={"view_days": 3})
    assert analyst.status_code == 401
