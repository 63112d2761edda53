"""Vectorized JSON text from Arrow columns (values are JSON-safe by construction).

The demo writes tens of millions of events; building each ``properties`` object with
``json.dumps`` in a Python loop would dominate the run. These helpers concatenate
Arrow string columns in C++ instead. Every string fed in comes from vocabularies without
quotes or backslashes (asserted where they are built), so no escaping is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Part = Any  # a literal str, or a pyarrow string Array / ChunkedArray


def join(*parts: Part) -> pa.Array:
    """Row-wise concatenation of string columns and literals.

    >>> join('{"a":"', pa.array(["x", "y"]), '"}').to_pylist()
    ['{"a":"x"}', '{"a":"y"}']
    """
    arrays = [p for p in parts if not isinstance(p, str)]
    if not arrays:
        raise ValueError("join needs at least one column")
    out = pc.binary_join_element_wise(*parts, "")
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def text(values: np.ndarray) -> pa.Array:
    """Integers (or strings) as an Arrow string column.

    >>> text(np.array([1, 20])).to_pylist()
    ['1', '20']
    """
    return pc.cast(pa.array(values), pa.string())


def money(cents: np.ndarray) -> pa.Array:
    """Integer cents as JSON numbers.

    >>> money(np.array([129900, 1999, 5])).to_pylist()
    ['1299', '19.99', '0.05']
    """
    return pc.cast(pa.array(np.asarray(cents, dtype=np.int64) / 100.0), pa.string())


def take(column: pa.Array, index: np.ndarray) -> pa.Array:
    return pc.take(column, pa.array(index, pa.int64()))


def lists(items: pa.Array, counts: np.ndarray) -> pa.Array:
    """Group consecutive item texts into JSON arrays, ``counts[i]`` items for row ``i``.

    >>> lists(pa.array(["1", "2", "3"]), np.array([2, 1])).to_pylist()
    ['[1,2]', '[3]']
    """
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    grouped = pa.ListArray.from_arrays(pa.array(offsets), items)
    return join("[", pc.binary_join(grouped, ","), "]")


Piece = tuple[np.ndarray, pa.Array, np.ndarray | None]


def dictionary(n: int, pieces: Sequence[Piece]) -> pa.DictionaryArray:
    """A dictionary-encoded string column of ``n`` rows from ``(rows, values, codes)`` pieces.

    Row ``rows[i]`` gets ``values[codes[i]]`` (``values[i]`` when ``codes`` is None); rows no
    piece covers are null. Repeated texts (a product's properties, a browser's context) are
    stored once, so nothing is copied per event; DuckDB reads the encoding directly.

    >>> col = dictionary(4, [(np.array([0, 2]), pa.array(["a", "b"]), np.array([1, 1]))])
    >>> col.to_pylist()
    ['b', None, 'b', None]
    """
    index = np.zeros(n, dtype=np.int32)
    covered = np.zeros(n, dtype=bool)
    offset = 0
    for rows, values, codes in pieces:
        index[rows] = offset + (np.arange(len(rows)) if codes is None else codes)
        covered[rows] = True
        offset += len(values)
    values_all = (
        pa.concat_arrays([v.cast(pa.string()) for _, v, _ in pieces])
        if pieces
        else pa.array([], pa.string())
    )
    return pa.DictionaryArray.from_arrays(pa.array(index, mask=~covered), values_all)


def json_safe(words: np.ndarray) -> bool:
    """True when no word needs escaping inside a JSON string.

    >>> json_safe(np.array(["ok", "fine"], dtype=object))
    True
    >>> json_safe(np.array(['a"b'], dtype=object))
    False
    """
    return not any(('"' in w) or ("\\" in w) or any(ord(c) < 32 for c in w) for w in words)
