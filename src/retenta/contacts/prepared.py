"""Point reads as prepared statements: parsed once per connection, then ``EXECUTE``.

DuckDB 2.0 parses every statement with its PEG parser, and for a point read that is a
large share of the CPU: the profile's one statement (seven ``UNION ALL`` branches) spent
~1 ms of ~4.5 parsing before binding or reading anything (``perf``: the matcher frames
and their allocations). A statement prepared once on a connection keeps its parsed form;
each ``EXECUTE name(args)`` parses only itself and re-binds the stored statement with the
arguments (DuckDB still plans it again, so an equality on an indexed column is still an
index probe, exactly as with ``execute(sql, params)``).

``EXECUTE`` takes no ``?`` parameters ("this type of statement can't be prepared"), so
the arguments are written into it as literals: only integers (not ``bool``) and ``str``,
a string quoted with its quotes doubled (DuckDB's standard strings have no backslash
escapes, so that is the whole escaping). Anything else is refused.

Prepared statements belong to the connection (a thread's read cursor, or the writer's)
and survive its transactions, commits and rollbacks alike; a catalog change makes DuckDB
re-bind them on their next ``EXECUTE``.
"""

from __future__ import annotations

import contextlib
import operator
import threading
import weakref
from collections.abc import Sequence
from typing import Any

_prepared: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def literal(value: int | str) -> str:
    """``value`` as a SQL literal.

    >>> literal(42), literal("o'neil@example.com"), literal("a\\\\b")
    ('42', "'o''neil@example.com'", "'a\\\\b'")
    >>> literal(True)
    Traceback (most recent call last):
    ...
    TypeError: not a literal for a prepared point read: True
    """
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if not isinstance(value, bool):
        with contextlib.suppress(TypeError):
            return str(operator.index(value))  # an int, or numpy's
    raise TypeError(f"not a literal for a prepared point read: {value!r}")


def execute(cur: Any, name: str, sql: str, args: Sequence[int | str]) -> Any:
    """Run ``sql`` (parameters ``$1``, ``$2``…) with ``args``: prepared on ``cur`` as
    ``name`` the first time, an ``EXECUTE`` after. ``name`` must be unique to ``sql``."""
    rendered = ", ".join(literal(a) for a in args)  # before PREPARE: a bad argument changes nothing
    with _lock:
        names = _prepared.get(cur)
        if names is None:
            names = _prepared[cur] = set()
        known = name in names
    if not known:
        cur.execute(f"PREPARE {name} AS {sql}")
        with _lock:
            names.add(name)
    return cur.execute(f"EXECUTE {name}({rendered})" if args else f"EXECUTE {name}")
