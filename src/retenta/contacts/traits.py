"""Pure helpers of the profile: cursors, names, consent state, computed traits (no I/O)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from retenta.errors import ApiError

CONSENT_STATUSES = ("subscribed", "unsubscribed", "pending")
LOOKUP_TYPES = ("email", "phone", "external_id", "anonymous_id")
# Identifier types an exact search tries, most specific first.
SEARCH_TYPES = ("email", "phone", "external_id", "anonymous_id", "push_token")
NAME_KEYS = ("name", "full_name", "fullName")
FIRST_KEYS = ("first_name", "firstName")
LAST_KEYS = ("last_name", "lastName")


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(token: str) -> str:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()


def bad_cursor() -> ApiError:
    return ApiError(422, "validation_error", "cursor: not a cursor this API issued", field="cursor")


def encode_event_cursor(timestamp: datetime, message_id: str) -> str:
    """The position after an event in a newest-first timeline.

    >>> c = encode_event_cursor(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), "m-1")
    >>> decode_event_cursor(c)
    (datetime.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=datetime.timezone.utc), 'm-1')
    """
    micros = round(timestamp.timestamp() * 1_000_000) if timestamp.tzinfo else None
    if micros is None:
        micros = round(timestamp.replace(tzinfo=UTC).timestamp() * 1_000_000)
    return _b64(f"{micros}:{message_id}")


def decode_event_cursor(token: str) -> tuple[datetime, str]:
    """``(timestamp, message_id)`` from a cursor; ``ApiError`` 422 when it is not one."""
    try:
        micros, message_id = _unb64(token).split(":", 1)
        seconds, rest = divmod(int(micros), 1_000_000)
        at = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest)
    except (ValueError, UnicodeDecodeError, binascii.Error, OverflowError) as exc:
        raise bad_cursor() from exc
    return at, message_id


def encode_id_cursor(contact_id: int) -> str:
    """
    >>> decode_id_cursor(encode_id_cursor(42))
    42
    """
    return _b64(f"c:{contact_id}")


def decode_id_cursor(token: str) -> int:
    try:
        prefix, value = _unb64(token).split(":", 1)
        if prefix != "c":
            raise ValueError(prefix)
        return int(value)
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise bad_cursor() from exc


def _first(attributes: Mapping[str, Any], keys: Sequence[str]) -> str | None:
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def display_name(attributes: Mapping[str, Any]) -> str | None:
    """The person's name from whichever name traits they have.

    >>> display_name({"firstName": "Olena", "last_name": "Koval"})
    'Olena Koval'
    >>> display_name({"name": " Ann "}), display_name({})
    ('Ann', None)
    """
    full = _first(attributes, NAME_KEYS)
    if full:
        return full
    parts = [p for p in (_first(attributes, FIRST_KEYS), _first(attributes, LAST_KEYS)) if p]
    return " ".join(parts) or None


def looks_like_name(text: str) -> bool:
    """Whether a search text could be the start of a name (worth scanning names for).

    >>> looks_like_name("Olena K"), looks_like_name("ann@shop.ua"), looks_like_name("+380 67")
    (True, False, False)
    """
    return "@" not in text and any(ch.isalpha() for ch in text)


def consent_state(history: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Current consent per (channel, topic): the latest change wins (ties: the later row).

    ``history`` is in recording order.

    >>> h = [{"channel": "email", "topic": "*", "status": "subscribed", "changed_at": 1},
    ...      {"channel": "email", "topic": "*", "status": "unsubscribed", "changed_at": 2},
    ...      {"channel": "sms", "topic": "*", "status": "subscribed", "changed_at": 1}]
    >>> [(c["channel"], c["status"]) for c in consent_state(h)]
    [('email', 'unsubscribed'), ('sms', 'subscribed')]
    """
    current: dict[tuple[str, str], Mapping[str, Any]] = {}
    for row in history:
        key = (row["channel"], row["topic"])
        if key not in current or row["changed_at"] >= current[key]["changed_at"]:
            current[key] = row
    return [dict(current[k]) for k in sorted(current)]


def favourite(weights: Iterable[tuple[str | None, float]]) -> str | None:
    """The heaviest non-empty category; ties go to the alphabetically first.

    >>> favourite([("Shoes", 2), ("Bags", 3), (None, 9), ("Hats", 3)])
    'Bags'
    >>> favourite([]) is None
    True
    """
    best: tuple[float, str] | None = None
    for name, weight in weights:
        if not name or weight <= 0:
            continue
        if best is None or weight > best[0] or (weight == best[0] and name < best[1]):
            best = (weight, name)
    return best[1] if best else None


def money(value: Decimal | float | int | None) -> float:
    """
    >>> money(Decimal("10.005")), money(None)
    (10.01, 0.0)
    """
    if value is None:
        return 0.0
    return float(Decimal(value).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP"))


def _net(line: Mapping[str, Any]) -> Decimal:
    units = max(int(line["quantity"]) - int(line["returned_quantity"] or 0), 0)
    return Decimal(line["price"]) * units


def order_summary(
    orders: Sequence[Mapping[str, Any]], lines: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, Any], list[tuple[str | None, float]]]:
    """Order figures and units bought per category, net of returns; cancelled orders ignored.

    An order with lines is worth the sum of its lines net of returns; one without lines
    its amount, or nothing once returned.

    >>> orders = [{"order_id": "a", "status": "paid", "amount": 80, "placed_at": 1},
    ...           {"order_id": "b", "status": "returned", "amount": 9, "placed_at": 3},
    ...           {"order_id": "c", "status": "cancelled", "amount": 7, "placed_at": 0}]
    >>> lines = [{"order_id": "a", "category": "Shoes", "quantity": 2, "price": 40,
    ...           "returned_quantity": 1}]
    >>> figures, bought = order_summary(orders, lines)
    >>> figures["orders"], figures["revenue"], figures["first"], figures["last"], bought
    (2, Decimal('40'), 1, 3, [('Shoes', 1.0)])
    """
    live = [o for o in orders if o["status"] != "cancelled"]
    live_ids = {o["order_id"] for o in live}
    net: dict[str, Decimal] = {}
    bought: dict[str | None, float] = {}
    for line in lines:
        if line["order_id"] in live_ids:
            net[line["order_id"]] = net.get(line["order_id"], Decimal(0)) + _net(line)
            units = max(int(line["quantity"]) - int(line["returned_quantity"] or 0), 0)
            bought[line["category"]] = bought.get(line["category"], 0.0) + units
    revenue = sum((_order_value(o, net) for o in live), Decimal(0))
    times = [o["placed_at"] for o in live]
    figures = {
        "orders": len(live),
        "revenue": revenue,
        "first": min(times) if times else None,
        "last": max(times) if times else None,
    }
    return figures, list(bought.items())


def _order_value(order: Mapping[str, Any], net: Mapping[str, Decimal]) -> Decimal:
    if order["order_id"] in net:
        return net[order["order_id"]]
    if order["status"] == "returned" or order["amount"] is None:
        return Decimal(0)
    return Decimal(order["amount"])


def computed_traits(
    orders: Mapping[str, Any],
    purchased: Iterable[tuple[str | None, float]],
    viewed: Iterable[tuple[str | None, float]],
    last_activity_at: datetime | None,
) -> dict[str, Any]:
    """The traits block of a profile from pre-aggregated order and event figures.

    The favourite category is the most bought (net of returns); with no purchases, the
    most viewed.

    >>> t = computed_traits({"orders": 2, "revenue": Decimal("30"), "first": None,
    ...     "last": None}, [("Shoes", 1)], [("Hats", 5)], None)
    >>> t["average_order_value"], t["favourite_category"]
    (15.0, 'Shoes')
    """
    count = int(orders.get("orders") or 0)
    revenue = money(orders.get("revenue"))
    return {
        "orders": count,
        "revenue": revenue,
        "average_order_value": money(revenue / count) if count else 0.0,
        "first_order_at": orders.get("first"),
        "last_order_at": orders.get("last"),
        "last_activity_at": last_activity_at,
        "favourite_category": favourite(purchased) or favourite(viewed),
    }
