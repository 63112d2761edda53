"""Where the dispatcher gets a message's content: CONTENT's ``ContentService.resolve``.

The dispatcher depends on this small Protocol only. :class:`ContentServiceSource` adapts
``messaging.content`` (blocks + messages, migration 0019); :class:`StaticContent` serves
compiled emails held in memory (the ``CompiledEmail`` path: tests, benchmarks, and an app
embedding Retenta with its own templates).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from retenta.messaging.email.render import CompiledEmail, RenderedEmail
from retenta.messaging.templates import RenderError


class UnknownContentError(LookupError):
    """No such message, or it has no content for the channel."""


class Resolved(Protocol):
    @property
    def revision(self) -> int: ...
    @property
    def category(self) -> str: ...
    @property
    def topic(self) -> str | None: ...
    @property
    def versions_used(self) -> Mapping[str, int]: ...

    def render(
        self, variables: Mapping[str, Any], language_candidates: Iterable[str | None] | None = None
    ) -> Any: ...  # RenderedEmail | RenderedText | RenderError


class ContentSource(Protocol):
    def resolve(self, workspace_id: str, message_id: str, channel: str) -> Resolved:
        """The message compiled for ``channel``; raises when unknown or without that content."""
        ...


@dataclass(frozen=True)
class StaticEmail:
    """A compiled email as a resolvable message (revision 1, no blocks)."""

    email: CompiledEmail
    category: str = "promo"
    topic: str | None = None
    revision: int = 1
    versions_used: Mapping[str, int] = field(default_factory=dict)

    def render(
        self, variables: Mapping[str, Any], language_candidates: Iterable[str | None] | None = None
    ) -> RenderedEmail | RenderError:
        if language_candidates is None:
            language_candidates = [(variables.get("contact") or {}).get("language")]
        wanted = [c for c in language_candidates if c]
        version = self.email.version_for(
            contact_language=wanted[0] if wanted else None, browser_languages=wanted[1:]
        )
        try:
            return version.render(variables)
        except RenderError as err:
            return err


@dataclass(frozen=True)
class StaticText:
    """A text message for push/sms (fields rendered as given; no templating)."""

    fields: Mapping[str, str]
    category: str = "promo"
    topic: str | None = None
    revision: int = 1
    versions_used: Mapping[str, int] = field(default_factory=dict)

    def render(
        self, variables: Mapping[str, Any], language_candidates: Iterable[str | None] | None = None
    ) -> Mapping[str, str]:
        return dict(self.fields)


class StaticContent:
    """Messages held in memory: ``{(workspace, message, channel): content}``."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str, str], Resolved] = {}

    def add(self, workspace_id: str, message_id: str, channel: str, content: Resolved) -> None:
        self._items[(workspace_id, message_id, channel)] = content

    def resolve(self, workspace_id: str, message_id: str, channel: str) -> Resolved:
        found = self._items.get((workspace_id, message_id, channel))
        if found is None:
            if not any(k[:2] == (workspace_id, message_id) for k in self._items):
                raise UnknownContentError(f"unknown message {message_id!r}")
            raise UnknownContentError(f"message {message_id!r} has no {channel} content")
        return found


class ContentServiceSource:
    """``messaging.content.ContentService`` behind :class:`ContentSource`."""

    def __init__(self, service: Any) -> None:
        self.service = service

    def resolve(self, workspace_id: str, message_id: str, channel: str) -> Resolved:
        from retenta.errors import ApiError

        try:
            resolved: Resolved = self.service.resolve(workspace_id, message_id, channel)
        except ApiError as exc:
            raise UnknownContentError(exc.message) from None
        return resolved


class Chained:
    """The first source that knows the message (e.g. in-memory ones before the stored ones)."""

    def __init__(self, *sources: ContentSource) -> None:
        self.sources = sources

    def resolve(self, workspace_id: str, message_id: str, channel: str) -> Resolved:
        error: UnknownContentError | None = None
        for source in self.sources:
            try:
                return source.resolve(workspace_id, message_id, channel)
            except UnknownContentError as exc:
                error = error or exc
        raise error or UnknownContentError(f"unknown message {message_id!r}")
