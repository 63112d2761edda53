"""A live trickle of believable shop traffic through the real ingestion pipeline.

Visits are scripted up front (``visit_script``, pure) and played back a few events per
second, interleaved across several open visits, as ``Message`` objects handed to
``IngestPipeline.ingest`` — so identity resolution and the commerce appliers do their
real work and the dashboard moves. New visitors arrive anonymously and some register
(their anonymous history then belongs to the new contact).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from retenta.core.messages import Message
from retenta.demo.catalog import CURRENCY, STORE_URL
from retenta.storage.base import Database

log = logging.getLogger(__name__)

FIRST_NAMES = ("Olena", "Andrii", "Iryna", "Maksym", "Sofiia", "Dmytro", "Anna", "Piotr", "Kate")
LAST_NAMES = ("Shevchenko", "Kovalenko", "Bondarenko", "Nowak", "Tkachenko", "Smith", "Melnyk")


class Ingest(Protocol):
    async def ingest(self, messages: Sequence[Message]) -> Any: ...


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    category: str
    brand: str
    price: float


@dataclass(frozen=True)
class Visitor:
    """Who is browsing: a known person (user_id) or an anonymous browser."""

    anonymous_id: str
    user_id: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Step:
    """One event of a scripted visit, before it gets its id and time."""

    type: str
    event: str | None
    properties: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)
    user_id: str | None = None


def product_props(p: Product) -> dict[str, Any]:
    return {
        "product_id": p.sku,
        "sku": p.sku,
        "name": p.name,
        "category": p.category,
        "brand": p.brand,
        "price": p.price,
        "currency": CURRENCY,
    }


def _signup(rnd: random.Random, visitor: Visitor) -> tuple[Visitor, list[Step]]:
    first, last = rnd.choice(FIRST_NAMES), rnd.choice(LAST_NAMES)
    suffix = uuid.UUID(int=rnd.getrandbits(128)).hex[:8]
    user_id = f"live-{suffix}"
    email = f"{first}.{last}.{suffix}@gmail.com".lower()
    traits = {"firstName": first, "lastName": last, "name": f"{first} {last}", "email": email}
    known = Visitor(visitor.anonymous_id, user_id, email)
    return known, [
        Step("identify", None, traits=traits, user_id=user_id),
        Step("track", "Signed Up", {"method": "email"}, user_id=user_id),
    ]


def _order_steps(rnd: random.Random, cart: list[Product], user_id: str | None) -> list[Step]:
    order_id = f"LIVE-{uuid.UUID(int=rnd.getrandbits(128)).hex[:12].upper()}"
    total = round(sum(p.price for p in cart), 2)
    products = [{**product_props(p), "quantity": 1} for p in cart]
    props = {
        "order_id": order_id,
        "total": total,
        "revenue": total,
        "currency": CURRENCY,
        "shipping": 0,
        "discount": 0,
        "channel": "online",
        "products": products,
    }
    return [
        Step(
            "track",
            "Checkout Started",
            {"order_id": order_id, "value": total, "currency": CURRENCY},
            user_id=user_id,
        ),
        Step("track", "Order Completed", props, user_id=user_id),
    ]


def visit_script(
    rnd: random.Random, visitor: Visitor, catalog: Sequence[Product]
) -> tuple[Visitor, list[Step]]:
    """One visit: landing, maybe a search, product views, maybe a cart, sign-up or order.

    >>> cat = [Product("SKU-1", "Mug", "Home/Kitchen/Mugs", "Hata", 199.0)]
    >>> who, steps = visit_script(random.Random(3), Visitor("a-1"), cat)
    >>> steps[0].event, steps[1].type in ("track", "identify")
    ('Home', True)
    """
    steps = [Step("page", "Home", {"path": "/", "url": f"{STORE_URL}/"}, user_id=visitor.user_id)]
    if visitor.user_id is None and rnd.random() < 0.25:
        visitor, signup = _signup(rnd, visitor)
        steps += signup
    uid = visitor.user_id
    if rnd.random() < 0.3:
        steps.append(
            Step(
                "track",
                "Products Searched",
                {"query": rnd.choice(catalog).category.split("/")[-1].lower()},
                user_id=uid,
            )
        )
    viewed = [rnd.choice(catalog) for _ in range(rnd.randint(1, 4))]
    steps += [Step("track", "Product Viewed", product_props(p), user_id=uid) for p in viewed]
    cart = viewed[: rnd.randint(1, 2)] if rnd.random() < 0.3 else []
    steps += [
        Step("track", "Product Added", {**product_props(p), "quantity": 1}, user_id=uid)
        for p in cart
    ]
    if cart and uid is not None and rnd.random() < 0.5:
        steps += _order_steps(rnd, cart, uid)
    return visitor, steps


def to_message(
    workspace_id: str, visitor: Visitor, step: Step, context: dict[str, Any], now: datetime
) -> Message:
    """The ``Message`` a Segment client would have produced for this step, received now."""
    return Message(
        workspace_id=workspace_id,
        message_id=str(uuid.uuid4()),
        type=step.type,  # type: ignore[arg-type]
        timestamp=now,
        received_at=now,
        event=step.event,
        user_id=step.user_id,
        anonymous_id=visitor.anonymous_id,
        original_timestamp=now,
        sent_at=now,
        properties=dict(step.properties),
        traits=dict(step.traits),
        context=context,
        source="demo",
    )


@dataclass
class OpenVisit:
    visitor: Visitor
    steps: list[Step]
    context: dict[str, Any]


class LiveTrickle:
    """Plays scripted visits into the pipeline, ``rate`` events per second on average.

    Registered as a lifecycle service: ``start()`` loads people and products to act
    with and starts the loop; ``stop()`` cancels it.
    """

    def __init__(
        self,
        *,
        db: Database,
        ingest: Ingest,
        workspace_id: str,
        rate: float = 3.0,
        seed: int | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.db, self.ingest, self.workspace_id, self.rate = db, ingest, workspace_id, rate
        self.rnd = random.Random(seed)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.catalog: list[Product] = []
        self.known: list[Visitor] = []
        self.visits: list[OpenVisit] = []
        self.sent = 0
        self.failures = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.catalog, self.known = await asyncio.to_thread(self._load)
        if not self.catalog:
            log.warning(
                "demo trickle: no products in workspace %s; not starting", self.workspace_id
            )
            return
        self._task = asyncio.create_task(self._run(), name="demo-trickle")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _load(self) -> tuple[list[Product], list[Visitor]]:
        with self.db.read() as cur:
            products = cur.execute(
                "SELECT sku, name, array_to_string(category_path, '/'), brand,"
                " CAST(coalesce(sale_price, price) AS DOUBLE) FROM products"
                " WHERE workspace_id = ? AND in_stock"
                " USING SAMPLE reservoir(500 ROWS) REPEATABLE (7)",
                [self.workspace_id],
            ).fetchall()
            people = cur.execute(
                "SELECT a.value, e.value FROM identities a"
                " JOIN identities e USING (workspace_id, contact_id)"
                " WHERE a.workspace_id = ? AND a.type = 'anonymous_id' AND e.type = 'external_id'"
                " USING SAMPLE reservoir(2000 ROWS) REPEATABLE (7)",
                [self.workspace_id],
            ).fetchall()
        return [Product(*row) for row in products], [Visitor(a, u) for a, u in people]

    def _new_visit(self) -> OpenVisit:
        returning = self.known and self.rnd.random() < 0.6
        visitor = (
            self.rnd.choice(self.known)
            if returning
            else Visitor(str(uuid.UUID(int=self.rnd.getrandbits(128), version=4)))
        )
        visitor, steps = visit_script(self.rnd, visitor, self.catalog)
        if visitor.user_id is not None and visitor not in self.known:
            self.known.append(visitor)
        octets = [self.rnd.randint(1, 254) for _ in range(3)]
        context = {
            "ip": "93." + ".".join(map(str, octets)),
            "locale": self.rnd.choice(["uk-UA", "ru-UA", "en-GB", "pl-PL"]),
            "device": {"type": self.rnd.choice(["mobile", "desktop"])},
        }
        return OpenVisit(visitor, steps, context)

    def next_batch(self) -> list[Message]:
        """The events due in this tick: one or two steps of a random open visit."""
        while len(self.visits) < 4:
            self.visits.append(self._new_visit())
        visit = self.rnd.choice(self.visits)
        now = self.clock()
        take = min(len(visit.steps), self.rnd.randint(1, 2))
        batch = [
            to_message(self.workspace_id, visit.visitor, s, visit.context, now)
            for s in visit.steps[:take]
        ]
        del visit.steps[:take]
        if not visit.steps:
            self.visits.remove(visit)
        return batch

    async def _run(self) -> None:
        while True:
            batch = self.next_batch()
            try:
                await self.ingest.ingest(batch)
                self.sent += len(batch)
            except Exception:  # keep the demo alive; the pipeline reports its own errors
                self.failures += 1
                log.exception("demo trickle: ingest failed")
                await asyncio.sleep(min(30.0, 2.0 * self.failures))
            await asyncio.sleep(self.rnd.expovariate(self.rate / max(1.5, len(batch))))
