"""Email content: one message, all its language versions, rendered per contact.

Each version (subject, preheader, MJML body) is compiled once: MJML → HTML (mjml-python),
CSS inlined (css-inline), a plain-text part derived from that HTML, all with the Jinja
markup carried through (``protect.py``). Per contact only the Jinja templates run, so a
send costs a few tenths of a millisecond. Jinja blocks that wrap MJML elements go in
``<mj-raw>`` (``<mj-raw>{% for p in products %}</mj-raw>``), as MJML documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import css_inline
import mjml

from retenta.messaging.email.protect import mask
from retenta.messaging.email.text import html_to_text, tidy_text
from retenta.messaging.i18n import pick_language
from retenta.messaging.templates import CompiledTemplate, RenderError, compile_template

_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False, keep_style_tags=True)
_HEAD = re.compile(r"<mj-head\s*>", re.IGNORECASE)
# Whitespace that breaks or pads a header line; no-break spaces (money, names) stay.
_LINE_BREAKS = re.compile(r"[ \t\r\n\f\v\x85\u2028\u2029]+")
_ROOT = re.compile(r"<mjml(\s[^>]*)?>", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class EmailVersion:
    """One language version as the marketer writes it (Jinja in subject, preheader, MJML)."""

    subject: str
    mjml: str
    preheader: str = ""


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    language: str
    subject: str
    preheader: str
    html: str
    text: str


@dataclass(frozen=True, slots=True)
class CompiledVersion:
    language: str
    subject: CompiledTemplate
    preheader: CompiledTemplate
    html: CompiledTemplate
    text: CompiledTemplate

    def render(self, variables: Mapping[str, Any]) -> RenderedEmail:
        """Raises :class:`RenderError` (naming the part and line) when a part fails."""
        return RenderedEmail(
            language=self.language,
            subject=one_line(self.subject.render(variables)),
            preheader=one_line(self.preheader.render(variables)),
            html=self.html.render(variables),
            text=tidy_text(self.text.render(variables)),
        )


@dataclass(frozen=True, slots=True)
class CompiledEmail:
    """A message with all its language versions, ready to render for any contact."""

    name: str
    versions: Mapping[str, CompiledVersion]
    default_language: str
    # Turns a failure into a more precise one (which block or section, its own line).
    explain: Callable[[str, Mapping[str, Any], RenderError], RenderError] | None = None

    def version_for(
        self,
        *,
        contact_language: str | None,
        browser_languages: Iterable[str] = (),
        workspace_default: str | None = None,
    ) -> CompiledVersion:
        language = pick_language(
            list(self.versions),
            contact_language=contact_language,
            browser_languages=browser_languages,
            workspace_default=workspace_default or self.default_language,
        )
        return self.versions[language]

    def render(
        self,
        variables: Mapping[str, Any],
        *,
        browser_languages: Iterable[str] = (),
        workspace_default: str | None = None,
    ) -> RenderedEmail | RenderError:
        """The contact's version rendered, or the reason it could not be (this send fails)."""
        contact = variables.get("contact") or {}
        version = self.version_for(
            contact_language=contact.get("language"),
            browser_languages=browser_languages,
            workspace_default=workspace_default,
        )
        try:
            return version.render(variables)
        except RenderError as err:
            return self.explain(version.language, variables, err) if self.explain else err


def compile_email(
    name: str, versions: Mapping[str, EmailVersion], *, default_language: str | None = None
) -> CompiledEmail:
    """Compile every language version; a broken one raises :class:`RenderError` naming it."""
    if not versions:
        raise ValueError("a message needs at least one language version")
    compiled = {lang: compile_version(f"{name}[{lang}]", lang, v) for lang, v in versions.items()}
    default = default_language if default_language in versions else next(iter(versions))
    return CompiledEmail(name=name, versions=compiled, default_language=str(default))


def compile_version(name: str, language: str, version: EmailVersion) -> CompiledVersion:
    mjml_source = with_language(with_preview(version.mjml, version.preheader), language)
    html_source, text_source = compile_body(name, mjml_source)
    return CompiledVersion(
        language=language,
        subject=compile_template(version.subject, name=f"{name}.subject", html=False),
        preheader=compile_template(version.preheader, name=f"{name}.preheader", html=False),
        html=compile_template(html_source, name=f"{name}.html"),
        text=compile_template(text_source, name=f"{name}.text", html=False),
    )


def compile_body(name: str, mjml_source: str) -> tuple[str, str]:
    """MJML (with Jinja inside) → (HTML template, plain-text template)."""
    masked = mask(mjml_source)
    try:
        html = mjml.mjml2html(masked.text)
    except ValueError as exc:
        raise RenderError(f"{name}.mjml", None, f"invalid MJML: {exc}") from None
    inlined = _INLINER.inline(html)
    return masked.unmask(inlined), masked.unmask(html_to_text(inlined))


def with_preview(mjml_source: str, preheader: str) -> str:
    """Put the preheader in ``<mj-preview>`` (MJML hides it at the top of the body)."""
    if not preheader:
        return mjml_source
    preview = f"<mj-preview>{preheader}</mj-preview>"
    if _HEAD.search(mjml_source):
        return _HEAD.sub(lambda m: m.group(0) + preview, mjml_source, count=1)
    return _ROOT.sub(lambda m: f"{m.group(0)}<mj-head>{preview}</mj-head>", mjml_source, count=1)


def with_language(mjml_source: str, language: str) -> str:
    """``<mjml>`` → ``<mjml lang="uk">`` unless the author set one (screen readers, clients).

    >>> with_language("<mjml><mj-body/></mjml>", "uk")
    '<mjml lang="uk"><mj-body/></mjml>'
    """
    if not re.fullmatch(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*", language):
        return mjml_source
    root = _ROOT.search(mjml_source)
    if root is None or "lang=" in (root.group(1) or ""):
        return mjml_source
    return f'{mjml_source[: root.end() - 1]} lang="{language}">{mjml_source[root.end() :]}'


def one_line(value: str) -> str:
    """Headers are one line: newlines and runs of spaces collapse (no header injection).

    >>> one_line(" Hi\\r\\nBcc: x@y  there\\u2028€\\xa05 ")
    'Hi Bcc: x@y there €\\xa05'
    """
    return _LINE_BREAKS.sub(" ", value).strip(" ")
