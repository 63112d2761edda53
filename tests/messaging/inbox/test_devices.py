"""Mobile push tokens: found where identity stores them, retired when a provider says so."""

from __future__ import annotations

import asyncio
import doctest
import secrets
from datetime import UTC, datetime, timedelta

from retenta.app import Container
from retenta.messaging.channels.base import Outcome, SendResult
from retenta.messaging.channels.mobile_push import TOKEN_INVALID, MobilePushResult
from retenta.messaging.inbox import devices
from retenta.messaging.inbox.devices import retire, tokens_for
from tests.conftest import Workspace
from tests.identity.helpers import msg, resolve

IOS = secrets.token_hex(32)
ANDROID = "cX9k2Yq:APA91bH" + secrets.token_urlsafe(100)


def identify(container: Container, ws: str, user: str | None, token: str, **kw: object) -> int:
    context = {"device": {"token": token, "type": "ios" if token == IOS else "android"}}
    [m] = resolve(container, [msg(ws, "identify", user=user, context=context, **kw)])  # type: ignore[arg-type]
    assert m.contact_id is not None
    return m.contact_id


def flush(container: Container) -> None:
    container.db.write(lambda conn: container.identity.flush(conn))


def test_doctests() -> None:
    assert doctest.testmod(devices).failed == 0


def test_tokens_come_from_identify_and_follow_merges(container: Container, ws: Workspace) -> None:
    ann = identify(container, ws.id, "ann", IOS)
    tablet = identify(container, ws.id, None, ANDROID, anon="tab-1", traits={"email": "a@x.ex"})
    other = identify(container, ws.id, "bob", secrets.token_hex(32))
    found = tokens_for(container.db, ws.id, [ann, other])
    assert tablet != ann
    assert [(t.token, t.provider) for t in found[ann]] == [(IOS, "apns")]
    assert len(found[other]) == 1
    resolve(container, [msg(ws.id, "identify", user="ann", traits={"email": "a@x.ex"})])
    live = container.identity.lookup(workspace_id=ws.id, id_type="external_id", value="ann")
    assert live is not None
    merged = tokens_for(container.db, ws.id, [live])
    assert {(t.token, t.provider) for t in merged[live]} == {(IOS, "apns"), (ANDROID, "fcm")}


def test_a_dead_token_is_retired_until_identity_sees_it_again(
    container: Container, ws: Workspace, other_ws: Workspace
) -> None:
    ann = identify(container, ws.id, "ann", IOS)
    identify(container, ws.id, "ann", ANDROID)
    identify(container, other_ws.id, "ann", IOS)  # the same device in another workspace
    results: list[SendResult] = [
        MobilePushResult("s1", Outcome.PERMANENT, "410 Unregistered", 410, TOKEN_INVALID,
                         token=IOS),
        MobilePushResult("s2", Outcome.TEMPORARY, "429", 429, "rate_limited", token=ANDROID),
        SendResult("s3", Outcome.PERMANENT, "bounced", 550, TOKEN_INVALID),  # not mobile push
    ]  # fmt: skip
    assert asyncio.run(retire(container.db, ws.id, results)) == 1
    assert [t.token for t in tokens_for(container.db, ws.id, [ann])[ann]] == [ANDROID]
    theirs = container.identity.lookup(workspace_id=other_ws.id, id_type="external_id", value="ann")
    assert theirs is not None
    assert [t.token for t in tokens_for(container.db, other_ws.id, [theirs])[theirs]] == [IOS]
    with container.db.read() as cur:
        row = cur.execute(
            "SELECT reason, send_id FROM retired_push_tokens WHERE workspace_id = ?", [ws.id]
        ).fetchone()
    assert row == (TOKEN_INVALID, "s1")
    later = datetime.now(UTC) + timedelta(minutes=5)  # the app registered the token anew
    identify(container, ws.id, "ann", IOS, at=later)
    flush(container)
    assert {t.token for t in tokens_for(container.db, ws.id, [ann])[ann]} == {IOS, ANDROID}
