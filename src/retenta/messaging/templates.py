"""Marketers' templates: Jinja2 in a strict sandbox, locale filters, per-send failures.

A template is compiled once and rendered per contact. A failure while rendering for one
contact is a :class:`RenderError` naming the template, the line and the reason — returned
for that send by :func:`render_many`, never an exception that stops a batch.

>>> t = compile_template("Hi {{ contact.first_name | default('friend') }}!", name="subject")
>>> t.render({"contact": {"first_name": None}})
'Hi friend!'
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from jinja2 import ChainableUndefined, Template, TemplateSyntaxError, Undefined
from jinja2.exceptions import SecurityError, TemplateError

from retenta.messaging.filters import LOCALE_FILTERS
from retenta.messaging.sandbox import StrictSandbox, render_bounded


def default(value: Any, fallback: Any = "", boolean: bool = False) -> Any:
    """A missing value is undefined *or None* (absent order, empty profile field).

    >>> default(None, "friend"), default("Ann", "friend"), default("", "friend", True)
    ('friend', 'Ann', 'friend')
    """
    if isinstance(value, Undefined) or value is None or (boolean and not value):
        return fallback
    return value


class DataSandbox(StrictSandbox):
    """Variables are plain data: ``order.items`` is the order's items, not ``dict.items``.

    >>> compile_template("{{ order.items | length }}", name="t").render({"order": {"items": [1]}})
    '1'
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, dict) and attribute in obj:  # a key is data, never an attribute
            return obj[attribute]
        return super().getattr(obj, attribute)


def _blank_none(value: Any) -> Any:
    """What ``{{ … }}`` prints: ``None`` (a field the contact does not have) prints empty.

    >>> compile_template("Hi {{ name }}!", name="t").render({"name": None})
    'Hi !'
    """
    return "" if value is None else value


def _environment(*, autoescape: bool) -> StrictSandbox:
    # A missing value renders empty and chains: ``{{ contact.attributes.city.name }}``.
    env = DataSandbox(autoescape=autoescape, undefined=ChainableUndefined)
    env.finalize = _blank_none  # an absent profile field prints empty, never "None"
    env.filters.update(LOCALE_FILTERS)
    env.filters.update(default=default, d=default)
    return env


HTML_ENV = _environment(autoescape=True)
TEXT_ENV = _environment(autoescape=False)


class RenderError(Exception):
    """A template failed (to compile, or for one contact): which template, which line, why."""

    def __init__(self, template: str, line: int | None, reason: str) -> None:
        where = f"{template}, line {line}" if line else template
        super().__init__(f"{where}: {reason}")
        self.template = template
        self.line = line
        self.reason = reason

    def as_dict(self) -> dict[str, Any]:
        return {"template": self.template, "line": self.line, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class CompiledTemplate:
    """One compiled template; ``render`` raises :class:`RenderError`, nothing else.

    It keeps its source, so it pickles as (name, source, html) and compiles again where it
    is unpickled (once per source in that process): the compose pool's workers get a
    message's content this way.

    >>> import pickle
    >>> t = compile_template("Hi {{ name }}!", name="subject", html=False)
    >>> pickle.loads(pickle.dumps(t)).render({"name": "Ann"})
    'Hi Ann!'
    """

    name: str
    template: Template
    source: str = ""
    html: bool = True

    def __reduce__(self) -> tuple[Any, tuple[str, str, bool]]:
        return (_recompiled, (self.name, self.source, self.html))

    def render(self, variables: Mapping[str, Any]) -> str:
        # What ``Template.generate`` does, minus its copy of the variables and the generator
        # layer every output piece passed through; on failure, Jinja rewrites the traceback
        # to template lines (``handle_exception`` re-raises) before it becomes a RenderError.
        template = self.template
        try:
            context = template.new_context(
                variables if isinstance(variables, dict) else dict(variables)
            )
            return render_bounded(template.root_render_func(context))
        except Exception:
            try:
                template.environment.handle_exception()
            except Exception as exc:
                raise _render_error(self.name, exc) from None


def compile_template(source: str, *, name: str, html: bool = True) -> CompiledTemplate:
    """Compile ``source``; ``html`` turns autoescape on (subjects and text parts leave it off)."""
    env = HTML_ENV if html else TEXT_ENV
    try:
        code = env.compile(source, name=name, filename=name)
    except TemplateSyntaxError as exc:
        raise RenderError(name, exc.lineno, exc.message or "syntax error") from None
    # A plain dict of the sandbox's globals (``range``, ``namespace``), not Jinja's ChainMap:
    # every render copies the globals into its context, and iterating a ChainMap in Python
    # was 3 of the 5 µs each render spent before running any template code.
    template = env.template_class.from_code(env, code, dict(env.globals), None)
    return CompiledTemplate(name=name, template=template, source=source, html=html)


@functools.lru_cache(maxsize=256)
def _recompiled(name: str, source: str, html: bool) -> CompiledTemplate:
    """An unpickled template: compiled once per (name, source, html) in this process."""
    return compile_template(source, name=name, html=html)


def render_many(
    template: CompiledTemplate, contexts: Iterable[Mapping[str, Any]]
) -> list[str | RenderError]:
    """Render for each context; a failure is that context's result, the rest go on."""
    out: list[str | RenderError] = []
    for variables in contexts:
        try:
            out.append(template.render(variables))
        except RenderError as err:
            out.append(err)
    return out


def _render_error(name: str, exc: BaseException) -> RenderError:
    if isinstance(exc, TemplateSyntaxError):
        return RenderError(name, exc.lineno, exc.message or "syntax error")
    return RenderError(name, _template_line(name, exc.__traceback__), _reason(exc))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SecurityError):
        return f"not allowed: {exc}"
    if isinstance(exc, TemplateError):
        return str(exc.message or type(exc).__name__)
    if isinstance(exc, RecursionError | MemoryError):
        return "the template needs too much work to render"
    return f"{type(exc).__name__}: {exc}"


def _template_line(name: str, tb: TracebackType | None) -> int | None:
    """The last template line in a traceback (Jinja rewrites frames to template lines)."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == name:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
