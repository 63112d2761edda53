"""Promo codes: the alphabet and check character, pools over HTTP, issuing under concurrency
(never twice, one per contact per message), expiry, and redemption read from real orders."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging import promocodes as pc
from retenta.messaging.promo_store import Claim
from retenta.messaging.services import build
from tests.conftest import Workspace

URL = "/api/v1/promo-pools"


def test_alphabet_leaves_out_ambiguous_characters() -> None:
    assert not set("0O1IL") & set(pc.ALPHABET)
    assert len(pc.ALPHABET) == len(set(pc.ALPHABET)) == 31


def test_check_character_catches_every_single_typo_and_neighbour_swap() -> None:
    code = pc.generate(10)
    assert pc.valid(code)
    for i in range(len(code)):
        for c in pc.ALPHABET:
            if c != code[i]:
                assert not pc.valid(code[:i] + c + code[i + 1 :]), (code, i, c)
    for i in range(len(code) - 1):
        if code[i] != code[i + 1]:
            swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
            assert not pc.valid(swapped), (code, i)


def pool(client: TestClient, ws: Workspace, **body: Any) -> dict[str, Any]:
    response = client.post(URL, headers=ws.api_headers, json={"name": "Spring", **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_generated_pool_over_http(client: TestClient, ws: Workspace, other_ws: Workspace) -> None:
    created = pool(client, ws, prefix="SPR", length=8)
    pid, h = created["id"], ws.api_headers
    added = client.post(f"{URL}/{pid}/codes", headers=h, json={"generate": 500})
    assert added.status_code == 201, added.text
    assert added.json() == {"added": 500, "skipped": 0}
    got = client.get(f"{URL}/{pid}", headers=h).json()
    assert (got["codes"], got["issued"], got["available"], got["redeemed"]) == (500, 0, 500, 0)
    assert got["guess_odds"] == 500 / 31**8
    assert client.get(f"{URL}/{pid}", headers=other_ws.api_headers).status_code == 404

    first = client.post(
        f"{URL}/{pid}/issue", headers=h, json={"message_id": "msg_1", "contact_ids": [1, 2, 3]}
    ).json()
    codes = first["codes"]
    assert len(set(codes.values())) == 3
    assert all(code.startswith("SPR") and pc.valid(code, prefix="SPR") for code in codes.values())
    again = client.post(
        f"{URL}/{pid}/issue", headers=h, json={"message_id": "msg_1", "contact_ids": [3, 2, 4]}
    ).json()["codes"]
    assert again["2"] == codes["2"]  # one code per contact per message
    assert again["3"] == codes["3"]
    assert again["4"] not in codes.values()
    other_message = client.post(
        f"{URL}/{pid}/issue", headers=h, json={"message_id": "msg_2", "contact_ids": [1]}
    ).json()["codes"]
    assert other_message["1"] != codes["1"]
    assert client.get(f"{URL}/{pid}", headers=h).json()["issued"] == 5

    # a pool of 6-character codes holding 90,000 would make one guess in ~10,000 a hit
    short = pool(client, ws, length=6)
    refused = client.post(f"{URL}/{short['id']}/codes", headers=h, json={"generate": 90_000})
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "generate"
    for bad in ({"generate": 1, "codes": ["A"]}, {}, {"generate": 0}):
        assert client.post(f"{URL}/{pid}/codes", headers=h, json=bad).status_code in (400, 422)
    assert client.post(URL, headers=h, json={"name": "x", "prefix": "low"}).status_code in (
        400,
        422,
    )


def test_imported_codes_expiry_and_redemption_from_orders(
    client: TestClient, ws: Workspace
) -> None:
    h = ws.api_headers
    imported = pool(client, ws, kind="imported")
    pid = imported["id"]
    bad = client.post(f"{URL}/{pid}/codes", headers=h, json={"codes": ["GOOD-1", "no way!"]})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "codes[1]"
    response = client.post(
        f"{URL}/{pid}/codes", headers=h, json={"codes": ["welcome-10", "WELCOME-10", "vip_20"]}
    )
    assert response.json() == {"added": 2, "skipped": 1}
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    client.post(f"{URL}/{pid}/codes", headers=h, json={"codes": ["OLD-5"], "expires_at": past})
    people = [
        client.post(
            "/api/v1/contacts", headers=h, json={"identifiers": {"email": f"p{n}@example.com"}}
        ).json()["id"]
        for n in range(3)
    ]
    issued = client.post(
        f"{URL}/{pid}/issue", headers=h, json={"message_id": "m", "contact_ids": people}
    ).json()
    assert sorted(c for c in issued["codes"].values() if c) == ["VIP_20", "WELCOME-10"]
    assert len(issued["missing"]) == 1  # the expired code is never issued
    assert client.get(f"{URL}/{pid}/codes/old-5", headers=h).json()["expired"] is True

    welcome_holder = next(int(c) for c, code in issued["codes"].items() if code == "WELCOME-10")
    order = {
        "order_id": "A-1", "contact_id": welcome_holder, "total": 40, "currency": "EUR",
        "coupon": "welcome-10", "placed_at": datetime.now(UTC).isoformat(),
    }  # fmt: skip
    placed = client.post("/api/v1/orders", headers=h, json={"orders": [order]})
    assert placed.status_code < 400, placed.text
    code = client.get(f"{URL}/{pid}/codes/WELCOME-10", headers=h).json()
    assert [(r["order_id"], r["contact_id"]) for r in code["redemptions"]] == [
        ("A-1", welcome_holder)
    ]
    assert code["contact_id"] == welcome_holder
    assert client.get(f"{URL}/{pid}", headers=h).json()["redeemed"] == 1
    assert client.get(f"{URL}/{pid}/codes/NOPE-1", headers=h).status_code == 404


def test_codes_are_never_issued_twice_under_concurrency(
    container: Container, ws: Workspace
) -> None:
    import asyncio

    store = build(container).promo
    created = asyncio.run(
        store.create_pool(ws.id, name="c", kind="generated", length=8, prefix="", expires_at=None)
    )
    pid = created["id"]
    asyncio.run(store.generate(ws.id, pid, 250))
    results: list[tuple[str, dict[int, str | None]]] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(n: int) -> None:
        message = f"msg_{n % 3}"  # three messages, each asked by several threads at once
        contacts = [Claim(c) for c in range(n * 10, n * 10 + 40)]  # overlapping contacts
        start.wait()
        for batch in (contacts[:20], contacts[20:], contacts[10:30]):
            got = store.issue(ws.id, pid, message, batch)
            with lock:
                results.append((message, got))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    per_pair: dict[tuple[str, int], set[str]] = {}
    for message, got in results:
        for contact, code in got.items():
            if code is not None:
                per_pair.setdefault((message, contact), set()).add(code)
    assert all(len(codes) == 1 for codes in per_pair.values())  # one code per contact+message
    all_codes = [next(iter(codes)) for codes in per_pair.values()]
    assert len(all_codes) == len(set(all_codes))  # never one code for two pairs
    demanded = {(f"msg_{n % 3}", c) for n in range(8) for c in range(n * 10, n * 10 + 40)}
    assert len(all_codes) == min(len(demanded), 250)  # every free code used before a miss
    with container.db.read() as cur:
        [(issued, distinct)] = cur.execute(
            "SELECT count(*), count(DISTINCT (message_id, contact_id)) FROM promo_codes"
            " WHERE pool_id = ? AND issued_at IS NOT NULL",
            [pid],
        ).fetchall()
    assert issued == distinct == len(all_codes)


def test_a_send_gives_each_contact_one_code_of_the_pool(
    client: TestClient, container: Container, ws: Workspace
) -> None:
    """dispatch with a pool: each email carries its contact's code; the pool running dry
    fails the rest instead of sending them without a code; a resend reuses the codes."""
    import asyncio
    import re

    from retenta.messaging.channels.smtp import SmtpChannel
    from retenta.messaging.context import ContactVars, RenderContext
    from retenta.messaging.dispatch import send_email_batch
    from retenta.messaging.email.mime import Recipient
    from retenta.messaging.email.profiles import Composer, SendingProfile, SendRequest, SmtpServer
    from retenta.messaging.email.render import EmailVersion, compile_email
    from retenta.messaging.signing import new_send_id
    from tests.messaging.smtp_peer import smtp_peer

    svc = build(container)
    mjml = (
        "<mjml><mj-body><mj-section><mj-column><mj-text>Your code: [{{ promo_code }}]"
        "</mj-text></mj-column></mj-section></mj-body></mjml>"
    )
    message = compile_email("code", {"en": EmailVersion(subject="A gift", mjml=mjml)})
    h = ws.api_headers
    people = {}
    for n in range(4):
        body = {"identifiers": {"email": f"c{n}@example.com"},
                "consents": [{"channel": "email", "status": "subscribed"}]}  # fmt: skip
        people[f"c{n}@example.com"] = client.post("/api/v1/contacts", headers=h, json=body).json()[
            "id"
        ]
    pid = pool(client, ws, length=8)["id"]
    client.post(f"{URL}/{pid}/codes", headers=h, json={"generate": 3})

    def send_all() -> tuple[list[Any], list[bytes]]:
        with smtp_peer() as peer:
            prof = SendingProfile(
                name="promo", from_address="news@shop.example",
                smtp=SmtpServer(host="127.0.0.1", port=peer.port, tls="none"),
            )  # fmt: skip
            requests = [
                SendRequest(new_send_id(), Recipient(ws.id, cid, address),
                            RenderContext(contact=ContactVars(contact_id=cid)).variables())
                for address, cid in people.items()
            ]  # fmt: skip

            async def go() -> list[Any]:
                channel = SmtpChannel.for_profile(prof)
                try:
                    return await send_email_batch(
                        db=container.db, gate=svc.gate,
                        composer=Composer(prof, svc.keyring.workspace(ws.id)), channel=channel,
                        email=message, requests=requests, workspace_id=ws.id,
                        message_id="msg_gift", promo=(svc.promo, pid),
                    )  # fmt: skip
                finally:
                    await channel.close()

            results = asyncio.run(go())
            return results, [r.data for r in peer.handler.received]

    results, received = send_all()
    assert [r.detail for r in results].count("promo_exhausted") == 1
    codes = {re.search(rb"Your code: \[([A-Z0-9]+)\]", d).group(1) for d in received}  # type: ignore[union-attr]
    assert len(received) == len(codes) == 3
    assert all(pc.valid(code.decode()) for code in codes)
    _, again = send_all()
    assert {re.search(rb"\[([A-Z0-9]+)\]", d).group(1) for d in again} == codes  # type: ignore[union-attr]


def test_openapi_lists_the_messaging_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/promo-pools", "/api/v1/promo-pools/{pool_id}/codes",
        "/api/v1/promo-pools/{pool_id}",
        "/api/v1/suppressions", "/api/v1/suppressions/{value}", "/api/v1/messages/engagement",
    ):  # fmt: skip
        assert path in paths, path
    assert not any(p.startswith(("/t/", "/u/")) for p in paths)  # public links stay out
