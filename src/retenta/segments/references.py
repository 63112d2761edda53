"""Segments that include or exclude other segments: finding references, rejecting cycles.

Pure functions over the definition JSON and an edge lookup; the service supplies the edges
from ``segment_usages`` (who uses whom).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any


def segment_references(node: Any, path: str = "root") -> Iterator[tuple[str, str]]:
    """``(path, segment_id)`` of every ``{"type": "segment"}`` condition under ``node``.

    >>> d = {"type": "all", "conditions": [{"type": "segment", "segment_id": "seg_a"},
    ...      {"type": "not", "condition": {"type": "segment", "segment_id": "seg_b"}}]}
    >>> list(segment_references(d))
    [('root.conditions[0]', 'seg_a'), ('root.conditions[1].condition', 'seg_b')]
    """
    if isinstance(node, dict):
        if node.get("type") == "segment" and isinstance(node.get("segment_id"), str):
            yield path, node["segment_id"]
        for key, child in node.items():
            if isinstance(child, dict | list):
                yield from segment_references(child, f"{path}.{key}")
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from segment_references(child, f"{path}[{i}]")


def find_cycle(start: str, first: str, uses: Callable[[str], list[str]]) -> list[str] | None:
    """The chain ``start → first → … → start`` if saving a reference start→first closes a cycle.

    ``uses(x)`` lists the segments ``x`` references (as stored).

    >>> edges = {"b": ["c"], "c": ["a"], "d": []}
    >>> find_cycle("a", "b", lambda s: edges.get(s, []))
    ['a', 'b', 'c', 'a']
    >>> find_cycle("a", "d", lambda s: edges.get(s, [])) is None
    True
    >>> find_cycle("a", "a", lambda s: [])
    ['a', 'a']
    """
    stack: list[tuple[str, list[str]]] = [(first, [start, first])]
    seen: set[str] = set()
    while stack:
        node, chain = stack.pop()
        if node == start:
            return chain
        if node in seen:
            continue
        seen.add(node)
        for nxt in uses(node):
            stack.append((nxt, [*chain, nxt]))
    return None
