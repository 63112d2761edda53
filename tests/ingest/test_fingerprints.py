"""The dedup's fingerprint set answers exactly what a Python set of fingerprints answers:
through loads, adds, merges and crowded buckets (hypothesis), so it never misses an id."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retenta.ingest.fingerprints import FingerprintSet, fingerprints

# Hashes drawn from a few crowded buckets as well as from everywhere, so binary searches
# meet long slices, empty ones and equal remainders.
hashes = st.one_of(
    st.integers(0, 2**64 - 1),
    st.builds(lambda b, r: (b << 44) | (r << 12), st.integers(0, 3), st.integers(0, 40)),
    st.builds(lambda b: ((2**20 - 1) << 44) | b, st.integers(0, 2**44 - 1)),
)
batches = st.lists(st.lists(hashes, max_size=60), max_size=8)


def _array(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.uint64)


@settings(max_examples=200, deadline=None)
@given(
    loaded=st.lists(hashes, max_size=200),
    added=batches,
    probes=st.lists(hashes, max_size=80),
    merge_at=st.integers(1, 100),
)
def test_answers_like_a_set_of_fingerprints(
    loaded: list[int], added: list[list[int]], probes: list[int], merge_at: int
) -> None:
    ordered = sorted(loaded)
    fp_set = FingerprintSet.from_sorted([_array(ordered[i : i + 7]) for i in range(0, 200, 7)])
    fp_set.merge_at = merge_at
    reference = set(fingerprints(_array(loaded)).tolist())
    for batch in added:
        fp_set.add(_array(batch))
        reference.update(fingerprints(_array(batch)).tolist())
        asked = _array(probes + batch + loaded[:10])
        expected = [fp in reference for fp in fingerprints(asked).tolist()]
        assert fp_set.contains(asked).tolist() == expected
    assert len(fp_set) == len(loaded) + sum(map(len, added))


@settings(max_examples=100, deadline=None)
@given(base=st.lists(hashes, min_size=1, max_size=300), new=st.lists(hashes, max_size=100))
def test_a_merge_inserts_where_the_binary_search_would(base: list[int], new: list[int]) -> None:
    fp_set = FingerprintSet.from_sorted([_array(sorted(base))])
    fps = np.sort(fingerprints(_array(new)))
    buckets = (fps >> np.uint64(32)).astype(np.int64)
    rems = (fps & np.uint64(2**32 - 1)).astype(np.uint32)
    assert fp_set._positions(fps, buckets).tolist() == fp_set._locate(buckets, rems).tolist()


def test_a_fresh_hash_is_rarely_taken_for_a_stored_one() -> None:
    """~stored / 2**52: no false positive among 1M fresh hashes at 2M stored (a Bloom
    filter at 16 bits an id gave ~1,000-4,000)."""
    rng = np.random.default_rng(11)
    stored = np.sort(rng.integers(0, 2**64, 2_000_000, dtype=np.uint64))
    parts = [stored[i : i + 500_000] for i in range(0, 2_000_000, 500_000)]
    fp_set = FingerprintSet.from_sorted(parts, total=2_000_000)
    assert fp_set.contains(stored[::1000]).all()
    fresh = rng.integers(0, 2**64, 1_000_000, dtype=np.uint64)
    assert int(fp_set.contains(fresh).sum()) == 0
    assert fp_set.nbytes < 2_000_000 * 4 + 9 * 2**20


def test_hashes_out_of_order_are_refused() -> None:
    with pytest.raises(ValueError, match="ascending"):
        FingerprintSet.from_sorted([_array([5 << 40, 1 << 40])])
    with pytest.raises(ValueError, match="ascending"):
        FingerprintSet.from_sorted([_array([5 << 40]), _array([1 << 40])])
