"""The signal service in a running server: a catalog change wakes it (the hook in the
catalog upsert), and the price drop reaches the viewer within a second or two."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from retenta.app import build_container, create_app
from retenta.settings import Settings
from retenta.signals.service import for_container as signals
from tests.conftest import make_workspace


def test_a_catalog_change_wakes_the_running_service(tmp_path: Path) -> None:
    container = build_container(Settings(data_dir=tmp_path / "data", background_workers=True))
    ws = make_workspace(container)
    h = ws.api_headers
    signals(container).interval_s = 3600  # no timed pass in this test: only a wake can do it
    try:
        with TestClient(create_app(container)) as client:
            lamp = {"sku": "LAMP", "name": "Lamp", "price": 90}
            assert client.put("/api/v1/catalog/products", headers=h,
                              json={"products": [lamp]}).status_code == 200  # fmt: skip
            view = {"userId": "u1", "event": "Product Viewed", "properties": {"sku": "LAMP"}}
            seen = client.post("/v1/track", auth=ws.write_auth, json=view)
            assert seen.status_code == 200
            time.sleep(0.5)  # the service's first passes are done
            started = time.monotonic()
            cheaper = {"products": [{**lamp, "price": 70}]}
            assert (
                client.put("/api/v1/catalog/products", headers=h, json=cheaper).status_code == 200
            )
            while time.monotonic() - started < 20:  # a busy 2-core machine: generous
                with container.db.read() as cur:
                    found = cur.execute(
                        "SELECT count(*) FROM all_events WHERE event = 'Price Dropped'"
                    ).fetchone()[0]
                if found:
                    break
                time.sleep(0.05)
            assert found == 1
    finally:
        container.close()
