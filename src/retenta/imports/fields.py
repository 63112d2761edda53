"""What each entity can receive from a file: target fields, their types and header aliases.

Pure data. ``mapping.py`` suggests and checks mappings against these; ``coerce.py`` turns raw
cells into typed columns by ``TargetField.type``.
"""

from __future__ import annotations

from dataclasses import dataclass

ENTITIES = ("contacts", "orders", "products", "events")


@dataclass(frozen=True)
class TargetField:
    name: str
    type: str  # a key of coerce.COERCERS
    description: str
    required: bool = False
    identifier: bool = False  # one of the group of which a row needs at least one
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class EntitySpec:
    name: str
    fields: tuple[TargetField, ...]
    prefixes: tuple[tuple[str, str], ...] = ()  # ("attr.", "string"): free-form fields

    def field(self, name: str) -> TargetField | None:
        """The target field ``name`` is, including prefixed ones (``attr.size``)."""
        for f in self.fields:
            if f.name == name:
                return f
        for prefix, type_ in self.prefixes:
            if name.startswith(prefix) and len(name) > len(prefix):
                return TargetField(name, type_, f"custom field {name[len(prefix) :]!r}")
        return None

    @property
    def identifiers(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.identifier)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)


def _f(name: str, type_: str, description: str, *aliases: str, **flags: bool) -> TargetField:
    return TargetField(name, type_, description, aliases=aliases, **flags)


EXTERNAL_ID = _f(
    "external_id", "string", "Your customer id (Segment userId)", "customer_id", "user_id",
    "client_id", "customer id", "user id", "client id", "customer number", "id клиента",
    "код клиента", "номер клиента", "id клієнта", "код клієнта", "номер клієнта",
    "userid", "customerid", "clientid", identifier=True,
)  # fmt: skip
EMAIL = _f(
    "email", "email", "E-mail address", "e-mail", "email address", "e-mail address", "mail",
    "почта", "эл. почта", "эл почта", "электронная почта", "емейл", "имейл",
    "електронна пошта", "ел. пошта", "пошта", "емейл", identifier=True,
)  # fmt: skip
PHONE = _f(
    "phone", "phone", "Phone number (normalized to E.164)", "phone number", "mobile",
    "mobile phone", "cell", "tel", "telephone", "msisdn", "телефон", "моб. телефон",
    "мобильный", "мобильный телефон", "номер телефона", "мобільний", "мобільний телефон",
    "номер телефону", identifier=True,
)  # fmt: skip
ANONYMOUS_ID = _f(
    "anonymous_id", "string", "Anonymous/device id (Segment anonymousId)", "anonymousid",
    "device_id", "device id", "cookie id", identifier=True,
)  # fmt: skip

CONTACT_FIELDS = (
    EXTERNAL_ID,
    EMAIL,
    PHONE,
    _f("first_name", "string", "First name", "firstname", "first name", "given name", "name",
       "имя", "ім'я", "імя", "ім’я"),
    _f("last_name", "string", "Last name", "lastname", "last name", "surname", "family name",
       "фамилия", "прізвище"),
    _f("birthday", "date", "Date of birth", "birth date", "birthdate", "date of birth", "dob",
       "дата рождения", "день рождения", "дата народження", "день народження"),
    _f("gender", "gender", "Gender (male/female/other)", "sex", "пол", "стать"),
    _f("city", "string", "City", "town", "город", "місто"),
    _f("country", "string", "Country", "страна", "країна"),
    _f("language", "language", "Preferred language (e.g. uk, ru, en)", "lang", "locale",
       "язык", "мова"),
    _f("timezone", "timezone", "IANA time zone (e.g. Europe/Kyiv)", "time zone", "tz",
       "часовой пояс", "часовий пояс"),
    _f("email_consent", "consent", "E-mail subscription (yes/no, subscribed/unsubscribed)",
       "email subscription", "email subscribed", "email opt-in", "email optin", "subscribed",
       "newsletter", "подписка", "подписка на рассылку", "підписка", "підписка на розсилку"),
    _f("sms_consent", "consent", "SMS subscription (yes/no, subscribed/unsubscribed)",
       "sms subscription", "sms subscribed", "sms opt-in", "sms optin", "подписка sms",
       "підписка sms"),
)  # fmt: skip

_CUSTOMER = (EXTERNAL_ID, EMAIL, PHONE)

ORDER_FIELDS = (
    _f("order_id", "string", "Order number", "order", "order id", "order number", "order no",
       "номер заказа", "заказ", "id заказа", "номер замовлення", "замовлення",
       "orderid", required=True),
    *_CUSTOMER,
    _f("placed_at", "timestamp", "When the order was placed", "date", "order date", "created_at",
       "created", "placed", "дата", "дата заказа", "дата замовлення", required=True),
    _f("status", "order_status", "placed, paid, shipped, returned or cancelled",
       "order status", "статус", "статус заказа", "статус замовлення"),
    _f("total", "decimal", "Order total (default: sum of its lines)", "amount", "order total",
       "grand total", "sum", "сумма", "сумма заказа", "сума", "сума замовлення"),
    _f("revenue", "decimal", "Revenue"),
    _f("discount", "decimal", "Discount", "скидка", "знижка"),
    _f("shipping", "decimal", "Shipping cost", "delivery", "доставка"),
    _f("tax", "decimal", "Tax", "vat", "налог", "податок", "пдв", "ндс"),
    _f("currency", "currency", "ISO 4217 currency", "валюта"),
    _f("coupon", "string", "Coupon code", "promo code", "promocode", "промокод"),
    _f("channel", "order_channel", "online, offline (store) or call_centre", "канал"),
    _f("store_id", "string", "Store id for offline orders", "store", "shop", "магазин"),
    _f("sku", "string", "Line: product SKU", "product sku", "product id", "article", "артикул",
       "item sku"),
    _f("product_name", "string", "Line: product name", "product", "item", "item name",
       "товар", "название товара", "назва товару"),
    _f("category", "string", "Line: product category", "категория", "категорія"),
    _f("brand", "string", "Line: brand", "бренд"),
    _f("quantity", "integer", "Line: quantity", "qty", "count", "количество", "кол-во",
       "кількість"),
    _f("price", "decimal", "Line: unit price", "unit price", "item price", "цена", "ціна"),
    _f("items", "json", 'All lines as JSON: [{"sku", "quantity", "price", "name"}]',
       "line items", "products", "товары", "товари"),
)  # fmt: skip

PRODUCT_FIELDS = (
    _f("sku", "string", "SKU (unique product id)", "product id", "product_id", "id", "article",
       "артикул", "код товара", "код товару", required=True),
    _f("name", "string", "Name", "title", "product name", "название", "наименование", "назва"),
    _f("url", "string", "Product page URL", "link", "product url", "ссылка", "посилання"),
    _f("image_url", "string", "Image URL", "image", "picture", "photo", "изображение",
       "картинка", "фото", "зображення"),
    _f("price", "decimal", "Price", "цена", "ціна"),
    _f("sale_price", "decimal", "Sale price", "discount price", "old price", "цена со скидкой",
       "ціна зі знижкою"),
    _f("currency", "currency", "ISO 4217 currency", "валюта"),
    _f("stock", "integer", "Units in stock", "quantity", "qty", "остаток", "залишок",
       "количество", "кількість"),
    _f("in_stock", "boolean", "Available (yes/no)", "available", "availability", "наличие",
       "наявність", "в наличии", "в наявності"),
    _f("category_path", "category_path", 'Category path ("Women > Shoes")', "category",
       "categories", "категория", "категорія"),
    _f("brand", "string", "Brand", "vendor", "manufacturer", "бренд", "производитель",
       "виробник"),
)  # fmt: skip

EVENT_FIELDS = (
    _f("event", "string", "Event name (e.g. Store Visit)", "event name", "name", "action",
       "событие", "подія", required=True),
    *_CUSTOMER,
    ANONYMOUS_ID,
    _f("timestamp", "timestamp", "When it happened (default: the import's time)", "time",
       "date", "datetime", "occurred_at", "created_at", "дата", "время", "час"),
    _f("message_id", "string", "Unique event id (default: derived from file and row)",
       "messageid", "event id", "event_id"),
    _f("properties", "json", "All properties as one JSON object", "props"),
)  # fmt: skip

SPECS: dict[str, EntitySpec] = {
    "contacts": EntitySpec(
        "contacts", CONTACT_FIELDS, (("attr.", "string"), ("consent.", "consent"))
    ),
    "orders": EntitySpec("orders", ORDER_FIELDS, (("attr.", "string"),)),
    "products": EntitySpec("products", PRODUCT_FIELDS, (("attr.", "string"),)),
    "events": EntitySpec("events", EVENT_FIELDS, (("properties.", "string"),)),
}
