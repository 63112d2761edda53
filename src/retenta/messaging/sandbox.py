"""The Jinja2 sandbox marketers' templates run in: no Python internals, bounded work.

``ImmutableSandboxedEnvironment`` already refuses ``_``-attributes, unsafe callables and
mutation of lists/dicts. This adds what it leaves open: an unsafe lookup *fails* (instead of
rendering as empty), and every way to make one render huge or endless is capped — string and
list repetition, powers, ``range``, padding widths in ``format``/``center``/``indent`` and
``str.format``, and the size of the output itself.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from itertools import islice
from typing import Any, NoReturn

from jinja2 import ChainableUndefined, Undefined
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT_CHARS = 2_000_000
MAX_RANGE_ITEMS = 10_000  # per render, all range() calls together
MAX_PAD_WIDTH = 1_000
MAX_POWER_BITS = 4_096

# Builtin filters a template may use; padding ones are replaced by bounded versions below.
SAFE_FILTERS = {
    "abs", "attr", "batch", "capitalize", "count", "default", "d", "dictsort", "escape", "e",
    "filesizeformat", "first", "float", "forceescape", "groupby", "int", "items", "join",
    "last", "length", "list", "lower", "map", "max", "min", "reject", "rejectattr",
    "replace", "reverse", "round", "safe", "select", "selectattr", "slice", "sort", "string",
    "striptags", "sum", "title", "trim", "truncate", "unique", "upper", "urlencode",
    "urlize", "wordcount", "wordwrap", "xmlattr", "tojson",
}  # fmt: skip

_SLICE = 32
_range_budget: ContextVar[list[int]] = ContextVar("range_budget")
_PERCENT_WIDTH = re.compile(r"%[-#0 +]*(\*|\d+)(?:\.(\*|\d+))?")


def refuse(reason: str) -> NoReturn:
    raise SecurityError(reason)


def bounded_range(*args: int) -> Iterator[int]:
    """``range`` whose items, over one render, draw from a shared budget."""
    span = range(*args)
    budget = _range_budget.get([MAX_RANGE_ITEMS])
    if len(span) > budget[0]:
        refuse(f"range of {len(span)} items exceeds the limit of {MAX_RANGE_ITEMS} per render")
    budget[0] -= len(span)
    return iter(span)


def check_percent_format(fmt: str) -> None:
    """Refuse ``%`` format strings with ``*`` or huge widths/precisions.

    >>> check_percent_format("%5.2f")
    >>> check_percent_format("%999999d")
    Traceback (most recent call last):
    jinja2.exceptions.SecurityError: format width 999999 exceeds the limit of 1000
    """
    for match in _PERCENT_WIDTH.finditer(fmt):
        for width in match.groups():
            _check_width(width)


def check_brace_format(fmt: str) -> None:
    """Refuse ``str.format`` specs with nested or huge widths (``'{:>999999999}'``)."""
    for _, _, spec, _ in string.Formatter().parse(fmt):
        if spec:
            if "{" in spec:
                refuse("nested format specifications are not allowed")
            for width in re.findall(r"\d+", spec):
                _check_width(width)


def _check_width(width: str | None) -> None:
    if width is None:
        return
    if width == "*":
        refuse("'*' widths are not allowed in format strings")
    if int(width) > MAX_PAD_WIDTH:
        refuse(f"format width {int(width)} exceeds the limit of {MAX_PAD_WIDTH}")


def _repeat_size(left: Any, right: Any) -> int:
    if isinstance(left, str | list | tuple) and isinstance(right, int):
        return len(left) * right
    if isinstance(right, str | list | tuple) and isinstance(left, int):
        return len(right) * left
    return 0


def _power_bits(base: Any, exponent: Any) -> float:
    if not isinstance(base, int | float) or not isinstance(exponent, int | float):
        return 0.0
    if abs(base) <= 1 or exponent <= 0:
        return 0.0
    return math.log2(abs(base)) * exponent


def _format_filter(value: Any, *args: Any, **kwargs: Any) -> str:
    check_percent_format(str(value))
    return str(FILTERS["format"](value, *args, **kwargs))


def _center_filter(value: Any, width: int = 80) -> str:
    _check_width(str(int(width)))
    return str(value).center(int(width))


def _indent_filter(value: Any, width: int | str = 4, *args: Any, **kwargs: Any) -> str:
    if isinstance(width, int):
        _check_width(str(width))
    elif len(width) > MAX_PAD_WIDTH:
        refuse(f"indent string longer than {MAX_PAD_WIDTH}")
    return str(FILTERS["indent"](value, width, *args, **kwargs))


class StrictSandbox(ImmutableSandboxedEnvironment):
    """The sandbox with lookups of unsafe attributes failing and every blow-up capped."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, *, autoescape: bool, undefined: type[Undefined] = ChainableUndefined):
        super().__init__(
            autoescape=autoescape,
            undefined=undefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.filters = {name: FILTERS[name] for name in SAFE_FILTERS}
        self.filters.update(format=_format_filter, center=_center_filter, indent=_indent_filter)
        self.globals = {"range": bounded_range, "namespace": self.globals["namespace"]}
        self.tests = dict(self.tests)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        refuse(f"access to attribute {attribute!r} of a {type(obj).__name__!r} is not allowed")

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*" and _repeat_size(left, right) > MAX_OUTPUT_CHARS:
            refuse(f"repetition would make more than {MAX_OUTPUT_CHARS} items")
        if operator == "**" and _power_bits(left, right) > MAX_POWER_BITS:
            refuse(f"power would exceed {MAX_POWER_BITS} bits")
        if operator == "%" and isinstance(left, str):
            check_percent_format(left)
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            check_brace_format(str(value.__self__))
        return wrapped


def render_bounded(render_stream: Iterator[str]) -> str:
    """Join a template's output stream, refusing it past ``MAX_OUTPUT_CHARS``.

    The stream is taken in slices of ``_SLICE`` pieces, measured at C speed: a per-piece
    Python loop cost a sixth of a render. A single piece is already bounded by the guards
    above (repetition, padding, powers), so a slice cannot overshoot by much.
    """
    token = _range_budget.set([MAX_RANGE_ITEMS])
    try:
        parts: list[str] = []
        size = 0
        while batch := list(islice(render_stream, _SLICE)):
            size += sum(map(len, batch))
            if size > MAX_OUTPUT_CHARS:
                refuse(f"output exceeds {MAX_OUTPUT_CHARS} characters")
            parts += batch
        return "".join(parts)
    finally:
        _range_budget.reset(token)
