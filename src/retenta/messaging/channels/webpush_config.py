"""The web push channel type (``channels/registry.py``): ``Config``, ``build``, ``check``.

One config per workspace (name ``default``): the VAPID private key (sealed at rest, made on
first use when absent), the VAPID subject, the connections, and the origins allowed to call
the public subscription endpoint from a browser (CORS; ``push_router.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator

from retenta.messaging.channels.webpush import VapidKey, WebPushChannel

DEFAULT_NAME = "default"


class Config(BaseModel):
    vapid_private_key_pem: SecretStr | None = None  # EC P-256, PKCS#8 PEM
    subject: str = "mailto:push@localhost"  # RFC 8292 `sub`: mailto: or https:
    connections: int = Field(default=32, ge=1, le=512)
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    allowed_origins: list[str] = Field(default_factory=list)  # sites that may subscribe

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        if not value.startswith(("mailto:", "https://")):
            raise ValueError("the VAPID subject must be a mailto: or https: URL")
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        return [origin(v) for v in values]

    def key(self) -> VapidKey:
        if self.vapid_private_key_pem is None:
            raise ValueError("the web push config has no VAPID key")
        return VapidKey.from_pem(self.vapid_private_key_pem.get_secret_value().encode("ascii"))


def origin(value: str) -> str:
    """A browser origin, normalized: ``scheme://host[:port]``, no path.

    >>> origin("https://Shop.Example/"), origin("http://localhost:3000")
    ('https://shop.example', 'http://localhost:3000')
    """
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"{value!r} is not an origin (scheme://host[:port])")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{port}"


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    message: str


def build(config: Config) -> WebPushChannel:
    return WebPushChannel(
        config.key(), config.subject, connections=config.connections, timeout_s=config.timeout_s
    )


async def check(config: Config) -> CheckResult:
    """The key loads and is P-256; the application server key sites subscribe with."""
    try:
        key = config.key()
    except ValueError as exc:
        return CheckResult(False, f"VAPID key: {exc}")
    return CheckResult(True, f"VAPID key ok; applicationServerKey {key.application_server_key}")
