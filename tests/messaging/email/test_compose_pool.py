"""The compose pool: worker processes compose what the sender composed in process, in order;
render errors stay per-send failures; a dead worker loses nothing; workers die with their
parent (``PR_SET_PDEATHSIG``)."""

from __future__ import annotations

import asyncio
import email
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import dkim
import pytest
from fastapi.testclient import TestClient

from retenta.app import Container
from retenta.messaging.channels.base import SendResult
from retenta.messaging.email import compose_pool
from retenta.messaging.email.compose_pool import Built, Composed, ComposePool, Job, Kit
from retenta.messaging.email.mime import OutgoingEmail
from retenta.messaging.email.profiles import DkimSettings, SendingProfile
from retenta.messaging.outbox.content import StaticEmail
from retenta.messaging.services import for_container
from tests.conftest import Workspace
from tests.messaging.content.helpers import create_block, create_message, message
from tests.messaging.dkimkeys import dns_for
from tests.messaging.outbox.helpers import KEY, SPLIT

ROOT = Path(__file__).resolve().parents[3]


def profile() -> SendingProfile:
    return SendingProfile(
        name="promo",
        from_address="news@shop.example",
        unsubscribe_base_url="https://r.shop.example/u/",
        dkim=DkimSettings(
            domain=KEY.domain, selector=KEY.selector, private_key_pem=KEY.private_pem.decode()
        ),
    )


def job(n: int, *, language: str | None = "en", data: dict[str, object] | None = None) -> Job:
    contact = {"contact_id": n, "email": f"c{n}@example.com", "first_name": f"Name{n}"}
    return Job(
        send_id=f"snd_t{n}",
        contact_id=n,
        email=f"c{n}@example.com",
        campaign_id="cmp_1",
        variables={"contact": contact, "data": data or {}, "locale": "en", "timezone": "UTC"},
        languages=(None, language),
    )


@pytest.fixture
def kit(client: TestClient, container: Container, ws: Workspace) -> Kit:
    """A stored message made of blocks, resolved as the dispatcher resolves it."""
    block = create_block(client, ws)
    msg = create_message(client, ws, message(block["id"], topic=None))
    svc = for_container(container)
    resolved = svc.content.resolve(ws.id, msg["id"], "email")
    return Kit(ws.id, resolved, profile(), svc.keyring, "https://r.shop.example")


@pytest.fixture
def pool() -> Iterator[ComposePool]:
    made = ComposePool(1)
    yield made
    asyncio.run(made.close())


async def collect(stream: AsyncIterator[Composed]) -> list[Composed]:
    return [item async for item in stream]


def html_of(message: OutgoingEmail) -> str:
    parsed = email.message_from_bytes(message.data, policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    part = parsed.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def test_workers_compose_what_the_sender_composes_in_order(kit: Kit, pool: ComposePool) -> None:
    jobs = [job(n, language=("uk" if n % 3 == 0 else "en")) for n in range(150)]
    pooled = asyncio.run(collect(pool.stream(kit, jobs)))
    here = [Built(kit).compose(j) for j in jobs]
    assert [m.send_id for m in pooled] == [j.send_id for j in jobs]
    assert pool.fallbacks == 0
    assert pool.pids()
    assert os.getpid() not in pool.pids()
    for ours, theirs in zip(pooled, here, strict=True):
        assert isinstance(ours, OutgoingEmail)
        assert isinstance(theirs, OutgoingEmail)
        assert (ours.mail_from, ours.rcpt_to, ours.message_id) == (
            theirs.mail_from,
            theirs.rcpt_to,
            theirs.message_id,
        )
        assert html_of(ours) == html_of(theirs)  # same render, tracked links, open pixel
    assert "Привіт, Name0" in html_of(pooled[0])
    assert "Hello Name1" in html_of(pooled[1])
    assert "/t/o/" in html_of(pooled[1])  # the open pixel
    assert all(dkim.verify(m.data, dnsfunc=dns_for(KEY)) for m in pooled[:5])  # type: ignore[union-attr]


def test_the_kit_goes_to_a_worker_once(kit: Kit, pool: ComposePool) -> None:
    jobs = [job(n) for n in range(100)]
    asyncio.run(collect(pool.stream(kit, jobs)))
    shipped = dict(pool._kits)
    asyncio.run(collect(pool.stream(kit, jobs)))
    assert dict(pool._kits) == shipped  # one key for this content version and profile
    (key,) = {found[1] for found in shipped.values()}
    assert pool._workers[0].kits == {key}


def test_a_worker_without_the_kit_gets_it_again(kit: Kit, pool: ComposePool) -> None:
    jobs = [job(n) for n in range(100)]
    asyncio.run(collect(pool.stream(kit, jobs)))
    worker = pool._workers[0]
    believed = set(worker.kits)
    worker.broken()  # a fresh process that holds no kit, while we believe it holds ours
    worker.start()
    worker.kits = believed
    again = asyncio.run(collect(pool.stream(kit, jobs)))
    assert [r.send_id for r in again] == [j.send_id for j in jobs]
    assert all(isinstance(r, OutgoingEmail) for r in again)
    assert pool.fallbacks == 0  # composed by the worker, once the kit came along


def test_a_render_error_is_that_sends_failure(ws: Workspace, pool: ComposePool) -> None:
    from retenta.messaging.signing import Keyring

    kit = Kit(ws.id, StaticEmail(SPLIT, "transactional"), profile(), Keyring(b"x" * 16), None)
    jobs = [job(n, data={"n": 0 if n == 70 else 2}) for n in range(100)]
    results = asyncio.run(collect(pool.stream(kit, jobs)))
    assert [r.send_id for r in results] == [j.send_id for j in jobs]
    failed = [r for r in results if isinstance(r, SendResult)]
    assert [(f.send_id, f.detail) for f in failed] == [("snd_t70", "render_error")]
    assert failed[0].reason.startswith("split[en].subject, line 1: ZeroDivisionError")
    assert pool.fallbacks == 0


def test_a_dead_worker_loses_nothing(kit: Kit, pool: ComposePool) -> None:
    jobs = [job(n) for n in range(400)]

    async def killed_midway() -> list[Composed]:
        out = []
        async for item in pool.stream(kit, jobs):
            out.append(item)
            if len(out) == compose_pool.CHUNK:  # the worker has chunks queued and in hand
                for pid in pool.pids():
                    os.kill(pid, signal.SIGKILL)
        return out

    results = asyncio.run(killed_midway())
    assert [r.send_id for r in results] == [j.send_id for j in jobs]  # each once, in order
    assert all(isinstance(r, OutgoingEmail) for r in results)
    assert pool.fallbacks >= 1  # composed here
    again = asyncio.run(collect(pool.stream(kit, jobs[:100])))  # a new worker, the kit again
    assert [r.send_id for r in again] == [j.send_id for j in jobs[:100]]
    assert pool.pids()


def test_small_groups_and_zero_workers_compose_in_process(kit: Kit) -> None:
    pool = ComposePool(0)
    results = asyncio.run(collect(pool.stream(kit, [job(n) for n in range(100)])))
    assert len(results) == 100
    assert pool.pids() == []
    one = ComposePool(1)
    few = asyncio.run(collect(one.stream(kit, [job(n) for n in range(3)])))
    assert len(few) == 3
    assert one.pids() == []


def test_content_that_will_not_pickle_is_composed_here(kit: Kit, pool: ComposePool) -> None:
    class Local:  # a class defined in a function does not pickle
        def __init__(self, inner: object) -> None:
            self.inner = inner

        def render(self, variables: object, languages: object = None) -> object:
            return self.inner.render(variables, languages)  # type: ignore[attr-defined]

    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(Local(kit.resolved))
    odd = Kit(kit.workspace_id, Local(kit.resolved), kit.profile, kit.keyring, None)
    results = asyncio.run(collect(pool.stream(odd, [job(n) for n in range(80)])))
    assert len(results) == 80
    assert all(isinstance(r, OutgoingEmail) for r in results)


def test_default_size() -> None:
    assert compose_pool.default_workers(1) == 1
    assert compose_pool.default_workers(2) == 1
    assert compose_pool.default_workers(16) == 15
    with pytest.raises(ValueError, match="0"):
        ComposePool(-1)


CHILD = """
import asyncio, sys
from retenta.messaging.email.compose_pool import ComposePool, _compose_chunk
pool = ComposePool(1)
future = pool._workers[0].start().submit(_compose_chunk, "k", None, [])
try:
    future.result()
except LookupError:
    pass
print(pool.pids()[0], flush=True)
sys.stdin.read()
"""


def test_workers_die_with_their_parent() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    worker = int(child.stdout.readline())
    os.kill(worker, 0)  # alive
    child.kill()
    child.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and alive(worker):
        time.sleep(0.05)
    assert not alive(worker)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has died
