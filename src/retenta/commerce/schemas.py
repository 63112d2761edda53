"""Request models of the commerce API; a bad field becomes a 422 naming ``products[3].price``."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Money = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)]
Currency = Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")]
Text = Annotated[str, Field(min_length=1, max_length=2000)]
Key = Annotated[str, Field(min_length=1, max_length=200)]
Status = Literal["placed", "paid", "shipped", "returned", "cancelled"]
Channel = Literal["online", "offline", "call_centre"]
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProductIn(Strict):
    sku: Key
    name: Text | None = None
    url: Text | None = None
    image_url: Text | None = None
    price: Money | None = None
    sale_price: Money | None = None
    currency: Currency | None = None
    stock: int | None = None
    in_stock: bool | None = None
    category_path: list[Text] | Text | None = None
    brand: Text | None = None
    attributes: dict[str, Any] | None = None


class CatalogUpsert(Strict):
    products: list[ProductIn] = Field(min_length=1, max_length=10_000)


class Identifiers(Strict):
    email: Text | None = None
    phone: Text | None = None
    external_id: Text | None = None
    anonymous_id: Text | None = None

    def given(self) -> list[tuple[str, str]]:
        """``(id_type, value)`` pairs, strongest first (the order lookups try them)."""
        order = ("external_id", "email", "phone", "anonymous_id")
        return [(k, v) for k in order if (v := getattr(self, k)) is not None]


class OrderItemIn(Strict):
    sku: Key
    line_no: int | None = Field(default=None, gt=0)
    name: Text | None = None
    category: Text | None = None
    brand: Text | None = None
    quantity: int = Field(default=1, gt=0)
    price: Money
    returned_quantity: int | None = Field(default=None, ge=0)


class OrderIn(Strict):
    order_id: Key
    contact_id: int | None = Field(default=None, gt=0)
    identifiers: Identifiers | None = None
    status: Status = "paid"
    channel: Channel = "online"
    store_id: Key | None = None
    total: Money | None = None
    revenue: Money | None = None
    discount: Money | None = None
    shipping: Money | None = None
    tax: Money | None = None
    currency: Currency | None = None
    coupon: Key | None = None
    placed_at: datetime | None = None
    attributes: dict[str, Any] | None = None
    items: list[OrderItemIn] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _who(self) -> OrderIn:
        if self.contact_id is None and (self.identifiers is None or not self.identifiers.given()):
            raise ValueError("give contact_id or identifiers (email, phone, external_id, ...)")
        return self

    @field_validator("placed_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("placed_at needs a time zone (e.g. 2026-01-31T10:00:00Z)")
        return value


class OrdersUpsert(Strict):
    orders: list[OrderIn] = Field(min_length=1, max_length=1000)


class StatusChange(Strict):
    status: Status
    changed_at: datetime | None = None


ColumnType = Literal["text", "number", "integer", "boolean", "date", "datetime"]


class DataColumn(Strict):
    name: str
    type: ColumnType
    required: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return valid_name(value)


def valid_name(value: str) -> str:
    """Lower-case letters, digits and ``_``, starting with a letter, at most 63 characters.

    >>> valid_name("loyalty_cards")
    'loyalty_cards'
    """
    if not NAME_RE.match(value):
        raise ValueError("use lower-case letters, digits and _, starting with a letter (max 63)")
    return value


class DataTableIn(Strict):
    name: str
    description: str | None = Field(default=None, max_length=2000)
    columns: list[DataColumn] = Field(min_length=1, max_length=200)
    key_columns: list[str] = Field(min_length=1, max_length=10)
    link: Literal["contact", "product", "none"] = "contact"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return valid_name(value)

    @model_validator(mode="after")
    def _keys(self) -> DataTableIn:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError("column names must be unique")
        unknown = [k for k in self.key_columns if k not in names]
        if unknown:
            raise ValueError(f"key_columns not among columns: {', '.join(unknown)}")
        return self


class RowsUpsert(Strict):
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)


class RowKeys(Strict):
    keys: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)
