"""One chunk's simulated behaviour as a flat, time-ordered event timeline (pure numpy).

Merges visit events, server-side order events (store purchases, refunds, cancellations),
store sign-ups and e-mail engagement into columns sorted by (person, time), which is the
order the event log is clustered in.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from retenta.demo.behaviour import (
    K_CANCEL,
    K_IDENTIFY,
    K_ORDER,
    K_REFUND,
    K_SHIPPED,
    NEVER,
    OFFLINE,
    Emails,
    Orders,
    Population,
    SessionEvents,
    Sessions,
)
from retenta.demo.model import US_PER_HOUR, US_PER_SECOND, Calendar


@dataclass(frozen=True)
class Timeline:
    """Every event of a chunk, sorted by (person, time); -1 marks "not applicable"."""

    person: np.ndarray
    kind: np.ndarray
    time: np.ndarray
    product: np.ndarray
    qty: np.ndarray
    order: np.ndarray
    cart: np.ndarray  # session index of the cart
    campaign: np.ndarray
    machine: np.ndarray
    device: np.ndarray  # 0/1: which browser; -1: sent by a server (shop till, ESP, back office)
    query: np.ndarray  # leaf index searched for

    @property
    def size(self) -> int:
        return len(self.person)

    def known(self, pop: Population) -> np.ndarray:
        """Events sent with the person's user id: after sign-up, or from a server."""
        return np.asarray((self.device < 0) | (self.time > pop.registered[self.person]))


def _blank(n: int) -> dict[str, np.ndarray]:
    return {
        "product": np.full(n, -1, dtype=np.int64),
        "qty": np.zeros(n, dtype=np.int64),
        "order": np.full(n, -1, dtype=np.int64),
        "cart": np.full(n, -1, dtype=np.int64),
        "campaign": np.full(n, -1, dtype=np.int64),
        "machine": np.zeros(n, dtype=bool),
        "device": np.full(n, -1, dtype=np.int64),
        "query": np.full(n, -1, dtype=np.int64),
    }


def _visit_part(ses: Sessions, ev: SessionEvents) -> dict[str, np.ndarray]:
    return {
        "person": ses.person[ev.session],
        "kind": ev.kind,
        "time": ev.time,
        "product": ev.product,
        "qty": ev.qty,
        "order": ses.order[ev.session],
        "cart": ev.cart,
        "campaign": np.full(len(ev.kind), -1, dtype=np.int64),
        "machine": np.zeros(len(ev.kind), dtype=bool),
        "device": ses.device[ev.session],
        "query": ev.search_query,
    }


def order_placed_at(orders: Orders, ses: Sessions, ev: SessionEvents) -> np.ndarray:
    """When each order was completed: its visit's "Order Completed", or the till time."""
    placed = orders.placed.copy()
    done = ev.kind == K_ORDER
    placed[ses.order[ev.session[done]]] = ev.time[done]
    return placed


def _server_part(
    rng: np.random.Generator, orders: Orders, placed: np.ndarray, cal: Calendar
) -> dict[str, np.ndarray]:
    """Store purchases, refunds and cancellations: sent by back-office systems."""
    till = np.nonzero(orders.offline)[0]
    refunded = np.nonzero(orders.refund_at < NEVER)[0]
    cancelled = np.nonzero(orders.cancelled)[0]
    cancel_at = placed[cancelled] + rng.integers(600, 6 * 3600, len(cancelled)) * US_PER_SECOND
    refund_at = np.maximum(orders.refund_at[refunded], placed[refunded] + US_PER_SECOND)
    ship_at = placed + rng.integers(20, 72, orders.size) * US_PER_HOUR
    shipped = np.nonzero(
        ~orders.offline & ~orders.cancelled & (ship_at < cal.now_us - US_PER_HOUR)
    )[0]
    ship_at = np.minimum(
        ship_at[shipped],
        np.where(orders.refund_at[shipped] < NEVER, orders.refund_at[shipped] - US_PER_HOUR, NEVER),
    )
    order = np.concatenate([till, refunded, cancelled, shipped])
    part = _blank(len(order))
    part["person"] = orders.person[order]
    part["kind"] = np.concatenate(
        [
            np.full(len(till), K_ORDER),
            np.full(len(refunded), K_REFUND),
            np.full(len(cancelled), K_CANCEL),
            np.full(len(shipped), K_SHIPPED),
        ]
    )
    part["time"] = np.minimum(
        np.concatenate([placed[till], refund_at, cancel_at, ship_at]), cal.now_us - US_PER_SECOND
    )
    part["order"] = order
    return part


def _store_signups(pop: Population) -> dict[str, np.ndarray]:
    """People known only from the shop's tills were identified when they got a loyalty card."""
    who = np.nonzero(pop.kind == OFFLINE)[0]
    part = _blank(len(who))
    part["person"], part["kind"], part["time"] = (
        who,
        np.full(len(who), K_IDENTIFY),
        pop.registered[who],
    )
    return part


def _email_part(em: Emails) -> dict[str, np.ndarray]:
    part = _blank(len(em.person))
    part.update(
        person=em.person, kind=em.kind, time=em.time, campaign=em.campaign, machine=em.machine
    )
    return part


def build_timeline(
    rng: np.random.Generator,
    pop: Population,
    orders: Orders,
    ses: Sessions,
    ev: SessionEvents,
    emails: Emails,
    cal: Calendar,
) -> tuple[Timeline, np.ndarray]:
    """All events sorted by (person, time, kind); also each order's completion time."""
    placed = order_placed_at(orders, ses, ev)
    parts = [
        _visit_part(ses, ev),
        _server_part(rng, orders, placed, cal),
        _store_signups(pop),
        _email_part(emails),
    ]
    cols = {f.name: np.concatenate([p[f.name] for p in parts]) for f in fields(Timeline)}
    # visits already hold their events in causal order; keep it for equal timestamps
    seq = np.arange(len(cols["person"]))
    order = np.lexsort((seq, cols["time"], cols["person"]))
    return Timeline(**{k: v[order] for k, v in cols.items()}), placed
