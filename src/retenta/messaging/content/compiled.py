"""A message compiled for one channel: every language version ready to render per contact.

``ResolvedContent.render(variables, language_candidates)`` returns the channel's rendered
content or a :class:`ContentError` (a :class:`RenderError` that also names the part of the
message to fix): one contact's failure is that send's result, never an exception.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from retenta.messaging.content.compose import (
    MAIN_FIELD,
    BlockVersion,
    CompositionError,
    Piece,
    email_version,
    languages,
    text_fields,
)
from retenta.messaging.email.render import (
    CompiledEmail,
    CompiledVersion,
    RenderedEmail,
    compile_version,
)
from retenta.messaging.i18n import pick_language
from retenta.messaging.templates import CompiledTemplate, RenderError, compile_template

_BLANK_LINES = re.compile(r"\n{3,}")


class ContentError(RenderError):
    """A :class:`RenderError` with the ``path`` of the message part that caused it."""

    def __init__(self, template: str, line: int | None, reason: str, path: str) -> None:
        super().__init__(template, line, reason)
        self.path = path

    def as_dict(self) -> dict[str, Any]:
        return super().as_dict() | {"path": self.path}


@dataclass(frozen=True, slots=True)
class RenderedText:
    """A text channel's fields (``text``; ``title``/``body``/``url``/…) in one language."""

    channel: str
    language: str
    fields: Mapping[str, str]

    @property
    def text(self) -> str:
        """The main field: the SMS/Viber text, the push/in-app body, the webhook body."""
        return self.fields[MAIN_FIELD[self.channel]]


@dataclass(frozen=True, slots=True)
class CompiledText:
    language: str
    fields: Mapping[str, CompiledTemplate | None]

    def render(self, channel: str, variables: Mapping[str, Any]) -> RenderedText:
        out = {name: tidy(t.render(variables)) if t else "" for name, t in self.fields.items()}
        return RenderedText(channel=channel, language=self.language, fields=out)


def tidy(value: str) -> str:
    """Trim a text field and keep at most one blank line in a row.

    >>> tidy("  Hi\\n\\n\\n\\nthere \\n")
    'Hi\\n\\nthere'
    """
    return _BLANK_LINES.sub("\n\n", value).strip()


@dataclass(frozen=True)
class ResolvedContent:
    """A message revision + the exact block versions it uses, compiled for one channel."""

    workspace_id: str
    message_id: str
    revision: int
    channel: str
    category: str
    topic: str | None
    tags: tuple[str, ...]
    versions_used: Mapping[str, int]
    promo_pools: tuple[str, ...]
    languages: tuple[str, ...]
    workspace_default: str | None
    message_default: str
    email: CompiledEmail | None = None
    texts: Mapping[str, CompiledText] | None = None
    pieces: Mapping[str, tuple[Piece, ...]] = field(default_factory=dict)
    error: ContentError | None = None
    _piece_templates: dict[str, CompiledTemplate | RenderError] = field(
        default_factory=dict, repr=False, compare=False
    )

    def language_for(self, language_candidates: Iterable[str | None] = ()) -> str:
        """The version for the chain (contact → browser…), then workspace, then message default."""
        wanted = [c for c in language_candidates if c]
        if self.workspace_default:
            wanted.append(self.workspace_default)
        return pick_language(
            list(self.languages), browser_languages=wanted, workspace_default=self.message_default
        )

    def render(
        self, variables: Mapping[str, Any], language_candidates: Iterable[str | None] | None = None
    ) -> RenderedEmail | RenderedText | ContentError:
        """This contact's content; ``language_candidates`` default to the contact's language."""
        if self.error is not None:
            return self.error
        if language_candidates is None:
            language_candidates = [(variables.get("contact") or {}).get("language")]
        language = self.language_for(language_candidates)
        try:
            if self.email is not None:
                return self.email.versions[language].render(variables)
            assert self.texts is not None
            return self.texts[language].render(self.channel, variables)
        except RenderError as err:
            return self.explain(language, variables, err)

    def explain(
        self, language: str, variables: Mapping[str, Any], err: RenderError
    ) -> ContentError:
        """Name the part and its own line: render each piece alone until one fails."""
        for piece in self.pieces.get(language, ()):
            failure = self._try_piece(piece, variables)
            if failure is not None:
                return ContentError(failure.template, failure.line, failure.reason, piece.path)
        return ContentError(err.template, err.line, err.reason, f"channels.{self.channel}")

    def _try_piece(self, piece: Piece, variables: Mapping[str, Any]) -> RenderError | None:
        compiled = self._piece_templates.get(piece.template)
        if compiled is None:
            try:
                compiled = compile_template(piece.source, name=piece.template, html=piece.html)
            except RenderError as err:
                compiled = err
            self._piece_templates[piece.template] = compiled
        if isinstance(compiled, RenderError):
            return compiled
        try:
            compiled.render(variables)
        except RenderError as err:
            return err
        return None


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """What a resolve needs besides the compiled parts (from the message row)."""

    workspace_id: str
    message_id: str
    revision: int
    category: str
    topic: str | None
    tags: tuple[str, ...]
    default_language: str | None
    workspace_default: str | None


def compile_channel(
    facts: MessageFacts,
    channel: str,
    content: Mapping[str, Any],
    blocks: Mapping[str, BlockVersion],
) -> ResolvedContent:
    """Compile every language version; a broken part gives a content whose renders all fail."""
    langs = tuple(languages(channel, content))
    default = facts.default_language if facts.default_language in langs else langs[0]
    base = dict(
        workspace_id=facts.workspace_id, message_id=facts.message_id, revision=facts.revision,
        channel=channel, category=facts.category, topic=facts.topic, tags=facts.tags,
        versions_used={b.block_id: b.version for b in blocks.values()},
        promo_pools=promo_pools(channel, content, blocks), languages=langs,
        workspace_default=facts.workspace_default, message_default=default,
    )  # fmt: skip
    pieces: dict[str, tuple[Piece, ...]] = {}
    try:
        if channel == "email":
            email = _compile_email(content, blocks, langs, default, pieces)
            resolved = ResolvedContent(**base, email=email, pieces=pieces)  # type: ignore[arg-type]
            object.__setattr__(resolved, "email", _for_composer(email, resolved, facts))
            return resolved
        texts = _compile_texts(channel, content, blocks, langs, default, pieces)
        return ResolvedContent(**base, texts=texts, pieces=pieces)  # type: ignore[arg-type]
    except ContentError as err:
        return ResolvedContent(**base, pieces=pieces, error=err)  # type: ignore[arg-type]


def _compile_email(
    content: Mapping[str, Any],
    blocks: Mapping[str, BlockVersion],
    langs: Sequence[str],
    default: str,
    pieces: dict[str, tuple[Piece, ...]],
) -> CompiledEmail:
    versions: dict[str, CompiledVersion] = {}
    for language in langs:
        try:
            version, parts = email_version(content, blocks, language, default)
        except CompositionError as err:
            raise ContentError(err.path, None, err.reason, err.path) from None
        pieces[language] = tuple(parts)
        try:
            versions[language] = compile_version(f"channels.email[{language}]", language, version)
        except RenderError as err:
            raise _compile_failure(parts, err) from None
    return CompiledEmail(name="channels.email", versions=versions, default_language=default)


def _for_composer(
    email: CompiledEmail, resolved: ResolvedContent, facts: MessageFacts
) -> CompiledEmail:
    """``email`` as the Composer renders it: the same precise errors and the same chain.

    ``CompiledEmail`` picks contact → browser → its ``default_language`` → its first
    version; so the workspace default (when the message has it) is its default and the
    message's own default its first version.
    """
    first = resolved.message_default
    versions = {first: email.versions[first]} | dict(email.versions)
    workspace = facts.workspace_default
    default = resolved.language_for([]) if workspace else first
    return replace(email, versions=versions, default_language=default, explain=resolved.explain)


def _compile_texts(
    channel: str,
    content: Mapping[str, Any],
    blocks: Mapping[str, BlockVersion],
    langs: Sequence[str],
    default: str,
    pieces: dict[str, tuple[Piece, ...]],
) -> dict[str, CompiledText]:
    out: dict[str, CompiledText] = {}
    for language in langs:
        try:
            fields = text_fields(channel, content, blocks, language, default)
        except CompositionError as err:
            raise ContentError(err.path, None, err.reason, err.path) from None
        parts = [piece for field_pieces in fields.values() for piece in field_pieces]
        pieces[language] = tuple(parts)
        compiled: dict[str, CompiledTemplate | None] = {}
        for name, field_pieces in fields.items():
            source = "\n".join(piece.source for piece in field_pieces)
            template = f"channels.{channel}.{name}.{language}"
            try:
                compiled[name] = (
                    compile_template(source, name=template, html=False) if field_pieces else None
                )
            except RenderError as err:
                raise _compile_failure(field_pieces, err) from None
        out[language] = CompiledText(language=language, fields=compiled)
    return out


def _compile_failure(parts: Sequence[Piece], err: RenderError) -> ContentError:
    """The piece whose own source does not compile (its line), else the whole part."""
    for piece in parts:
        try:
            compile_template(piece.source, name=piece.template, html=piece.html)
        except RenderError as own:
            return ContentError(own.template, own.line, own.reason, piece.path)
    path = err.template.split("[", 1)[0] if "[" in err.template else err.template
    return ContentError(err.template, err.line, err.reason, path)


def promo_pools(
    channel: str, content: Mapping[str, Any], blocks: Mapping[str, BlockVersion]
) -> tuple[str, ...]:
    """The promo pools named by the ``pool`` parameter of promo-code blocks (deduplicated)."""
    pools: list[str] = []
    refs = content.get("body") if channel == "email" else content.get("append")
    for ref in refs or []:
        block = blocks.get(ref.get("block", ""))
        if block is None or block.kind != "promo_code":
            continue
        default = (block.params.get("pool") or {}).get("default")
        pool = (ref.get("params") or {}).get("pool", default)
        if isinstance(pool, str) and pool and pool not in pools:
            pools.append(pool)
    return tuple(pools)


class CompileCache:
    """Compiled contents by (workspace, message, revision, channel, block versions, default)."""

    def __init__(self, capacity: int = 512) -> None:
        self.capacity = capacity
        self._items: dict[tuple[Any, ...], ResolvedContent] = {}
        self._lock = threading.Lock()
        self.compiles = 0

    def get(self, key: tuple[Any, ...]) -> ResolvedContent | None:
        with self._lock:
            found = self._items.pop(key, None)
            if found is not None:
                self._items[key] = found  # most recently used last
            return found

    def put(self, key: tuple[Any, ...], value: ResolvedContent) -> None:
        with self._lock:
            self.compiles += 1
            self._items[key] = value
            while len(self._items) > self.capacity:
                self._items.pop(next(iter(self._items)))
