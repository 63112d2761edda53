"""A chunk on its way through an import: coerced outside the writer, then one unit of work."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from retenta.imports.mapping import Chunk, Reject
from retenta.imports.readers import TextChunk


@dataclass(frozen=True, slots=True)
class Prepared:
    """A chunk read and coerced, ready for its unit of work."""

    chunk: TextChunk
    coerced: Chunk
    malformed: list[Reject]
    coerce_ms: int
    plan: Any = None  # loaders.plan_chunk's answer
    plan_ms: int = 0


@dataclass(frozen=True, slots=True)
class InFlight:
    """A unit queued in the writer (its merged stats when done) and the rows it carries."""

    future: Future[dict[str, int]]
    table: pa.Table
