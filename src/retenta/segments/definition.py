"""The segment definition language: Pydantic models, parsing with paths, params, references.

A definition is JSON ``{"version": 1, "params": {...}, "root": <condition>}``; every condition
has a ``type`` (groups ``all`` / ``any`` / ``not`` and the leaves below). ``parse_definition``
turns JSON into a ``Definition`` or raises ``DefinitionError`` whose ``errors`` name each
offending place by a dotted path (``root.conditions[1].window.amount``) and a reason.
The language is documented in ``docs/segments.md``; ``schema.json`` beside this module is the
generated JSON Schema (``python -m retenta.segments.definition > schema.json``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from retenta.segments import definition_checks as _checks
from retenta.segments.definition_checks import err as _err
from retenta.segments.definition_labels import describe

__all__ = [
    "Condition",
    "Definition",
    "DefinitionError",
    "bind_params",
    "declared_params",
    "describe",
    "json_schema",
    "leaves",
    "parse_definition",
    "referenced_segments",
    "walk",
]

PARAM_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
PROPERTY_NAME = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$"
SCHEMA_PATH = Path(__file__).with_name("schema.json")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Param(_Model):
    """A value bound when the segment is used: ``{"param": "n"}`` (``"@n"`` in shorthand)."""

    param: str = Field(pattern=PARAM_NAME)


Scalar = str | int | float | bool
Value = Scalar | list[Scalar] | Param | None
Text = str | Param
Name = Annotated[str, Field(min_length=1, max_length=200)] | Param
Count = Annotated[int, Field(ge=0, le=1_000_000)] | Param

ValueType = Literal["text", "number", "date", "boolean", "list"]
FilterOp = Literal[
    "equals", "not_equals", "in", "not_in", "contains", "not_contains", "starts_with",
    "ends_with", "exists", "not_exists", "gt", "gte", "lt", "lte", "between", "is_true",
    "is_false", "before", "after",
]  # fmt: skip
AttributeOp = Literal[
    "equals", "not_equals", "in", "not_in", "contains", "not_contains", "starts_with",
    "ends_with", "exists", "not_exists", "gt", "gte", "lt", "lte", "between", "before",
    "after", "in_last", "in_next", "anniversary_in_next", "is_true", "is_false", "has_any",
    "has_all", "is_empty",
]  # fmt: skip
CompareOp = Literal["equals", "not_equals", "gt", "gte", "lt", "lte", "between"]
TimeUnit = Literal["minutes", "hours", "days", "weeks", "months"]
AggregateFn = Literal["count", "sum", "avg", "min", "max", "count_distinct", "first", "last"]
MessageStatus = Literal[
    "queued", "sent", "delivered", "opened", "clicked", "bounced", "complained", "failed",
    "unsubscribed", "suppressed",
]  # fmt: skip


# ---- time windows ---------------------------------------------------------------------------


class EverWindow(_Model):
    """No time limit."""

    kind: Literal["ever"]


class LastWindow(_Model):
    """The last ``amount`` ``unit`` before ``now`` ("in the last 90 days")."""

    kind: Literal["last"]
    amount: Annotated[int, Field(ge=1, le=100_000)] | Param
    unit: TimeUnit = "days"


class BetweenWindow(_Model):
    """An absolute range, ``from`` inclusive, ``to`` exclusive (ISO dates or timestamps, UTC)."""

    kind: Literal["between"]
    from_: date | datetime | Param = Field(alias="from")
    to: date | datetime | Param


class CalendarWindow(_Model):
    """A calendar month ("in September"): of ``year``, else the latest one started by now."""

    kind: Literal["calendar"]
    month: Annotated[int, Field(ge=1, le=12)]
    year: Annotated[int, Field(ge=1970, le=2200)] | None = None


class ThisWindow(_Model):
    """From the start of the current day / ISO week / month / year (UTC) until now."""

    kind: Literal["this"]
    unit: Literal["day", "week", "month", "year"]


class SinceFirstOrderWindow(_Model):
    """From the contact's own first order on (contacts without orders match nothing)."""

    kind: Literal["since_first_order"]


Window = Annotated[
    EverWindow | LastWindow | BetweenWindow | CalendarWindow | ThisWindow | SinceFirstOrderWindow,
    Field(discriminator="kind"),
]
EVER = EverWindow(kind="ever")


# ---- the parts of a TAD condition -----------------------------------------------------------


class PropertyFilter(_Model):
    """A filter on one property of the rows aggregated (event JSON property or order column)."""

    property: str = Field(pattern=PROPERTY_NAME)
    op: FilterOp
    value: Value = None
    value_type: Literal["text", "number", "boolean", "date"] | None = None


class Aggregate(_Model):
    fn: AggregateFn = "count"
    property: str | None = Field(default=None, pattern=PROPERTY_NAME)


class Compare(_Model):
    op: CompareOp = "gte"
    value: Value = 1


AT_LEAST_ONE = Compare(op="gte", value=1)
COUNT = Aggregate(fn="count")


class Unless(_Model):
    """Drop the ``per`` groups whose key also appears in these rows ("…and did not buy it")."""

    source: Literal["event", "purchase"] = "event"
    event: Name | None = None
    property: str = Field(pattern=PROPERTY_NAME)
    where: list[PropertyFilter] = Field(default_factory=list)
    window: Window | None = None


# ---- conditions -----------------------------------------------------------------------------


class AllCondition(_Model):
    type: Literal["all"]
    conditions: list[Condition] = Field(min_length=1)


class AnyCondition(_Model):
    type: Literal["any"]
    conditions: list[Condition] = Field(min_length=1)


class NotCondition(_Model):
    type: Literal["not"]
    condition: Condition


class AttributeCondition(_Model):
    """A contact column (email, language, created_at, …) or a key of ``attributes``."""

    type: Literal["attribute"]
    field: str = Field(pattern=PROPERTY_NAME)
    value_type: ValueType = "text"
    op: AttributeOp
    value: Value = None
    unit: TimeUnit = "days"


class SegmentCondition(_Model):
    type: Literal["segment"]
    segment_id: str = Field(min_length=1, max_length=100)
    member: bool = True


class _Tad(_Model):
    where: list[PropertyFilter] = Field(default_factory=list)
    window: Window = EVER
    aggregate: Aggregate = COUNT
    compare: Compare = AT_LEAST_ONE


class EventCondition(_Tad):
    type: Literal["event"]
    event: Name
    per: str | None = Field(default=None, pattern=PROPERTY_NAME)
    unless: Unless | None = None


class OrderCondition(_Tad):
    type: Literal["order"]


class PurchaseCondition(_Tad):
    type: Literal["purchase"]
    per: Literal["sku", "category", "brand", "name"] | None = None
    unless: Unless | None = None


class MessageCondition(_Tad):
    type: Literal["message"]
    status: MessageStatus = "opened"
    channel: Text | None = None
    campaign_id: Text | None = None
    message_id: Text | None = None
    tag: Text | None = None
    include_machine: bool = False


class ConsentCondition(_Model):
    type: Literal["consent"]
    channel: Text
    topic: Text = "*"
    status: Literal["subscribed", "unsubscribed", "pending"] = "subscribed"


class TraitCondition(_Model):
    type: Literal["trait"]
    trait: Literal[
        "orders", "revenue", "average_order_value", "first_order_at", "last_order_at",
        "last_activity_at", "favourite_category",
    ]  # fmt: skip
    op: AttributeOp
    value: Value = None
    unit: TimeUnit = "days"


class RfmCondition(_Model):
    """Named RFM cells, or score ranges (1–5, inclusive) on r / f / m."""

    type: Literal["rfm"]
    cells: list[str] | None = None
    r: tuple[int, int] | None = None
    f: tuple[int, int] | None = None
    m: tuple[int, int] | None = None


Condition = Annotated[
    AllCondition | AnyCondition | NotCondition | AttributeCondition | SegmentCondition
    | EventCondition | OrderCondition | PurchaseCondition | MessageCondition | ConsentCondition
    | TraitCondition | RfmCondition,
    Field(discriminator="type"),
]  # fmt: skip
Leaf = (
    AttributeCondition | SegmentCondition | EventCondition | OrderCondition | PurchaseCondition
    | MessageCondition | ConsentCondition | TraitCondition | RfmCondition
)  # fmt: skip
Group = AllCondition | AnyCondition | NotCondition


class ParamSpec(_Model):
    type: ValueType = "text"
    default: Value = None
    label: str | None = None


class Definition(_Model):
    version: Literal[1] = 1
    params: dict[Annotated[str, Field(pattern=PARAM_NAME)], ParamSpec] = Field(default_factory=dict)
    root: Condition

    def to_json(self) -> dict[str, Any]:
        """The definition as plain JSON (aliases, defaults left out)."""
        out: dict[str, Any] = escape_literals(
            self.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        )
        out["version"] = 1
        return out


for _model in (AllCondition, AnyCondition, NotCondition, Definition):
    _model.model_rebuild()


# ---- parsing --------------------------------------------------------------------------------


class DefinitionError(ValueError):
    """A definition that cannot be used; ``errors`` lists ``{"path", "reason"}``."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        first = errors[0] if errors else {"path": "root", "reason": "invalid"}
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first['path']}: {first['reason']}{more}")


def parse_definition(obj: Any) -> Definition:
    """Validate JSON (a dict or a JSON string) into a ``Definition``.

    >>> d = parse_definition({"root": {"type": "event", "event": "Order Completed"}})
    >>> d.root.window.kind, d.root.compare.op
    ('ever', 'gte')
    >>> parse_definition({"root": {"type": "all", "conditions": []}})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    retenta.segments.definition.DefinitionError: root.conditions: List should have at least 1 ...
    """
    if isinstance(obj, str | bytes):
        try:
            obj = json.loads(obj)
        except json.JSONDecodeError as exc:
            raise DefinitionError([{"path": "", "reason": f"not JSON: {exc}"}]) from exc
    if isinstance(obj, Definition):
        return obj
    raw = expand_shorthand(obj)
    try:
        defn = Definition.model_validate(raw)
    except ValidationError as exc:
        raise DefinitionError(_pydantic_errors(exc, raw)) from None
    errors = _checks.semantic_errors(defn)
    if errors:
        raise DefinitionError(errors)
    return defn


def expand_shorthand(obj: Any) -> Any:
    """``"@n"`` → ``{"param": "n"}`` and ``"@@x"`` → ``"@x"`` in every value.

    Only ``@`` followed by a name is a parameter, so ``"@gmail.com"`` stays text.

    >>> expand_shorthand({"value": "@n", "other": ["@@x", "@gmail.com"]})
    {'value': {'param': 'n'}, 'other': ['@x', '@gmail.com']}
    """
    if isinstance(obj, dict):
        return {k: expand_shorthand(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [expand_shorthand(v) for v in obj]
    if isinstance(obj, str) and obj.startswith("@"):
        if obj.startswith("@@"):
            return obj[1:]
        if re.match(PARAM_NAME, obj[1:]):
            return {"param": obj[1:]}
    return obj


def escape_literals(obj: Any) -> Any:
    """The inverse of ``expand_shorthand`` for literal text: ``"@x"`` → ``"@@x"``.

    >>> escape_literals({"value": "@x", "n": {"param": "n"}})
    {'value': '@@x', 'n': {'param': 'n'}}
    """
    if isinstance(obj, dict):
        return {k: escape_literals(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [escape_literals(v) for v in obj]
    if isinstance(obj, str) and obj.startswith("@"):
        return "@" + obj
    return obj


def _pydantic_errors(exc: ValidationError, raw: Any) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for err in exc.errors(include_url=False):
        path = json_path(err["loc"], raw)
        if path not in seen:
            seen.add(path)
            out.append({"path": path, "reason": err["msg"]})
    return out


def json_path(loc: tuple[int | str, ...], raw: Any) -> str:
    """A pydantic location as a dotted path into ``raw`` (union tags in ``loc`` are skipped).

    >>> raw = {"root": {"type": "all", "conditions": [{"type": "x"}]}}
    >>> json_path(("root", "all", "conditions", 0, "type"), raw)
    'root.conditions[0].type'
    """
    path, node = "", raw
    tag = None
    for part in loc:
        if isinstance(node, dict) and part == tag:
            tag = None  # the discriminated union's member, not a key
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path, node = f"{path}[{part}]", node[part]
            tag = _tag_of(node)
        elif isinstance(node, dict) and isinstance(part, str) and (part in node or _is_key(part)):
            key = "from" if part == "from_" else part
            path, node = (f"{path}.{key}" if path else key), node.get(key)
            tag = _tag_of(node)
    return path


def _tag_of(node: Any) -> Any:
    return node.get("type", node.get("kind")) if isinstance(node, dict) else None


def _is_key(part: str) -> bool:
    """A missing field (pydantic names it) rather than a union member like ``int``."""
    return bool(re.match(r"^[a-z_][a-z0-9_]*$", part)) and part not in _checks.UNION_TAGS


# ---- walking --------------------------------------------------------------------------------


def walk(cond: Any, path: str = "root") -> Iterator[tuple[str, Any]]:
    """Every condition with its path, parents before children."""
    yield path, cond
    if isinstance(cond, AllCondition | AnyCondition):
        for i, child in enumerate(cond.conditions):
            yield from walk(child, f"{path}.conditions[{i}]")
    elif isinstance(cond, NotCondition):
        yield from walk(cond.condition, f"{path}.condition")


def leaves(defn: Definition) -> list[tuple[str, Leaf]]:
    """The leaf conditions with their paths (what preview explains, one reason each).

    >>> d = parse_definition({"root": {"type": "not", "condition":
    ...     {"type": "consent", "channel": "email"}}})
    >>> [(p, c.type) for p, c in leaves(d)]
    [('root.condition', 'consent')]
    """
    return [
        (p, c)
        for p, c in walk(defn.root)
        if not isinstance(c, AllCondition | AnyCondition | NotCondition)
    ]


def referenced_segments(defn: Definition) -> list[str]:
    """Ids of the segments this definition includes or excludes, first use first."""
    ids = [c.segment_id for _, c in walk(defn.root) if isinstance(c, SegmentCondition)]
    return list(dict.fromkeys(ids))


def declared_params(defn: Definition) -> dict[str, ParamSpec]:
    return dict(defn.params)


def used_params(defn: Definition) -> list[tuple[str, str]]:
    """``(path, name)`` of every ``{"param": …}`` in the definition."""
    return _checks.param_uses(defn.to_json()["root"], "root")


def bind_params(
    defn: Definition, values: dict[str, Any] | None = None
) -> tuple[Definition, dict[str, Any]]:
    """Replace every parameter by its value (given, else its default); returns the values used.

    >>> d = parse_definition({"params": {"n": {"type": "number", "default": 2}},
    ...     "root": {"type": "trait", "trait": "orders", "op": "gte", "value": "@n"}})
    >>> bound, used = bind_params(d, {})
    >>> bound.root.value, used
    (2, {'n': 2})
    """
    values = dict(values or {})
    unknown = sorted(set(values) - set(defn.params))
    if unknown:
        raise DefinitionError([_err(f"params.{n}", "not a declared parameter") for n in unknown])
    used: dict[str, Any] = {}
    errors: list[dict[str, str]] = []
    for path, name in used_params(defn):
        value = values.get(name, defn.params[name].default)
        if value is None:
            errors.append(_err(path, f"parameter @{name} has no value and no default"))
        used[name] = value
    if errors:
        raise DefinitionError(errors)
    raw = _checks.substitute(defn.to_json(), escape_literals(used))
    raw["params"] = {}
    return parse_definition(raw), used


# ---- schema ---------------------------------------------------------------------------------


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a definition (what ``schema.json`` holds)."""
    schema = Definition.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Retenta segment definition"
    return schema


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(schema_text())
