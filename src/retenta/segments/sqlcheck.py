"""Checking SQL-template segments (ExpertSender-style) before they run. Pure: no I/O.

A template is ONE read-only SELECT (WITH and UNION/INTERSECT/EXCEPT allowed) over the
documented views (``segments.views``), returning a ``contact_id`` column, with named
``@params``. The check parses with sqlglot and walks the tree:

- exactly one statement, and it is a query (no DDL, DML, COPY, PRAGMA, SET, ATTACH, …);
- every table is a documented view or the query's own CTE; no schema-qualified names, no
  files (``FROM 'x.csv'``), no table functions except ``unnest``/``range``/
  ``generate_series``;
- every function is of a class sqlglot knows as pure computation (string, date, math,
  aggregate, list, JSON, conditionals), minus a deny-list (file readers, sequences,
  session/catalog introspection), or an unknown-to-sqlglot name on a vetted list — so
  ``read_csv``, ``glob``, ``getenv``, ``current_setting``, ``query(...)`` are refused;
- ``@name`` parameters are bound as typed sqlglot literals (never text), unknown or
  missing ones are errors.

What runs is the SQL regenerated from the checked tree with comments dropped, never the
user's text, so a comment cannot smuggle a second statement past the check.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlglot
from sqlglot import TokenType, exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import ParseError, TokenError

MAX_SQL_CHARS = 20_000
TABLE_FUNCTIONS = frozenset({"unnest", "range", "generate_series"})
ALLOWED_FUNCTION_MODULES = frozenset(
    {"string", "temporal", "aggregate", "array", "math", "json", "core"}
)
ALLOWED_MISC_FUNCTIONS = frozenset(
    {"Case", "Cast", "CastToStrType", "Coalesce", "Collate", "Columns", "Convert", "EqualNull",
     "Exists", "Greatest", "If", "IsArray", "Least", "Nullif", "Nvl2", "RangeBucket",
     "ToBoolean", "Try", "TryCast", "WidthBucket"}
)  # fmt: skip
DENIED_FUNCTIONS = frozenset(
    {"ReadCSV", "ReadParquet", "ToFile", "NextValueFor", "CurrentTimezone", "GenerateTable",
     "XMLTable", "SplitToTable", "StrtokSplitToTable", "JSONTable", "DynamicIdentifier"}
)  # fmt: skip
# DuckDB functions sqlglot has no class for, vetted as pure computation.
ALLOWED_ANONYMOUS = frozenset(
    {
        "age", "any_value", "approx_quantile", "arg_max", "arg_min", "array_has",
        "array_has_all", "array_has_any", "array_length", "bit_count", "bool_and", "bool_or",
        "cardinality", "century", "contains", "count_if", "cume_dist", "damerau_levenshtein",
        "date_diff", "date_part", "date_sub", "date_trunc", "dayname", "dayofmonth", "dayofweek",
        "dayofyear", "dense_rank", "element_at", "ends_with", "entropy", "epoch", "epoch_ms",
        "epoch_us", "even", "factorial", "favg", "first", "first_value", "fsum", "gamma",
        "hamming", "histogram", "ifnull", "ilike_escape", "instr", "isfinite", "isinf", "isnan",
        "isodow", "isoyear", "jaccard", "jaro_similarity", "jaro_winkler_similarity",
        "json_array_length", "json_exists", "json_extract_string", "json_keys", "json_type",
        "json_valid", "kurtosis", "lag", "last", "last_day", "last_value", "lead", "len",
        "levenshtein", "lgamma", "like_escape", "list", "list_aggregate", "list_any_value",
        "list_avg", "list_contains", "list_count", "list_distinct", "list_extract", "list_has",
        "list_has_all", "list_has_any", "list_max", "list_min", "list_position",
        "list_reverse_sort", "list_slice", "list_sort", "list_sum", "list_unique", "make_date",
        "make_time", "make_timestamp", "map_extract", "map_keys", "map_values", "median",
        "millennium", "mode", "monthname", "nfc_normalize", "now", "nth_value", "ntile",
        "percent_rank", "prefix", "product", "quantile_cont", "quantile_disc", "quarter", "rank",
        "regexp_extract_all", "regexp_full_match", "round_even", "row_number", "signbit",
        "skewness", "starts_with", "str_split", "string_agg", "string_split", "strip_accents",
        "struct_extract", "struct_pack", "suffix", "time_bucket", "to_days", "to_hours",
        "to_json", "to_minutes", "to_months", "to_seconds", "to_weeks", "to_years", "today",
        "weekofyear", "yearweek",
    }
)  # fmt: skip
FORBIDDEN_NODES = tuple(
    getattr(exp, name)
    for name in (
        "DDL", "DML", "Create", "Drop", "Alter", "Insert", "Update", "Delete", "Merge", "Copy",
        "Command", "Set", "Pragma", "Into", "Attach", "Detach", "Use", "Transaction",
        "Commit", "Rollback", "Describe", "Show", "Summarize", "Export", "Install", "Load",
        "Parameter", "SessionParameter", "LoadData", "Analyze", "Grant", "Revoke",
    )
    if hasattr(exp, name)
)  # fmt: skip
PARAM_TYPES = ("text", "number", "integer", "boolean", "date", "datetime", "list")


@dataclass
class SqlProblem:
    reason: str
    position: dict[str, int] | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": self.reason}
        if self.position:
            out["position"] = self.position
        return out


class SqlCheckError(ValueError):
    """The template was refused; ``errors`` says precisely why (and where, when known)."""

    def __init__(self, errors: list[SqlProblem]) -> None:
        super().__init__("; ".join(e.reason for e in errors))
        self.errors = errors


@dataclass
class CheckedSql:
    query: exp.Query  # parameters bound, comments dropped, view names lower-cased
    views_used: list[str]
    params_used: dict[str, Any] = field(default_factory=dict)

    def sql(self, dialect: str = "duckdb") -> str:
        return self.query.sql(dialect)


def _position(node: exp.Expr | None) -> dict[str, int] | None:
    """Line and column of the first token of ``node`` that sqlglot recorded."""
    if node is None:
        return None
    for sub in node.walk():
        meta = getattr(sub, "_meta", None) or {}
        if "line" in meta and "col" in meta:
            width = int(meta.get("end", 0)) - int(meta.get("start", 0))
            return {"line": int(meta["line"]), "column": max(int(meta["col"]) - width, 1)}
    return None


def rewrite_params(sql: str) -> tuple[str, list[str]]:
    """``@name`` (glued) becomes the placeholder ``$name``; strings and comments untouched.

    In DuckDB ``@`` is also the absolute-value operator, so only ``@`` directly followed
    by a name is a parameter.

    >>> rewrite_params("SELECT contact_id FROM orders WHERE total > @min AND '@x' <> @ y")
    ("SELECT contact_id FROM orders WHERE total > $min AND '@x' <> @ y", ['min'])
    """
    tokens = DuckDB.Tokenizer().tokenize(sql)
    out, names, last = [], [], 0
    for prev, tok in itertools.pairwise(tokens):
        if prev.token_type != TokenType.PARAMETER or prev.text != "@":
            continue
        if tok.start != prev.end + 1 or tok.token_type not in (TokenType.VAR, TokenType.IDENTIFIER):
            continue
        out.append(sql[last : prev.start] + "$")
        last = prev.end + 1
        names.append(tok.text)
    out.append(sql[last:])
    return "".join(out), list(dict.fromkeys(names))


def coerce_param(name: str, spec: Any) -> exp.Expr:
    """A parameter value as a typed literal. ``spec`` is a value or ``{type, value|default}``.

    >>> coerce_param("n", 2).sql(), coerce_param("d", {"type": "date", "value": "2026-09-01"}).sql()
    ('2', "CAST('2026-09-01' AS DATE)")
    >>> coerce_param("tags", ["a", "b"]).sql("duckdb")
    "['a', 'b']"
    """
    kind = None
    value = spec
    if isinstance(spec, Mapping):
        kind = spec.get("type")
        value = spec.get("value", spec.get("default"))
        if kind is not None and kind not in PARAM_TYPES:
            raise ValueError(f"@{name}: type must be one of {', '.join(PARAM_TYPES)}")
    return _literal(name, kind, value)


def _literal(name: str, kind: str | None, value: Any) -> exp.Expr:
    if value is None:
        return exp.null()
    if kind == "list" or isinstance(value, list | tuple):
        if not isinstance(value, list | tuple):
            raise ValueError(f"@{name}: expected a list")
        return exp.Array(expressions=[_literal(name, None, v) for v in value])
    if kind in ("date", "datetime") or isinstance(value, date):
        text = value.isoformat() if isinstance(value, date) else str(value)
        target = "DATE" if kind == "date" or type(value) is date else "TIMESTAMPTZ"
        _check_time(name, text, target)
        return exp.cast(exp.Literal.string(text), target)
    if kind == "boolean" or isinstance(value, bool):
        if not isinstance(value, bool):
            raise ValueError(f"@{name}: expected true or false")
        return exp.Boolean(this=value)
    if kind in ("number", "integer") or isinstance(value, int | float):
        return _number(name, kind, value)
    if kind in (None, "text") and isinstance(value, str):
        return exp.Literal.string(value)
    raise ValueError(f"@{name}: unsupported value {value!r}")


def _number(name: str, kind: str | None, value: Any) -> exp.Expr:
    try:
        number = int(value) if kind == "integer" else float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"@{name}: expected a {kind or 'number'}") from exc
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueError(f"@{name}: expected a finite number")
    if isinstance(value, int) and not isinstance(value, bool) and kind != "number":
        number = int(value)
    if isinstance(number, float) and number.is_integer() and isinstance(value, int):
        number = int(number)
    literal = exp.Literal.number(number)
    return exp.Neg(this=exp.Literal.number(-number)) if number < 0 else literal


def _check_time(name: str, text: str, target: str) -> None:
    try:
        if target == "DATE":
            date.fromisoformat(text)
        else:
            datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"@{name}: {text!r} is not an ISO {target.lower()}") from exc


def parse_one_query(sql: str) -> exp.Expr:
    """The single statement of ``sql``; ``SqlCheckError`` for none, several or bad syntax."""
    if len(sql) > MAX_SQL_CHARS:
        raise SqlCheckError([SqlProblem(f"the query is longer than {MAX_SQL_CHARS} characters")])
    try:
        parsed = sqlglot.parse(sql, dialect="duckdb")
        statements = [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        pos = {"line": first["line"], "column": first["col"]} if "line" in first else None
        reason = str(first.get("description") or exc).split("\n")[0]
        raise SqlCheckError([SqlProblem(f"syntax error: {reason}", pos)]) from exc
    except TokenError as exc:
        raise SqlCheckError([SqlProblem(f"syntax error: {exc}")]) from exc
    except RecursionError as exc:
        raise SqlCheckError([SqlProblem("the query is nested too deeply")]) from exc
    if not statements:
        raise SqlCheckError([SqlProblem("the query is empty")])
    if len(statements) > 1:
        raise SqlCheckError(
            [SqlProblem(f"exactly one statement is allowed; found {len(statements)}",
                        _position(statements[1]))]
        )  # fmt: skip
    return statements[0]


def _statement_kind(node: exp.Expr) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    return type(node).__name__.upper()


def _check_root(root: exp.Expr) -> exp.Query:
    while isinstance(root, exp.Subquery) and not root.args.get("alias"):
        root = root.this
    if not isinstance(root, exp.Select | exp.SetOperation):
        raise SqlCheckError(
            [SqlProblem(f"only a read-only SELECT is allowed; found {_statement_kind(root)}",
                        _position(root))]
        )  # fmt: skip
    return root


def _problems_in_nodes(query: exp.Query) -> list[SqlProblem]:
    problems = []
    for node in query.walk():
        if isinstance(node, FORBIDDEN_NODES):
            what = _statement_kind(node)
            problems.append(
                SqlProblem(f"{what} is not allowed in a segment query", _position(node))
            )
    return problems


def _table_problem(table: exp.Table, allowed: Collection[str], own: set[str]) -> str | None:
    if isinstance(table.this, exp.Func):
        name = _func_name(table.this)
        if name.lower() in TABLE_FUNCTIONS:
            return None
        return f"table function {name}() is not allowed; read the documented views"
    if not isinstance(table.this, exp.Identifier):
        return f"{table.this.sql('duckdb')} cannot be read as a table"
    qualified = ".".join(p.name for p in table.parts)
    if table.args.get("db") or table.args.get("catalog"):
        return f"qualified name {qualified} is not allowed; use the view name alone"
    name = table.name.lower()
    if name in own or name in allowed:
        return None
    if "." in name or "/" in name:
        return f"{table.name!r} is not a view (files cannot be read)"
    return f"unknown table {table.name!r}; the views are: {', '.join(allowed)}"


def _func_name(func: exp.Func) -> str:
    if isinstance(func, exp.Anonymous | exp.AnonymousAggFunc):
        return str(func.name)
    return func.sql_name()


def _function_problem(func: exp.Func) -> str | None:
    if isinstance(func, exp.Anonymous | exp.AnonymousAggFunc):
        name = str(func.name).lower()
        return None if name in ALLOWED_ANONYMOUS else f"function {name}() is not allowed"
    cls = type(func)
    module = cls.__module__.rsplit(".", 1)[-1]
    allowed = module in ALLOWED_FUNCTION_MODULES or cls.__name__ in ALLOWED_MISC_FUNCTIONS
    if allowed and cls.__name__ not in DENIED_FUNCTIONS:
        return None
    return f"function {func.sql_name().lower()}() is not allowed"


def _reference_problems(query: exp.Query, allowed: Collection[str]) -> list[SqlProblem]:
    own = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    problems = [
        SqlProblem(f"CTE name {name!r} hides the view of that name; rename it")
        for name in sorted(own & set(allowed))
    ]
    for table in query.find_all(exp.Table):
        reason = _table_problem(table, allowed, own)
        if reason:
            problems.append(SqlProblem(reason, _position(table)))
    for func in query.find_all(exp.Func):
        if isinstance(func.parent, exp.Table) and func.parent.this is func:
            continue  # judged as a table function above
        reason = _function_problem(func)
        if reason:
            problems.append(SqlProblem(reason, _position(func)))
    return problems


def _bind(query: exp.Query, params: Mapping[str, Any]) -> tuple[dict[str, Any], list[SqlProblem]]:
    used: dict[str, Any] = {}
    problems = []
    for holder in list(query.find_all(exp.Placeholder)):
        name = str(holder.name) if holder.this else ""
        if not name or name == "?":
            problems.append(SqlProblem("positional parameters (?) are not allowed; use @name"))
            continue
        if name not in params:
            problems.append(SqlProblem(f"parameter @{name} has no value", _position(holder)))
            continue
        try:
            holder.replace(coerce_param(name, params[name]))
        except ValueError as exc:
            problems.append(SqlProblem(str(exc)))
            continue
        used[name] = params[name]
    return used, problems


def _output_problem(query: exp.Query) -> SqlProblem | None:
    selects = query.selects
    if any(isinstance(s, exp.Star) or (isinstance(s, exp.Column) and s.is_star) for s in selects):
        return None  # known only when it runs
    names = [s.alias_or_name.lower() for s in selects]
    if "contact_id" not in names:
        return SqlProblem("the query must return a contact_id column")
    return None


def _normalize(query: exp.Query, allowed: Collection[str]) -> None:
    """Drop comments; lower-case view names (DuckDB names are case-insensitive)."""
    for node in query.walk():
        node.comments = None
        table_name = node.name.lower() if isinstance(node, exp.Table) else ""
        if isinstance(node.this, exp.Identifier) and table_name in allowed:
            node.set("this", exp.to_identifier(node.name.lower()))


def check_sql(
    sql: str, *, views: Collection[str], params: Mapping[str, Any] | None = None
) -> CheckedSql:
    """The checked, parameter-bound query; ``SqlCheckError`` listing every problem found.

    >>> checked = check_sql("SELECT contact_id FROM orders WHERE total > @min",
    ...                     views=["orders"], params={"min": 100})
    >>> checked.sql(), checked.views_used
    ('SELECT contact_id FROM orders WHERE total > 100', ['orders'])
    """
    try:
        return _check(sql, views, params or {})
    except RecursionError as exc:  # sqlglot walks and writes trees recursively
        raise SqlCheckError([SqlProblem("the query is nested too deeply")]) from exc


def _check(sql: str, views: Collection[str], params: Mapping[str, Any]) -> CheckedSql:
    text, _ = rewrite_params(sql)
    query = _check_root(parse_one_query(text))
    problems = _problems_in_nodes(query) + _reference_problems(query, views)
    used, bind_problems = _bind(query, params)
    problems += bind_problems
    output = _output_problem(query)
    if output:
        problems.append(output)
    if problems:
        raise SqlCheckError(problems)
    _normalize(query, views)
    own = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    used_views = sorted({t.name for t in query.find_all(exp.Table)} - own)
    query.sql("duckdb")  # it can be written back (deep trees fail here, not when run)
    return CheckedSql(
        query=query, views_used=[v for v in used_views if v in views], params_used=used
    )
