"""The typed render context: what a template may read about one send.

A marketer's template sees plain, read-only data (dicts, lists, numbers, strings) built
from these dataclasses by :meth:`RenderContext.variables`; no live objects ever reach it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

Number = int | float | Decimal


@dataclass(frozen=True, slots=True)
class ContactVars:
    contact_id: int
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    language: str | None = None
    timezone: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EventVars:
    name: str
    timestamp: datetime | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LineItemVars:
    sku: str
    name: str
    quantity: int = 1
    price: Number = 0
    url: str | None = None
    image_url: str | None = None


@dataclass(frozen=True, slots=True)
class OrderVars:
    order_id: str
    total: Number
    currency: str
    placed_at: datetime | None = None
    status: str | None = None
    items: Sequence[LineItemVars] = ()


@dataclass(frozen=True, slots=True)
class CartVars:
    total: Number
    currency: str
    url: str | None = None
    items: Sequence[LineItemVars] = ()


@dataclass(frozen=True, slots=True)
class ProductVars:
    sku: str
    name: str
    price: Number
    currency: str
    url: str | None = None
    image_url: str | None = None
    sale_price: Number | None = None
    in_stock: bool = True
    brand: str | None = None
    category: str | None = None


@dataclass(frozen=True, slots=True)
class RenderContext:
    """Everything one send's content may use; ``locale`` drives money/number/date filters."""

    contact: ContactVars
    locale: str = "en"
    timezone: str = "UTC"
    event: EventVars | None = None
    order: OrderVars | None = None
    cart: CartVars | None = None
    catalog: Mapping[str, ProductVars] = field(default_factory=dict)
    products: Sequence[ProductVars] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)

    def variables(self) -> dict[str, Any]:
        """The template's variables: plain data, absent parts as ``None`` (``default`` works)."""
        return {
            "contact": _plain(self.contact),
            "event": _plain(self.event),
            "order": _plain(self.order),
            "cart": _plain(self.cart),
            "catalog": {sku: _plain(p) for sku, p in self.catalog.items()},
            "products": [_plain(p) for p in self.products],
            "data": _plain(dict(self.data)),
            "links": dict(self.links),
            "locale": self.locale,
            "timezone": self.timezone,
        }


_SCALARS = frozenset({str, int, float, bool, Decimal, datetime, type(None)})


def _plain(value: Any) -> Any:
    """Dataclasses → dicts, mappings → dicts, sequences → lists, recursively.

    >>> _plain(LineItemVars(sku="A", name="Mug"))["name"]
    'Mug'
    """
    kind = type(value)
    if kind in _SCALARS:  # exact types first: one set lookup for most values
        return value
    if value is None or isinstance(value, str | int | float | Decimal | datetime):
        return value
    names = getattr(kind, "__dataclass_fields__", None)
    if names is not None:
        plain: dict[str, Any] = {}
        for name in names:  # scalar fields (most) copied without a call
            field_value = getattr(value, name)
            plain[name] = field_value if type(field_value) in _SCALARS else _plain(field_value)
        return plain
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
