"""A workspace's provider webhook settings (table ``feedback_endpoints``, migration 0022).

Only Mailgun's signing key is a secret; it is sealed with the channel settings'
:class:`~retenta.messaging.settings_store.SecretBox` under its own purpose, with the row's
identity as associated data. The API shows it masked, never in clear.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field, SecretStr, field_validator

from retenta.messaging.bounces.providers.mailgun import MailgunConfig
from retenta.messaging.bounces.providers.sendgrid import SendGridConfig
from retenta.messaging.bounces.providers.ses import CertFetcher, SesConfig
from retenta.messaging.settings_store import MASK, SecretBox
from retenta.storage.base import Database

Provider = Literal["ses", "sendgrid", "mailgun"]
PROVIDERS: tuple[Provider, ...] = ("ses", "sendgrid", "mailgun")
PURPOSE = b"retenta feedback webhooks v1"


class EndpointIn(BaseModel):
    """What a workspace configures per provider (the fields its provider needs)."""

    model_config = {"extra": "forbid"}

    topic_arns: list[str] = Field(default_factory=list, max_length=20)  # ses
    verification_key: str | None = Field(default=None, max_length=400)  # sendgrid (public)
    signing_key: SecretStr | None = None  # mailgun

    @field_validator("topic_arns")
    @classmethod
    def _arns(cls, value: list[str]) -> list[str]:
        for arn in value:
            if not arn.startswith("arn:aws") or ":sns:" not in arn:
                raise ValueError(
                    f"{arn!r} is not an SNS topic ARN (arn:aws:sns:region:account:name)"
                )
        return value


class FeedbackEndpoints:
    def __init__(self, db: Database, server_secret: bytes) -> None:
        self.db = db
        self.box = SecretBox(server_secret, purpose=PURPOSE)

    async def put(self, workspace_id: str, provider: Provider, body: EndpointIn) -> None:
        sealed = None
        if body.signing_key is not None and body.signing_key.get_secret_value() != MASK:
            secret = body.signing_key.get_secret_value().encode()
            sealed = self.box.seal(secret, _row(workspace_id, provider))
        config = {"topic_arns": body.topic_arns, "verification_key": body.verification_key}

        def work(conn: Any) -> None:
            conn.execute(
                "INSERT INTO feedback_endpoints (workspace_id, provider, config, sealed,"
                " updated_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (workspace_id, provider) DO UPDATE SET"
                " config = excluded.config, updated_at = excluded.updated_at,"
                " sealed = coalesce(excluded.sealed, feedback_endpoints.sealed)",
                [workspace_id, provider, orjson.dumps(config).decode(), sealed, datetime.now(UTC)],
            )

        await self.db.awrite(work)

    def shown(self, workspace_id: str) -> dict[str, dict[str, Any]]:
        """Each configured provider's settings as the API shows them (secrets masked)."""
        out = {}
        for provider, config, sealed in self._rows(workspace_id):
            out[provider] = config | {"signing_key": MASK if sealed else None}
        return out

    def ses(self, workspace_id: str, fetch_cert: CertFetcher) -> SesConfig | None:
        row = self._row(workspace_id, "ses")
        arns = tuple(row[0].get("topic_arns") or ()) if row else ()
        return SesConfig(topic_arns=arns, fetch_cert=fetch_cert) if arns else None

    def sendgrid(self, workspace_id: str) -> SendGridConfig | None:
        row = self._row(workspace_id, "sendgrid")
        key = row[0].get("verification_key") if row else None
        return SendGridConfig(str(key)) if key else None

    def mailgun(self, workspace_id: str) -> MailgunConfig | None:
        row = self._row(workspace_id, "mailgun")
        if not row or row[1] is None:
            return None
        return MailgunConfig(self.box.open(bytes(row[1]), _row(workspace_id, "mailgun")).decode())

    def _row(self, workspace_id: str, provider: str) -> tuple[dict[str, Any], bytes | None] | None:
        for name, config, sealed in self._rows(workspace_id):
            if name == provider:
                return config, sealed
        return None

    def _rows(self, workspace_id: str) -> list[tuple[str, dict[str, Any], bytes | None]]:
        with self.db.read() as cur:
            rows = cur.execute(
                "SELECT provider, config, sealed FROM feedback_endpoints WHERE workspace_id = ?"
                " ORDER BY provider",
                [workspace_id],
            ).fetchall()
        return [(str(p), orjson.loads(c), s) for p, c, s in rows]


def _row(workspace_id: str, provider: str) -> bytes:
    return f"{workspace_id}\x1f{provider}".encode()
