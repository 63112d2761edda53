"""The demo catalog: thousands of products from category, brand and adjective vocabularies.

Pure and seeded: ``build_catalog(rng, n)`` returns numpy columns; ``catalog_table`` turns
them into the ``products`` table's Arrow layout. Every vocabulary word is JSON-safe (no
quote or backslash), so event properties can be templated without escaping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import orjson
import pyarrow as pa

from retenta.demo.model import US_PER_DAY, to_us

STORE_URL = "https://demo.retenta.shop"
CURRENCY = "UAH"

# leaf path -> (nouns, min price, max price) in UAH; the category tree of the store.
TAXONOMY: dict[str, tuple[tuple[str, ...], int, int]] = {
    "Women/Shoes/Sneakers": (("Sneakers", "Trainers", "Low-Top Sneakers"), 1200, 5200),
    "Women/Shoes/Boots": (("Ankle Boots", "Chelsea Boots", "Knee Boots"), 1800, 7500),
    "Women/Shoes/Sandals": (("Sandals", "Slides", "Espadrilles"), 600, 2600),
    "Women/Clothing/Dresses": (
        ("Midi Dress", "Wrap Dress", "Maxi Dress", "Shirt Dress"),
        900,
        4800,
    ),
    "Women/Clothing/Jeans": (("Mom Jeans", "Skinny Jeans", "Wide-Leg Jeans"), 900, 3200),
    "Women/Clothing/Sweaters": (("Cardigan", "Knit Sweater", "Turtleneck"), 800, 3600),
    "Women/Clothing/Coats": (("Trench Coat", "Wool Coat", "Puffer Jacket"), 2500, 9800),
    "Women/Accessories/Bags": (("Tote Bag", "Crossbody Bag", "Backpack", "Clutch"), 700, 6500),
    "Women/Accessories/Scarves": (("Scarf", "Shawl", "Bandana"), 250, 1400),
    "Men/Shoes/Sneakers": (("Sneakers", "Trainers", "High-Top Sneakers"), 1400, 5600),
    "Men/Shoes/Boots": (("Chukka Boots", "Work Boots", "Chelsea Boots"), 2000, 7200),
    "Men/Clothing/T-Shirts": (("T-Shirt", "Polo Shirt", "Longsleeve"), 350, 1500),
    "Men/Clothing/Jeans": (("Slim Jeans", "Straight Jeans", "Chinos"), 900, 3400),
    "Men/Clothing/Jackets": (("Bomber Jacket", "Parka", "Softshell Jacket"), 2200, 8900),
    "Men/Clothing/Shirts": (("Oxford Shirt", "Flannel Shirt", "Linen Shirt"), 700, 2600),
    "Men/Accessories/Belts": (("Leather Belt", "Canvas Belt"), 350, 1600),
    "Men/Accessories/Watches": (("Chronograph Watch", "Field Watch", "Smart Watch"), 1500, 12000),
    "Kids/Clothing/T-Shirts": (("Kids T-Shirt", "Kids Hoodie", "Kids Pyjamas"), 200, 900),
    "Kids/Shoes/Sneakers": (("Kids Sneakers", "Kids Sandals", "Kids Boots"), 500, 2200),
    "Kids/Toys/Construction Sets": (("Building Set", "Marble Run", "Robot Kit"), 300, 3500),
    "Kids/Toys/Plush Toys": (("Plush Bear", "Plush Fox", "Plush Bunny"), 150, 900),
    "Home/Kitchen/Cookware": (("Frying Pan", "Saucepan", "Dutch Oven", "Wok"), 500, 4200),
    "Home/Kitchen/Mugs": (("Mug", "Cup Set", "Travel Mug"), 120, 700),
    "Home/Bedding/Duvet Covers": (
        ("Duvet Cover Set", "Pillowcase Set", "Throw Blanket"),
        700,
        3800,
    ),
    "Home/Decor/Candles": (("Scented Candle", "Candle Set", "Diffuser"), 150, 1200),
    "Home/Decor/Vases": (("Vase", "Planter", "Photo Frame"), 250, 1800),
    "Beauty/Skincare/Face Creams": (("Face Cream", "Night Cream", "Eye Cream"), 250, 2400),
    "Beauty/Skincare/Serums": (("Vitamin C Serum", "Hyaluronic Serum", "Retinol Serum"), 300, 2600),
    "Beauty/Makeup/Lipsticks": (("Lipstick", "Lip Gloss", "Lip Liner"), 150, 1100),
    "Beauty/Fragrance/Eau de Parfum": (
        ("Eau de Parfum", "Eau de Toilette", "Body Mist"),
        600,
        5500,
    ),
    "Sports/Fitness/Yoga Mats": (("Yoga Mat", "Resistance Bands", "Foam Roller"), 250, 1900),
    "Sports/Outdoor/Backpacks": (("Hiking Backpack", "Daypack", "Dry Bag"), 700, 4800),
    "Sports/Running/Running Shoes": (("Running Shoes", "Trail Shoes", "Racing Flats"), 1800, 6200),
    "Electronics/Audio/Headphones": (("Wireless Earbuds", "Headphones", "Speaker"), 600, 9500),
    "Electronics/Accessories/Chargers": (("Power Bank", "Fast Charger", "USB-C Cable"), 150, 1800),
}

# top level -> brands that sell there
BRANDS: dict[str, tuple[str, ...]] = {
    "Women": ("Lumera", "Kalyna", "Marello", "Solano", "Aurelia", "Nordvik", "Vesna", "Ivory Lane"),
    "Men": ("Nordvik", "Brixton", "Urban Fox", "Ironwood", "Marello", "Kozak", "Harbor & Pine"),
    "Kids": ("Little Owl", "Sonechko", "Tiny Trails", "Bumblebee"),
    "Home": ("Hata", "Casa Verde", "Linnea", "Oak & Ember", "Pichka"),
    "Beauty": ("Roslyna", "Glow Theory", "Aqua Flora", "Velour", "Mist & Moss"),
    "Sports": ("Veloce", "Karpaty", "Peak Motion", "Stride"),
    "Electronics": ("Voltra", "Sonix", "Pulse Audio", "Chargy"),
}
ADJECTIVES = (
    "Classic", "Urban", "Soft", "Premium", "Everyday", "Lightweight", "Waterproof", "Vintage",
    "Slim", "Oversized", "Cozy", "Eco", "Essential", "Signature", "Sport", "Organic", "Studio",
)  # fmt: skip
COLORS = (
    "Black", "White", "Beige", "Navy", "Olive", "Red", "Grey", "Pink", "Blue", "Brown",
    "Green", "Burgundy", "Sand", "Lilac",
)  # fmt: skip
MATERIALS = ("cotton", "wool", "leather", "linen", "polyester", "suede", "ceramic", "steel")

LEAVES = tuple(TAXONOMY)


@dataclass(frozen=True)
class Catalog:
    """Products as columns, sorted by leaf; ``cum_weight`` is the popularity CDF in that order."""

    sku: np.ndarray  # str
    name: np.ndarray  # str
    leaf: np.ndarray  # int: index into LEAVES
    brand: np.ndarray  # str
    color: np.ndarray  # str
    material: np.ndarray  # str
    price_cents: np.ndarray  # int64
    sale_cents: np.ndarray  # int64, 0 = not on sale
    stock: np.ndarray  # int32
    created_us: np.ndarray  # int64
    cum_weight: np.ndarray  # float64, popularity CDF over products
    leaf_start: np.ndarray  # int: first product of each leaf (len(LEAVES) + 1 entries)

    @property
    def size(self) -> int:
        return len(self.sku)

    @property
    def selling_cents(self) -> np.ndarray:
        """The price a shopper pays: the sale price when there is one."""
        return np.where(self.sale_cents > 0, self.sale_cents, self.price_cents)


def catalog_size(contacts: int) -> int:
    """Thousands of products, growing with the store.

    >>> catalog_size(300), catalog_size(1_000_000)
    (3000, 20000)
    """
    return int(min(20_000, max(3_000, contacts // 50)))


def _pick(rng: np.random.Generator, words: tuple[str, ...], n: int) -> np.ndarray:
    return np.asarray(words, dtype=object)[rng.integers(0, len(words), n)]


def _prices(rng: np.random.Generator, leaf: np.ndarray) -> np.ndarray:
    """Shop-style prices (…9 UAH) spread log-uniformly inside each leaf's range."""
    lo = np.array([TAXONOMY[name][1] for name in LEAVES], dtype=np.float64)[leaf]
    hi = np.array([TAXONOMY[name][2] for name in LEAVES], dtype=np.float64)[leaf]
    raw = np.exp(rng.uniform(np.log(lo), np.log(hi)))
    return np.asarray((np.maximum(np.round(raw / 10) * 10 - 1, 9) * 100).astype(np.int64))


def _sale(rng: np.random.Generator, price_cents: np.ndarray) -> np.ndarray:
    on_sale = rng.random(len(price_cents)) < 0.22
    off = rng.choice([0.1, 0.15, 0.2, 0.3, 0.4, 0.5], len(price_cents))
    sale = (np.round(price_cents * (1 - off) / 1000) * 1000 - 100).astype(np.int64)
    return np.where(on_sale & (sale > 0), sale, 0)


def _names(
    rng: np.random.Generator, leaf: np.ndarray, brand: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(names, colours)``: "Brand Adjective Colour Noun"."""
    nouns = np.array([_pick(rng, TAXONOMY[LEAVES[i]][0], 1)[0] for i in leaf], dtype=object)
    adj = _pick(rng, ADJECTIVES, len(leaf))
    color = _pick(rng, COLORS, len(leaf))
    return brand + " " + adj + " " + color + " " + nouns, color


def _brands(rng: np.random.Generator, leaf: np.ndarray) -> np.ndarray:
    tops = [LEAVES[i].split("/")[0] for i in leaf]
    choice = rng.integers(0, 1 << 30, len(leaf))
    return np.array([BRANDS[t][c % len(BRANDS[t])] for t, c in zip(tops, choice, strict=True)])


def build_catalog(rng: np.random.Generator, n: int, *, now: datetime) -> Catalog:
    """``n`` products spread over the taxonomy, with Zipf-like popularity."""
    leaf_weight = rng.uniform(0.5, 2.0, len(LEAVES))
    leaf = np.sort(rng.choice(len(LEAVES), n, p=leaf_weight / leaf_weight.sum()))
    brand = _brands(rng, leaf).astype(object)
    name, color = _names(rng, leaf, brand)
    price = _prices(rng, leaf)
    stock = np.where(rng.random(n) < 0.08, 0, rng.integers(1, 250, n)).astype(np.int32)
    popularity = 1.0 / (1 + rng.permutation(n)) ** 0.9
    created = to_us(now) - rng.integers(30, 900, n) * US_PER_DAY
    return Catalog(
        sku=np.array([f"SKU-{i + 1:06d}" for i in range(n)], dtype=object),
        name=name,
        leaf=leaf,
        brand=brand,
        color=color,
        material=_pick(rng, MATERIALS, n),
        price_cents=price,
        sale_cents=_sale(rng, price),
        stock=stock,
        created_us=created,
        cum_weight=np.cumsum(popularity),
        leaf_start=np.searchsorted(leaf, np.arange(len(LEAVES) + 1)),
    )


def sample_products(
    rng: np.random.Generator, cat: Catalog, leaf: np.ndarray | None, n: int
) -> np.ndarray:
    """Product indexes by popularity, within ``leaf[i]`` when given (else the whole store)."""
    u = rng.random(n)
    cw = np.concatenate([[0.0], cat.cum_weight])
    if leaf is None:
        lo, hi = np.zeros(n), np.full(n, cw[-1])
    else:
        lo, hi = cw[cat.leaf_start[leaf]], cw[cat.leaf_start[leaf + 1]]
    idx = np.searchsorted(cat.cum_weight, lo + u * (hi - lo), side="right")
    return np.minimum(idx, cat.size - 1)


def slugs(names: np.ndarray) -> np.ndarray:
    """URL slugs of product names.

    >>> slugs(np.array(["Nordvik Urban Black Sneakers", "Oak & Ember Vase"], dtype=object)).tolist()
    ['nordvik-urban-black-sneakers', 'oak-ember-vase']
    """
    lowered = np.char.lower(names.astype(str))
    cleaned = np.char.replace(np.char.replace(lowered, "& ", ""), " ", "-")
    return np.char.replace(cleaned, "--", "-").astype(object)


def leaf_names() -> np.ndarray:
    return np.array(LEAVES, dtype=object)


def catalog_table(cat: Catalog, workspace_id: str, *, now: datetime) -> pa.Table:
    """The ``products`` rows (money as integer cents; the writer scales them to DECIMAL)."""
    paths = [name.split("/") for name in LEAVES]
    slug = slugs(cat.name)
    attrs = [
        orjson.dumps({"color": c, "material": m}).decode()
        for c, m in zip(cat.color, cat.material, strict=True)
    ]
    return pa.table(
        {
            "workspace_id": pa.array([workspace_id] * cat.size, pa.string()),
            "sku": pa.array(cat.sku, pa.string()),
            "name": pa.array(cat.name, pa.string()),
            "url": pa.array([f"{STORE_URL}/p/{s}" for s in slug], pa.string()),
            "image_url": pa.array([f"{STORE_URL}/img/{s}.jpg" for s in cat.sku], pa.string()),
            "price_cents": pa.array(cat.price_cents, pa.int64()),
            "sale_cents": pa.array(np.where(cat.sale_cents > 0, cat.sale_cents, -1), pa.int64()),
            "currency": pa.array([CURRENCY] * cat.size, pa.string()),
            "stock": pa.array(cat.stock, pa.int32()),
            "category_path": pa.array([paths[i] for i in cat.leaf], pa.list_(pa.string())),
            "brand": pa.array(cat.brand, pa.string()),
            "attributes": pa.array(attrs, pa.string()),
            "created_at": pa.array(cat.created_us, pa.timestamp("us", tz="UTC")),
            "updated_at": pa.array([to_us(now)] * cat.size, pa.timestamp("us", tz="UTC")),
        }
    )
