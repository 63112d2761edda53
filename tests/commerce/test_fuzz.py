"""Whatever a client puts in an e-commerce event's properties, ``apply`` must not fail: a
failure would void the whole ingest transaction (and every other event in it)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retenta.app import Container
from retenta.commerce.events import ECOMMERCE_EVENTS
from tests.commerce.helpers import apply, rows, track

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["1e30", "-5", "NaN", "Infinity", "19.99", "", " ", "A", "o-1"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
keys = st.sampled_from(
    ["sku", "product_id", "price", "quantity", "order_id", "total", "revenue", "currency",
     "category", "name", "products", "channel", "store_id", "query", "status", "coupon_name",
     "wishlist_name", "results"]
)  # fmt: skip
product = st.dictionaries(keys, values, max_size=6)
props = st.dictionaries(keys, values | st.lists(product, max_size=3), max_size=8)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=st.lists(st.tuples(st.sampled_from(sorted(ECOMMERCE_EVENTS)), props), max_size=6))
def test_arbitrary_properties_never_break_apply(
    container: Container, events: list[tuple[str, dict[str, Any]]]
) -> None:
    apply(container, *(track("ws-f", 1 + i % 2, e, p, minute=i) for i, (e, p) in enumerate(events)))
    assert rows(container, "SELECT count(*) FROM orders WHERE total < 0") == [(0,)]
