"""Checks before a block or message is saved: every error names its path, line and reason.

A template error is a ``422 template_error`` whose ``details`` are
``[{"path", "template", "line", "reason"}]``; a reference error (unknown block, a block
without the channel's source, an undeclared parameter) is a ``422 validation_error``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from retenta.errors import ApiError
from retenta.messaging.content.compose import BlockVersion
from retenta.messaging.email.render import compile_body
from retenta.messaging.templates import RenderError, compile_template

SECTION_DOC = "<mjml><mj-body>\n{}\n</mj-body></mjml>"


def template_errors(errors: list[dict[str, Any]], message: str) -> ApiError:
    first = errors[0]
    return ApiError(
        422, "template_error", f"{message}: {first['path']}: {first['reason']}",
        field=first["path"], details=errors,
    )  # fmt: skip


def source_errors(source: str, *, path: str, kind: str) -> list[dict[str, Any]]:
    """Errors of one source (``mjml`` section(s), ``text`` or ``subject``), line numbers its own.

    >>> source_errors("Hi {{ name }", path="text.en", kind="text")[0]["line"]
    1
    >>> source_errors("<mj-section><mj-column>", path="email.en", kind="mjml")[0]["reason"]
    'invalid MJML: unexpected end of stream in root template'
    """
    try:
        compile_template(source, name=path, html=kind == "mjml")
    except RenderError as err:
        return [{"path": path, "template": path, "line": err.line, "reason": err.reason}]
    if kind == "subject" and ("\n" in source.strip()):
        return [{"path": path, "template": path, "line": 2, "reason": "a subject is one line"}]
    if kind != "mjml":
        return []
    document = source if source.lstrip().startswith("<mjml") else SECTION_DOC.format(source)
    try:
        compile_body(path, document)
    except RenderError as err:
        return [{"path": path, "template": path, "line": None, "reason": err.reason}]
    return []


def section_errors(source: str, *, path: str) -> list[dict[str, Any]]:
    """A part of a body holds sections, not a whole document; then the usual checks.

    >>> section_errors("<mjml><mj-body></mj-body></mjml>", path="email.en")[0]["reason"]
    'a block or section holds <mj-section> elements, not a whole <mjml> document'
    """
    if source.lstrip()[:5].lower() == "<mjml":
        reason = "a block or section holds <mj-section> elements, not a whole <mjml> document"
        return [{"path": path, "template": path, "line": 1, "reason": reason}]
    return source_errors(source, path=path, kind="mjml")


def check_block(doc: Mapping[str, Any]) -> None:
    """Every language source of a block compiles (Jinja and MJML)."""
    errors = []
    for language, source in (doc.get("email") or {}).items():
        errors += section_errors(source, path=f"email.{language}")
    for language, source in (doc.get("text") or {}).items():
        errors += source_errors(source, path=f"text.{language}", kind="text")
    if errors:
        raise template_errors(errors, "the block has a template error")


def check_sections(content: Mapping[str, Any]) -> None:
    """The inline sections of an email body are sections, not documents."""
    errors = []
    for index, part in enumerate(content.get("body") or []):
        for language, source in (part.get("mjml") or {}).items():
            path = f"channels.email.body[{index}].mjml.{language}"
            if source.lstrip()[:5].lower() == "<mjml":
                errors += section_errors(source, path=path)
    if errors:
        raise template_errors(errors, "the message has a template error")


def check_refs(
    channel: str,
    refs: list[tuple[str, Mapping[str, Any]]],
    blocks: Mapping[str, BlockVersion],
) -> None:
    """Each referenced block exists, has this channel's source and declares the parameters."""
    kind = "email" if channel == "email" else "text"
    for path, ref in refs:
        block = blocks.get(ref["block"])
        if block is None:
            raise _invalid(f"{path}.block", f"no block {ref['block']}")
        if not (block.email if kind == "email" else block.text):
            raise _invalid(f"{path}.block", f"block {block.block_id} has no {kind} source")
        for name in ref.get("params") or {}:
            if name not in block.params:
                declared = ", ".join(sorted(block.params)) or "none"
                raise _invalid(
                    f"{path}.params.{name}",
                    f"block {block.block_id} has no parameter {name} (declared: {declared})",
                )


def _invalid(field: str, reason: str) -> ApiError:
    return ApiError(422, "validation_error", f"{field}: {reason}", field=field,
                    details=[{"field": field, "reason": reason}])  # fmt: skip
