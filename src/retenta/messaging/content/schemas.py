"""Request bodies of the content API: blocks, messages, preview, test send, validate.

A message document (what ``POST /api/v1/messages`` takes and ``GET`` returns)::

    {"name": "Spring sale", "category": "promo", "topic": "news", "tags": ["spring"],
     "default_language": "en",
     "channels": {
       "email": {"subject": {"en": "…", "uk": "…"}, "preheader": {"en": "…"},
                 "head": "<mj-attributes>…</mj-attributes>",
                 "body": [{"block": "blk_…"},
                          {"block": "blk_…", "params": {"products": {"var": "data.recs"}}},
                          {"mjml": {"en": "<mj-section>…</mj-section>", "uk": "…"}}]},
       "sms": {"text": {"en": "…"}, "append": [{"block": "blk_…"}]}}}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

BlockKind = Literal[
    "header", "footer", "product_card", "product_grid", "recommendations", "promo_code",
    "unsubscribe_footer", "text", "image", "button", "custom",
]  # fmt: skip
Category = Literal["transactional", "trigger", "promo"]
ChannelName = Literal["email", "sms", "viber", "push", "inapp", "webhook"]
CHANNELS: tuple[ChannelName, ...] = ("email", "sms", "viber", "push", "inapp", "webhook")

Language = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$", max_length=35)
]
# Jinja keywords and names it gives a meaning cannot be parameters.
RESERVED_NAMES = frozenset((
    "and", "or", "not", "in", "is", "if", "else", "elif", "for", "endfor", "true", "false",
    "none", "True", "False", "None", "with", "endwith", "block", "endblock", "macro",
    "endmacro", "set", "endset", "import", "include", "from", "as", "recursive", "call",
    "endcall", "filter", "endfilter", "raw", "endraw", "extends", "loop", "self", "super",
    "varargs", "kwargs", "caller",
))  # fmt: skip


def _not_reserved(name: str) -> str:
    if name in RESERVED_NAMES:
        raise ValueError(f"{name!r} is a template keyword; choose another parameter name")
    return name


ParamName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$"),
    AfterValidator(_not_reserved),
]
BlockId = Annotated[str, StringConstraints(pattern=r"^blk_[0-9a-f]{16}$")]
VARIABLE_PATH = r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*|\[[0-9]{1,4}\])*$"
MAX_SOURCE = 200_000


class VarRef(BaseModel):
    """A parameter bound to a template variable: ``{"var": "data.recommendations"}``."""

    model_config = ConfigDict(extra="forbid")

    var: str = Field(pattern=VARIABLE_PATH, max_length=200)


Literal_ = str | int | float | bool | None
ParamValue = VarRef | Literal_ | list[Literal_] | dict[str, Literal_]


class ParamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: ParamValue = None
    description: str = Field(default="", max_length=500)


Sources = dict[Language, Annotated[str, StringConstraints(max_length=MAX_SOURCE)]]


class BlockIn(BaseModel):
    """A block as written: MJML per language (email), plain text per language (text channels)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    kind: BlockKind
    description: str = Field(default="", max_length=2000)
    email: Sources = Field(default_factory=dict, max_length=30)
    text: Sources = Field(default_factory=dict, max_length=30)
    params: dict[ParamName, ParamSpec] = Field(default_factory=dict, max_length=30)

    @model_validator(mode="after")
    def _has_source(self) -> BlockIn:
        if not self.email and not self.text:
            raise ValueError("give an email (MJML) or a text source in at least one language")
        return self


class BlockRef(BaseModel):
    """A reference to the latest version of a block, with its parameters."""

    model_config = ConfigDict(extra="forbid")

    block: BlockId
    params: dict[ParamName, ParamValue] = Field(default_factory=dict, max_length=30)


class InlineSection(BaseModel):
    """MJML written in this message only, per language."""

    model_config = ConfigDict(extra="forbid")

    mjml: Sources = Field(min_length=1, max_length=30)


PerLanguage = dict[Language, Annotated[str, StringConstraints(max_length=MAX_SOURCE)]]


class EmailContent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: dict[Language, Annotated[str, StringConstraints(min_length=1, max_length=998)]] = (
        Field(min_length=1, max_length=30)
    )
    preheader: dict[Language, Annotated[str, StringConstraints(max_length=1000)]] = Field(
        default_factory=dict, max_length=30
    )
    head: str = Field(default="", max_length=50_000, description="MJML inside <mj-head>")
    background_color: str = Field(default="", pattern=r"^(#[0-9A-Fa-f]{3,8}|[a-z]{3,20})?$")
    body: list[BlockRef | InlineSection] = Field(min_length=1, max_length=100)


class TextContent(BaseModel):
    """Base of the text channels: fields per language, then blocks appended to the main text."""

    model_config = ConfigDict(extra="forbid")

    append: list[BlockRef] = Field(default_factory=list, max_length=10)


class SmsContent(TextContent):
    text: PerLanguage = Field(min_length=1, max_length=30)


class ViberContent(TextContent):
    text: PerLanguage = Field(min_length=1, max_length=30)
    image_url: PerLanguage = Field(default_factory=dict, max_length=30)
    button_text: PerLanguage = Field(default_factory=dict, max_length=30)
    button_url: PerLanguage = Field(default_factory=dict, max_length=30)


class PushContent(TextContent):
    title: PerLanguage = Field(default_factory=dict, max_length=30)
    body: PerLanguage = Field(min_length=1, max_length=30)
    image_url: PerLanguage = Field(default_factory=dict, max_length=30)
    url: PerLanguage = Field(default_factory=dict, max_length=30)


class InAppContent(TextContent):
    title: PerLanguage = Field(default_factory=dict, max_length=30)
    body: PerLanguage = Field(min_length=1, max_length=30)
    image_url: PerLanguage = Field(default_factory=dict, max_length=30)
    url: PerLanguage = Field(default_factory=dict, max_length=30)


class WebhookContent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: PerLanguage = Field(min_length=1, max_length=30, description="e.g. JSON with |tojson")


class ChannelsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailContent | None = None
    sms: SmsContent | None = None
    viber: ViberContent | None = None
    push: PushContent | None = None
    inapp: InAppContent | None = None
    webhook: WebhookContent | None = None


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    category: Category
    topic: str | None = Field(default=None, min_length=1, max_length=100)
    tags: list[Annotated[str, StringConstraints(min_length=1, max_length=50)]] = Field(
        default_factory=list, max_length=30
    )
    default_language: Language | None = None
    channels: ChannelsIn

    @model_validator(mode="after")
    def _one_channel(self) -> MessageIn:
        if not self.channels.model_dump(exclude_none=True):
            raise ValueError("channels: give the content of at least one channel")
        return self


class MessagePreviewIn(BaseModel):
    """Preview a stored message as a contact (by id or email), or as nobody."""

    model_config = ConfigDict(extra="forbid")

    channel: ChannelName = "email"
    contact_id: int | None = Field(default=None, ge=1, le=2**62)
    email: str | None = Field(default=None, max_length=320)
    language: str | None = Field(default=None, max_length=35, description="overrides the contact's")
    accept_language: str | None = Field(default=None, max_length=500)
    variables: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_contact(self) -> MessagePreviewIn:
        if self.contact_id is not None and self.email is not None:
            raise ValueError("give contact_id or email, not both")
        return self


class TestSendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    addresses: list[EmailStr] = Field(min_length=1, max_length=20)
    language: str | None = Field(default=None, max_length=35)
    contact_id: int | None = Field(default=None, ge=1, le=2**62)
    variables: dict[str, Any] = Field(default_factory=dict)


class ValidateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(max_length=500_000)
    kind: Literal["mjml", "text", "subject"]

    @field_validator("source")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the source is empty")
        return value
