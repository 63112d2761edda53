"""The channel types a workspace can configure, each registered from its own module.

A channel module exposes ``Config`` (pydantic; its ``SecretStr`` fields are sealed at rest by
``settings_store``), ``build(config) -> Channel`` and ``async check(config) -> CheckResult``
(anything with ``ok`` and ``message``). Built-in channels register the same way a third
party would: a name mapped to a module path (:data:`MODULES`), or :func:`register`.

``redeliver`` is the restart rule for a send that was handed to the provider but whose
answer was never recorded (the process died in between; docs/messaging-sends.md):

- ``"never"``: the provider cannot be asked and does not deduplicate (SMTP, web push, SMS,
  Viber, FCM, APNs — Apple echoes and logs ``apns-id`` but does not drop a second request
  with the same one): the send is taken as sent (unconfirmed), never handed twice;
- ``"same_key"``: the receiver deduplicates on a key derived from the send id (a webhook's
  ``Idempotency-Key``, the in-app inbox's send id): the send is handed again with that key.

A send channel that goes through several provider types (``push``: web push, FCM, APNs) is
``same_key`` only when every one of them is (:func:`redeliver_for`).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel

log = logging.getLogger(__name__)
Redeliver = Literal["never", "same_key"]


class CheckResult(Protocol):
    @property
    def ok(self) -> bool: ...
    @property
    def message(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ChannelType:
    name: str
    config: type[BaseModel]
    build: Callable[[Any], Any]  # Config -> a channels.base.Channel
    check: Callable[[Any], Awaitable[CheckResult]]
    redeliver: Redeliver = "never"


# Channel type -> (module, restart rule). A module not (yet) in the tree is skipped.
MODULES: dict[str, tuple[str, Redeliver]] = {
    "email": ("retenta.messaging.channels.smtp", "never"),
    "webpush": ("retenta.messaging.channels.webpush_config", "never"),
    "sms": ("retenta.messaging.channels.sms", "never"),
    "viber": ("retenta.messaging.channels.viber", "never"),
    "fcm": ("retenta.messaging.channels.fcm", "never"),
    "apns": ("retenta.messaging.channels.apns", "never"),  # Apple does not dedupe on apns-id
    "webhook": ("retenta.messaging.channels.webhook", "same_key"),
    "inapp": ("retenta.messaging.inbox.channel", "same_key"),  # stored once per send id
}

# Send channels whose sends go through one of several provider types.
SEND_CHANNELS: dict[str, tuple[str, ...]] = {"push": ("webpush", "fcm", "apns")}

_EXTRA: dict[str, ChannelType] = {}


def register(channel_type: ChannelType) -> None:
    """Add (or replace) a channel type: the way a plugin adds its own channel."""
    _EXTRA[channel_type.name] = channel_type


def from_module(name: str, module_path: str, redeliver: Redeliver = "never") -> ChannelType | None:
    """The channel type a module exposes, or None when the module is absent or incomplete."""
    try:
        if importlib.util.find_spec(module_path) is None:
            return None
        module = importlib.import_module(module_path)
    except Exception:  # a broken channel module must not take the other channels down
        log.exception("channel type %s: module %s does not import", name, module_path)
        return None
    config, build, check = (getattr(module, attr, None) for attr in ("Config", "build", "check"))
    if not (isinstance(config, type) and issubclass(config, BaseModel)) or None in (build, check):
        return None
    assert build is not None
    assert check is not None
    return ChannelType(name, config, build, check, redeliver)


def channel_types() -> dict[str, ChannelType]:
    """Every channel type: the built-in modules present in this install, then registered ones."""
    return _builtin() | _EXTRA


@functools.cache
def _builtin() -> dict[str, ChannelType]:
    found = {}
    for name, (module_path, redeliver) in MODULES.items():
        channel_type = from_module(name, module_path, redeliver)
        if channel_type is not None:
            found[name] = channel_type
    return found


def redeliver_for(channel: str) -> Redeliver:
    """The restart rule of a send channel: ``same_key`` only when every provider it may go
    through deduplicates; anything unknown is ``never`` (a lost send beats a duplicate).

    >>> redeliver_for("apns"), redeliver_for("push"), redeliver_for("nope")
    ('never', 'never', 'never')
    """
    types = channel_types()
    names = SEND_CHANNELS.get(channel, (channel,))
    rules = {types[name].redeliver if name in types else "never" for name in names}
    return "same_key" if rules == {"same_key"} else "never"
