"""Assemble one language version of a message from its parts (pure, no I/O).

An email body is an ordered list of parts, each a block reference or an inline section;
the block's source for the language is picked along the same chain as the message's
(``i18n.pick_language``), so a header written only in English still serves a German
message. A block's parameters become a Jinja ``{% with %}`` around its source (literals
written as Jinja literals that cannot end the tag), so the compiled result is an ordinary
:class:`~retenta.messaging.email.render.CompiledEmail`.

Every part is kept as a :class:`Piece` too: when a render fails, each piece is tried on its
own to name the part and the line *as its author wrote it* (``diagnose.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from retenta.messaging.email.render import EmailVersion
from retenta.messaging.i18n import pick_language

MAIN_FIELD = {"sms": "text", "viber": "text", "push": "body", "inapp": "body", "webhook": "body"}
TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "sms": ("text",),
    "viber": ("text", "image_url", "button_text", "button_url"),
    "push": ("title", "body", "image_url", "url"),
    "inapp": ("title", "body", "image_url", "url"),
    "webhook": ("body",),
}


class CompositionError(ValueError):
    """A part cannot be assembled (a block without a source for this channel)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class BlockVersion:
    """One immutable version of a block, as stored."""

    block_id: str
    version: int
    name: str
    kind: str
    email: Mapping[str, str]
    text: Mapping[str, str]
    params: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Piece:
    """One part's source in one language: ``template`` names it in errors, ``path`` locates it."""

    path: str
    template: str
    source: str
    html: bool = True


def jinja_literal(value: Any) -> str:
    """A JSON value as a Jinja literal with no ``%``, ``{`` or quote that could end a tag.

    >>> jinja_literal("50% off {now}'"), jinja_literal([1, 2.5, True, None])
    ("'50\\\\x25 off \\\\x7bnow\\\\x7d\\\\x27'", '[1, 2.5, true, none]')
    >>> jinja_literal({"a": "b"})
    "{'a': 'b'}"
    """
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "none"
    if isinstance(value, str):
        return "'" + "".join(_escaped(c) for c in value) + "'"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(jinja_literal(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = (f"{jinja_literal(str(k))}: {jinja_literal(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _escaped(char: str) -> str:
    if char.isascii() and (char.isalnum() or char in " .,:;!?-_/@+=()[]"):
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def param_expression(value: Any) -> str:
    """``{"var": "data.recs"}`` → ``data.recs``; anything else → its literal.

    >>> param_expression({"var": "data.recs"}), param_expression("Top picks")
    ('data.recs', "'Top picks'")
    """
    if isinstance(value, Mapping) and set(value) == {"var"}:
        return str(value["var"])
    return jinja_literal(value)


def with_params(block: BlockVersion, given: Mapping[str, Any]) -> tuple[str, str]:
    """The ``{% with %}`` opening and closing that bind a block's parameters (or nothing)."""
    values = {name: spec.get("default") for name, spec in block.params.items()}
    values.update(given)
    if not values:
        return "", ""
    bindings = ", ".join(f"{name} = {param_expression(v)}" for name, v in sorted(values.items()))
    return "{% with " + bindings + " %}", "{% endwith %}"


def block_piece(
    block: BlockVersion,
    given: Mapping[str, Any],
    *,
    source_kind: str,
    language: str,
    default_language: str | None,
    path: str,
) -> Piece:
    """The block's source for ``language`` (fallback along the chain), parameters bound."""
    sources = block.email if source_kind == "email" else block.text
    if not sources:
        raise CompositionError(
            path, f"block {block.block_id} v{block.version} has no {source_kind} source"
        )
    chosen = pick_language(
        list(sources), contact_language=language, workspace_default=default_language
    )
    opening, closing = with_params(block, given)
    return Piece(
        path=path,
        template=f"{block.block_id}@{block.version}.{source_kind}.{chosen}",
        source=f"{opening}{sources[chosen]}{closing}",
        html=source_kind == "email",
    )


def pick_text(values: Mapping[str, str], language: str, default_language: str | None) -> str:
    """The value for ``language`` along the chain; empty when the field has no value at all.

    >>> pick_text({"en": "Hi", "uk": "Привіт"}, "uk-UA", "en"), pick_text({}, "en", None)
    ('Привіт', '')
    """
    if not values:
        return ""
    chosen = pick_language(
        list(values), contact_language=language, workspace_default=default_language
    )
    return values[chosen]


def _picked_language(values: Mapping[str, str], language: str, default: str | None) -> str:
    return pick_language(list(values), contact_language=language, workspace_default=default)


def email_pieces(
    content: Mapping[str, Any],
    blocks: Mapping[str, BlockVersion],
    language: str,
    default_language: str | None,
) -> list[Piece]:
    """The body parts of one language version, in order."""
    pieces = []
    for index, part in enumerate(content["body"]):
        path = f"channels.email.body[{index}]"
        if "block" in part:
            pieces.append(
                block_piece(_block(blocks, part["block"], path), part.get("params") or {},
                            source_kind="email",
                            language=language, default_language=default_language, path=path)
            )  # fmt: skip
            continue
        chosen = _picked_language(part["mjml"], language, default_language)
        template = f"{path}.mjml.{chosen}"
        pieces.append(Piece(path=template, template=template, source=part["mjml"][chosen]))
    return pieces


def email_document(content: Mapping[str, Any], pieces: Sequence[Piece]) -> str:
    """The whole MJML document: the message's head, then each piece in its own lines."""
    head = f"<mj-head>{content['head']}</mj-head>" if content.get("head") else ""
    color = content.get("background_color") or ""
    body_attrs = f' background-color="{color}"' if color else ""
    parts = "\n".join(piece.source for piece in pieces)
    return f"<mjml>{head}<mj-body{body_attrs}>\n{parts}\n</mj-body></mjml>"


def email_version(
    content: Mapping[str, Any],
    blocks: Mapping[str, BlockVersion],
    language: str,
    default_language: str | None,
) -> tuple[EmailVersion, list[Piece]]:
    """One language version as :class:`EmailVersion`, with the pieces for error reports."""
    pieces = email_pieces(content, blocks, language, default_language)
    subject = pick_text(content["subject"], language, default_language)
    preheader = pick_text(content.get("preheader") or {}, language, default_language)
    heads = [
        Piece(f"channels.email.subject.{language}", f"channels.email.subject.{language}",
              subject, html=False),
        Piece(f"channels.email.preheader.{language}", f"channels.email.preheader.{language}",
              preheader, html=False),
    ]  # fmt: skip
    version = EmailVersion(
        subject=subject, preheader=preheader, mjml=email_document(content, pieces)
    )
    return version, heads + pieces


def text_fields(
    channel: str,
    content: Mapping[str, Any],
    blocks: Mapping[str, BlockVersion],
    language: str,
    default_language: str | None,
) -> dict[str, list[Piece]]:
    """Each field of a text channel as its pieces (the main field gets the appended blocks)."""
    out: dict[str, list[Piece]] = {}
    for field in TEXT_FIELDS[channel]:
        values = content.get(field) or {}
        if not values:
            out[field] = []
            continue
        chosen = _picked_language(values, language, default_language)
        template = f"channels.{channel}.{field}.{chosen}"
        out[field] = [Piece(template, template, values[chosen], html=False)]
    main = out[MAIN_FIELD[channel]]
    for index, ref in enumerate(content.get("append") or []):
        path = f"channels.{channel}.append[{index}]"
        main.append(
            block_piece(_block(blocks, ref["block"], path), ref.get("params") or {},
                        source_kind="text", language=language,
                        default_language=default_language, path=path)
        )  # fmt: skip
    return out


def _block(blocks: Mapping[str, BlockVersion], block_id: str, path: str) -> BlockVersion:
    block = blocks.get(block_id)
    if block is None:
        raise CompositionError(path, f"no block {block_id}")
    return block


def block_refs(channel: str, content: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(path, block_id)`` of every block the channel's content references.

    >>> block_refs("email", {"body": [{"mjml": {}}, {"block": "blk_1"}]})
    [('channels.email.body[1]', 'blk_1')]
    """
    if channel == "email":
        parts = content.get("body") or []
        return [
            (f"channels.email.body[{i}]", p["block"]) for i, p in enumerate(parts) if "block" in p
        ]
    return [
        (f"channels.{channel}.append[{i}]", ref["block"])
        for i, ref in enumerate(content.get("append") or [])
    ]


def languages(channel: str, content: Mapping[str, Any]) -> list[str]:
    """The channel's language versions: the keys of its main field (the subject for email)."""
    main = content["subject"] if channel == "email" else content[MAIN_FIELD[channel]]
    return list(main)
