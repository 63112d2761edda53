"""The inbox service of one app: who the app user is, and their inbox (built once per app)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import Request

from retenta.contacts.queries import live_contact_id
from retenta.messaging.inbox import store
from retenta.messaging.inbox.identity import IdentityKeys, user_token
from retenta.storage.base import Database
from retenta.tenancy.deps import container

if TYPE_CHECKING:
    from retenta.app import Container


class UnknownUserTokenError(Exception):
    """The user token does not match the user id (or the workspace has no secret yet)."""


@dataclass(frozen=True, slots=True)
class AppUser:
    workspace_id: str
    user_id: str
    contact_id: int | None  # None: the user id is not a known contact yet (an empty inbox)


@dataclass
class InboxService:
    db: Database
    keys: IdentityKeys
    container: Container

    def app_user(self, workspace_id: str, user_id: str, token: str) -> AppUser:
        """The verified user (raises :class:`UnknownUserTokenError` for a wrong token)."""
        if not self.keys.verify(workspace_id, user_id, token):
            raise UnknownUserTokenError(user_id)
        contact = self.container.identity.lookup(
            workspace_id=workspace_id, id_type="external_id", value=user_id
        )
        return AppUser(workspace_id, user_id, contact)

    def page(
        self, user: AppUser, *, limit: int, cursor: str | None, unread_only: bool
    ) -> store.Page:
        if user.contact_id is None:
            return store.Page([], 0, None)
        return store.page(
            self.db, user.workspace_id, user.contact_id,
            limit=limit, cursor=cursor, unread_only=unread_only,
        )  # fmt: skip

    async def mark_read(self, user: AppUser, send_id: str | None) -> tuple[int, bool]:
        if user.contact_id is None:
            return 0, send_id is None
        return await store.mark_read(self.db, user.workspace_id, user.contact_id, send_id)

    async def click(self, user: AppUser, send_id: str) -> str | bool | None:
        if user.contact_id is None:
            return False
        return await store.click(self.db, user.workspace_id, user.contact_id, send_id)

    async def delete(self, user: AppUser, send_id: str) -> bool:
        if user.contact_id is None:
            return False
        return await store.delete(self.db, user.workspace_id, user.contact_id, send_id)

    def contact_inbox(
        self, workspace_id: str, contact_id: int, *, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None] | None:
        """Management view of a contact's inbox (None when the contact is unknown)."""
        with self.db.read() as cur:
            live = live_contact_id(cur, workspace_id, contact_id)
        if live is None:
            return None
        return store.for_contact(self.db, workspace_id, live, limit=limit, cursor=cursor)

    def user_token(self, workspace_id: str, user_id: str) -> str | None:
        secret = self.keys.current(workspace_id)
        return None if secret is None else user_token(secret, user_id)

    async def rotate_secret(self, workspace_id: str) -> tuple[int, str]:
        return await self.keys.rotate(workspace_id)


def build(c: Container) -> InboxService:
    from retenta.app import secret_key  # the composition root owns the server secret

    secret = secret_key(c.settings.data_dir, c.settings.secret_key).encode()
    return InboxService(c.db, IdentityKeys(c.db, secret), c)


def inbox_service(request: Request) -> InboxService:
    """This app's inbox service (kept on ``app.state``: built once)."""
    state = request.app.state
    existing = getattr(state, "inbox", None)
    if existing is None:
        existing = state.inbox = build(container(request))
    assert isinstance(existing, InboxService)
    return existing


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
