"""Preview a stored message as any contact, in any language, on any of its channels.

Template errors are not HTTP errors here: the code view shows them, so the answer is a
200 with ``errors: [{template, line, reason, path}]`` and whatever could be rendered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from retenta.errors import ApiError
from retenta.messaging.content.compiled import RenderedText, ResolvedContent
from retenta.messaging.content.schemas import MessagePreviewIn
from retenta.messaging.context import ContactVars
from retenta.messaging.email.render import RenderedEmail
from retenta.messaging.i18n import parse_accept_language
from retenta.messaging.preview import RESERVED, contact_from_profile
from retenta.messaging.templates import RenderError


class Contacts(Protocol):
    def profile(self, *, workspace_id: str, contact_id: int) -> dict[str, Any]: ...
    def lookup(self, *, workspace_id: str, id_type: str, value: str) -> dict[str, Any]: ...


def preview_contact(
    contacts: Contacts, workspace_id: str, *, contact_id: int | None, email: str | None
) -> ContactVars:
    """The contact to preview as: by id, by email, or nobody (``contact_id=0``)."""
    if contact_id is not None:
        return contact_from_profile(
            contacts.profile(workspace_id=workspace_id, contact_id=contact_id)
        )
    if email is not None:
        profile = contacts.lookup(workspace_id=workspace_id, id_type="email", value=email)
        return contact_from_profile(profile)
    return ContactVars(contact_id=0)


SAMPLE_PRODUCTS = (
    {"sku": "SAMPLE-1", "name": "Sample sneakers", "price": 89.0, "currency": "EUR",
     "url": "https://example.com/p/sample-1", "image_url": "https://placehold.co/200x200"},
    {"sku": "SAMPLE-2", "name": "Sample backpack", "price": 45.5, "currency": "EUR",
     "url": "https://example.com/p/sample-2", "image_url": "https://placehold.co/200x200"},
)  # fmt: skip


def contact_variables(
    contact: ContactVars,
    extra: Mapping[str, Any],
    *,
    language: str,
    products: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Variables of a preview or a test send; ``contact``, ``locale``, ``timezone`` are reserved."""
    clash = RESERVED & extra.keys()
    if clash:
        name = sorted(clash)[0]
        raise ApiError(422, "validation_error", f"variables.{name}: reserved",
                       field=f"variables.{name}")  # fmt: skip
    fields = {name: getattr(contact, name) for name in contact.__dataclass_fields__}
    return {
        "products": products or [dict(p) for p in SAMPLE_PRODUCTS],
        "links": {"unsubscribe": "https://example.invalid/u/preview"},
        **extra,
        "contact": fields | {"attributes": dict(contact.attributes)},
        "locale": contact.language or language,
        "timezone": contact.timezone or "UTC",
    }


def language_candidates(
    contact: ContactVars, *, language: str | None, accept_language: str | None
) -> list[str | None]:
    """The chain to pick from: the asked language, the contact's, then the browser's."""
    return [language, contact.language, *parse_accept_language(accept_language)]


def preview(
    resolved: ResolvedContent,
    contacts: Contacts,
    workspace_id: str,
    body: MessagePreviewIn,
    *,
    products: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """``products`` (catalog samples) fill the variable when the request does not give it."""
    contact = preview_contact(contacts, workspace_id, contact_id=body.contact_id, email=body.email)
    candidates = language_candidates(
        contact, language=body.language, accept_language=body.accept_language
    )
    language = resolved.language_for(candidates)
    variables = contact_variables(contact, body.variables, language=language, products=products)
    rendered = resolved.render(variables, candidates)
    return _response(resolved, contact, language, rendered)


def _response(
    resolved: ResolvedContent,
    contact: ContactVars,
    language: str,
    rendered: RenderedEmail | RenderedText | RenderError,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "channel": resolved.channel, "language": language, "languages": list(resolved.languages),
        "contact_id": contact.contact_id or None, "revision": resolved.revision,
        "versions_used": dict(resolved.versions_used), "subject": None, "preheader": None,
        "html": None, "text": None, "fields": {}, "errors": [],
    }  # fmt: skip
    if isinstance(rendered, RenderError):
        return out | {"errors": [_error(rendered)]}
    if isinstance(rendered, RenderedEmail):
        return out | {
            "language": rendered.language, "subject": rendered.subject,
            "preheader": rendered.preheader, "html": rendered.html, "text": rendered.text,
        }  # fmt: skip
    return out | {
        "language": rendered.language, "subject": rendered.fields.get("title"),
        "text": rendered.text, "fields": dict(rendered.fields),
    }  # fmt: skip


def _error(err: RenderError) -> dict[str, Any]:
    return {"path": getattr(err, "path", None)} | err.as_dict()
