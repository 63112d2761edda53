"""Preview a message as a given contact: the service behind ``POST /messages/preview``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from retenta.errors import ApiError
from retenta.messaging.context import ContactVars
from retenta.messaging.email.render import EmailVersion, RenderedEmail, compile_email
from retenta.messaging.i18n import parse_accept_language
from retenta.messaging.schemas import PreviewIn
from retenta.messaging.templates import RenderError

RESERVED = frozenset({"contact", "locale", "timezone"})


class Profiles(Protocol):
    def profile(self, *, workspace_id: str, contact_id: int) -> dict[str, Any]: ...


def contact_from_profile(profile: Mapping[str, Any]) -> ContactVars:
    """The template's ``contact`` from a 360° profile (contacts service shape)."""
    attributes = dict(profile.get("attributes") or {})
    newest: dict[str, str] = {}
    for identifier in profile.get("identifiers") or []:
        newest.setdefault(identifier["type"], identifier["value"])  # newest first per type
    return ContactVars(
        contact_id=int(profile["id"]),
        email=newest.get("email"),
        phone=newest.get("phone"),
        first_name=attributes.get("first_name") or attributes.get("firstName"),
        last_name=attributes.get("last_name") or attributes.get("lastName"),
        language=profile.get("language"),
        timezone=profile.get("timezone"),
        attributes=attributes,
    )


def preview_email(*, profiles: Profiles, workspace_id: str, body: PreviewIn) -> dict[str, Any]:
    """The rendered subject, preheader, HTML and text; template errors as a 400 naming each."""
    email = _compile(body)
    contact = _contact(profiles, workspace_id, body)
    version = email.version_for(
        contact_language=contact.language,
        browser_languages=parse_accept_language(body.accept_language),
    )
    try:
        rendered = version.render(_variables(body, contact, version.language))
    except RenderError as err:
        raise _template_error("the message failed to render for this contact", err) from None
    return _response(rendered, contact)


def _compile(body: PreviewIn) -> Any:
    versions = {
        lang: EmailVersion(subject=v.subject, mjml=v.mjml, preheader=v.preheader)
        for lang, v in body.versions.items()
    }
    try:
        return compile_email("message", versions, default_language=body.default_language)
    except RenderError as err:
        raise _template_error("the message has a template error", err) from None


def _contact(profiles: Profiles, workspace_id: str, body: PreviewIn) -> ContactVars:
    if body.contact_id is None:
        return ContactVars(contact_id=0, language=body.language)
    contact = contact_from_profile(
        profiles.profile(workspace_id=workspace_id, contact_id=body.contact_id)
    )
    if body.language:
        return ContactVars(**{**_fields(contact), "language": body.language})
    return contact


def _fields(contact: ContactVars) -> dict[str, Any]:
    return {name: getattr(contact, name) for name in contact.__dataclass_fields__}


def _variables(body: PreviewIn, contact: ContactVars, language: str) -> dict[str, Any]:
    """Template variables; the locale is the request's, else the contact's, else the version's."""
    clash = RESERVED & body.variables.keys()
    if clash:
        name = sorted(clash)[0]
        raise ApiError(400, "invalid_request", f"{name}: reserved", field=f"variables.{name}")
    return {
        **body.variables,
        "contact": {**_fields(contact), "attributes": dict(contact.attributes)},
        "locale": body.locale or contact.language or language,
        "timezone": contact.timezone or "UTC",
    }


def _template_error(message: str, err: RenderError) -> ApiError:
    path = _path(err.template)
    detail = {"path": path, "template": err.template, "line": err.line, "reason": err.reason}
    return ApiError(400, "template_error", f"{message}: {err}", field=path, details=[detail])


def _path(template: str) -> str:
    """``message[uk].subject`` → ``versions.uk.subject`` (the request field to fix).

    >>> _path("message[uk].subject"), _path("message[de].mjml")
    ('versions.uk.subject', 'versions.de.mjml')
    """
    if "[" not in template:
        return "versions"
    language = template.split("[", 1)[1].split("]", 1)[0]
    part = template.rsplit("].", 1)[-1] if "]." in template else ""
    part = {"html": "mjml", "text": "mjml"}.get(part, part)
    return f"versions.{language}.{part}" if part else f"versions.{language}"


def _response(rendered: RenderedEmail, contact: ContactVars) -> dict[str, Any]:
    return {
        "language": rendered.language,
        "contact_id": contact.contact_id or None,
        "subject": rendered.subject,
        "preheader": rendered.preheader,
        "html": rendered.html,
        "text": rendered.text,
    }
