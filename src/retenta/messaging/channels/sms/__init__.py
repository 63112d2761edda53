"""The SMS channel type: one ``Config`` naming its provider, ``build`` and ``check``.

``Config`` is ``{"provider": "twilio" | "infobip" | "http" | "smpp", ...}`` (see
``twilio.py``, ``infobip.py``, ``http.py``, ``smpp.py``); every provider also takes the
common settings of :class:`~retenta.messaging.channels.sms.common.SmsSettings` (default
sender, segment limit, price table, concurrency). The channel sends :class:`SmsMessage`
and answers one ``SendResult`` per message (``channels/base``). Counting and cost are in
``segments.py``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, RootModel

from retenta.messaging.channels.base import Channel
from retenta.messaging.channels.sms import http, infobip, smpp, twilio
from retenta.messaging.channels.sms.common import CheckResult, SmsMessage
from retenta.messaging.channels.sms.http import HttpConfig
from retenta.messaging.channels.sms.infobip import InfobipConfig
from retenta.messaging.channels.sms.smpp import SmppConfig
from retenta.messaging.channels.sms.twilio import TwilioConfig

ProviderConfig = Annotated[
    TwilioConfig | InfobipConfig | HttpConfig | SmppConfig, Field(discriminator="provider")
]

__all__ = ["CheckResult", "Config", "SmsMessage", "build", "check"]


class Config(RootModel[ProviderConfig]):
    """An SMS channel's settings: ``provider`` picks the adapter."""


def provider_config(config: Config | ProviderConfig) -> ProviderConfig:
    return config.root if isinstance(config, Config) else config


def build(config: Config | ProviderConfig) -> Channel[SmsMessage]:
    """The channel for a config (the registry calls this with a stored ``Config``)."""
    cfg = provider_config(config)
    if isinstance(cfg, TwilioConfig):
        return twilio.build(cfg)
    if isinstance(cfg, InfobipConfig):
        return infobip.build(cfg)
    if isinstance(cfg, SmppConfig):
        return smpp.build(cfg)
    return http.build(cfg)


async def check(config: Config | ProviderConfig) -> CheckResult:
    """Prove the settings without sending a message (account fetch, bind, or a HEAD)."""
    cfg = provider_config(config)
    if isinstance(cfg, TwilioConfig):
        return await twilio.check(cfg)
    if isinstance(cfg, InfobipConfig):
        return await infobip.check(cfg)
    if isinstance(cfg, SmppConfig):
        return await smpp.check(cfg)
    return await http.check(cfg)
