"""Identifiers: normalization, validation, hashing and extraction from a message (pure).

Every identifier is a ``(type, value)`` pair; the value is the normalized form that is
stored in ``identities.value`` and hashed into ``suppressed_identifiers.value_hash``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from retenta.core.messages import Message
from retenta.settings import IdentitySettings

EXTERNAL_ID = "external_id"
ANONYMOUS_ID = "anonymous_id"
EMAIL = "email"
PHONE = "phone"
PUSH_TOKEN = "push_token"  # noqa: S105 (an identifier type, not a secret)
CUSTOM_PREFIX = "custom:"
BASE_TYPES = (EXTERNAL_ID, ANONYMOUS_ID, EMAIL, PHONE, PUSH_TOKEN)
MAX_VALUE_LENGTH = 512

# Which identifier decides the contact when an event's identifiers disagree (first wins).
PRIORITY = {EXTERNAL_ID: 0, EMAIL: 1, PHONE: 2, PUSH_TOKEN: 4, ANONYMOUS_ID: 5}
CUSTOM_PRIORITY = 3

Identifier = tuple[str, str]  # (type, normalized value)


def is_known_type(id_type: str) -> bool:
    """``external_id`` … ``push_token`` and any ``custom:<name>``.

    >>> is_known_type("custom:loyalty_card"), is_known_type("fax")
    (True, False)
    """
    return id_type in BASE_TYPES or (
        id_type.startswith(CUSTOM_PREFIX) and len(id_type) > len(CUSTOM_PREFIX)
    )


def priority(id_type: str) -> int:
    """Lower is stronger: external id, email, phone, custom, push token, anonymous id."""
    return PRIORITY.get(id_type, CUSTOM_PRIORITY)


def identifier_hash(id_type: str, value: str) -> str:
    """SHA-256 hex of the normalized value (what ``suppressed_identifiers.value_hash`` holds).

    The type is stored beside the hash, so it is not part of the digest.

    >>> identifier_hash("email", "ann@example.com")[:12]
    '71d4f55f72fa'
    """
    del id_type  # kept in the signature: callers always know it, and a future scheme may need it
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _as_text(raw: Any) -> str | None:
    """Strings and integers are identifiers; anything else (bool, dict, float…) is not."""
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, str):
        return raw.strip()
    return None


# A plain ASCII dot-atom local part: the common case, checked without the full parser.
_SIMPLE_LOCAL = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")
_DOMAINS: dict[str, str | None] = {}


def checked_domain(domain: str) -> str | None:
    """The normalized domain if email-validator accepts it (memoized: few domains recur)."""
    if domain not in _DOMAINS:
        if len(_DOMAINS) > 50_000:
            _DOMAINS.clear()
        try:
            _DOMAINS[domain] = validate_email(f"a@{domain}", check_deliverability=False).domain
        except EmailNotValidError:
            _DOMAINS[domain] = None
    return _DOMAINS[domain]


def _email(text: str) -> tuple[str | None, str | None]:
    """email-validator's verdict; a simple local part only needs its domain checked.

    >>> _email("Ann.Lee+shop@Gmail.COM"), _email("a@b.test")[0]
    (('ann.lee+shop@gmail.com', None), None)
    """
    lowered = text.lower()
    local, at, domain = lowered.rpartition("@")
    if at and len(lowered) <= 254 and len(local) <= 64 and _SIMPLE_LOCAL.match(local):
        checked = checked_domain(domain)
        if checked is not None:
            return f"{local}@{checked.lower()}", None
    try:
        valid = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        return None, f"invalid email: {exc}"
    return valid.normalized.lower(), None


_E164_SHAPE = re.compile(r"\+[1-9][0-9]{5,15}")


def _e164_fast(text: str) -> tuple[str | None, str | None] | None:
    """``_phone`` for text already in E.164 shape (``+`` and digits), skipping the general
    parser (24 of the 37 µs a phone costs); None where that parser might do more than split
    off the country code (a national prefix, a leading zero). Equality with the general
    path is a property test.

    >>> _e164_fast("+380501234567"), _e164_fast("+3805012"), _e164_fast("+44 20")
    (('+380501234567', None), (None, 'invalid phone: not a valid number'), None)
    """
    if not _E164_SHAPE.fullmatch(text):
        return None
    digits = text[1:]
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = digits[size:]
    region = phonenumbers.region_code_for_country_code(code)
    meta = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    prefix = meta.national_prefix_for_parsing if meta is not None else None
    if meta is None or len(national) < 2 or national[0] == "0":
        return None
    if prefix and re.match(prefix, national):
        return None
    number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
    if not phonenumbers.is_valid_number(number):
        return None, "invalid phone: not a valid number"
    return text, None


def _phone(text: str, region: str) -> tuple[str | None, str | None]:
    fast = _e164_fast(text)
    return fast if fast is not None else _phone_general(text, region)


def _phone_general(text: str, region: str) -> tuple[str | None, str | None]:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        return None, f"invalid phone: {exc}"
    if not phonenumbers.is_valid_number(number):
        return None, "invalid phone: not a valid number"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def normalize_with_reason(
    id_type: str, raw: Any, settings: IdentitySettings
) -> tuple[str | None, str | None]:
    """``(value, None)`` for a valid identifier, ``(None, reason)`` otherwise.

    >>> s = IdentitySettings()
    >>> normalize_with_reason("email", "  Ann@Example.COM ", s)
    ('ann@example.com', None)
    >>> normalize_with_reason("external_id", "undefined", s)
    (None, 'blocked value')
    """
    text = _as_text(raw)
    if not text:
        return None, "empty"
    if len(text) > MAX_VALUE_LENGTH:
        return None, f"longer than {MAX_VALUE_LENGTH} characters"
    if text.lower() in blocked_values(settings):
        return None, "blocked value"
    if id_type == EMAIL:
        value, reason = _email(text)
    elif id_type == PHONE:
        value, reason = _phone(text, settings.default_phone_region)
    else:
        value, reason = text, None
    if value is not None and value.lower() in blocked_values(settings):
        return None, "blocked value"
    return value, reason


def normalize(id_type: str, raw: Any, settings: IdentitySettings) -> str | None:
    """The normalized identifier, or None when ``raw`` is not a valid identifier.

    >>> s = IdentitySettings(default_phone_region="UA")
    >>> normalize("phone", "067 123 45 67", s)
    '+380671234567'
    >>> normalize("email", "test@test.com", s) is None
    True
    """
    return normalize_with_reason(id_type, raw, settings)[0]


_BLOCKED_CACHE: dict[int, frozenset[str]] = {}


def blocked_values(settings: IdentitySettings) -> frozenset[str]:
    key = id(settings.blocked_values)
    found = _BLOCKED_CACHE.get(key)
    if found is None:
        found = frozenset(v.strip().lower() for v in settings.blocked_values)
        if len(_BLOCKED_CACHE) > 64:
            _BLOCKED_CACHE.clear()
        _BLOCKED_CACHE[key] = found
    return found


@dataclass(slots=True)
class Rejected:
    """A value offered as an identifier that is not one (kept for ``identity_events``)."""

    id_type: str
    raw: str
    reason: str


@dataclass(slots=True)
class Extracted:
    identifiers: list[Identifier] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    previous_id: str | None = None
    keys: list[tuple[str, str, str]] = field(default_factory=list)  # (workspace, type, value)
    sole_owner: int | None = None  # set by resolution when all identifiers are one contact's


def _plain(raw: Any, settings: IdentitySettings) -> tuple[str | None, str | None]:
    """``normalize_with_reason`` of a type that is only trimmed (ids, tokens, custom).

    >>> s = IdentitySettings()
    >>> _plain(" u1 ", s), _plain(7, s), _plain(True, s), _plain("Undefined", s)
    (('u1', None), ('7', None), (None, 'empty'), (None, 'blocked value'))
    >>> _plain(["u1"], s)
    (None, 'not a string')
    """
    text = _as_text(raw)
    if not text:
        if text is None and type(raw).__hash__ is None:
            return None, "not a string"  # as the memo answers a list or a dict
        return None, "empty"
    if len(text) > MAX_VALUE_LENGTH:
        return None, f"longer than {MAX_VALUE_LENGTH} characters"
    if text.lower() in blocked_values(settings):
        return None, "blocked value"
    return text, None


class Normalizer:
    """``normalize`` with a bounded memo: the hot path sees the same raw values again and again.

    Only e-mails and phones go through the memo (their checks cost 2-37 µs); a type that is
    only trimmed costs less to normalize than to remember, and a store's millions of user
    and anonymous ids would keep the memo churning (and holding ~250 bytes an entry).
    """

    def __init__(self, settings: IdentitySettings, *, max_entries: int = 100_000) -> None:
        self.settings = settings
        self.max_entries = max_entries
        self._memo: dict[tuple[str, Any], tuple[str | None, str | None]] = {}

    def __call__(self, id_type: str, raw: Any) -> tuple[str | None, str | None]:
        if id_type != EMAIL and id_type != PHONE:
            return _plain(raw, self.settings)
        key = (id_type, raw)
        try:
            return self._memo[key]
        except KeyError:
            pass
        except TypeError:  # unhashable raw value (a list or dict): never an identifier
            return None, "not a string"
        found = normalize_with_reason(id_type, raw, self.settings)
        if len(self._memo) >= self.max_entries:
            self._memo.clear()
        self._memo[key] = found
        return found


def _push_token(message: Message) -> Any:
    device = message.context.get("device")
    return device.get("token") if isinstance(device, dict) else None


def _offer(out: Extracted, norm: Normalizer, id_type: str, raw: Any) -> None:
    value, reason = norm(id_type, raw)
    if value is None:
        if reason != "empty":
            out.rejected.append(Rejected(id_type, str(raw)[:MAX_VALUE_LENGTH], reason or ""))
    elif (id_type, value) not in out.identifiers:
        out.identifiers.append((id_type, value))


def _offer_traits(out: Extracted, norm: Normalizer, source: Any, custom: Sequence[str]) -> None:
    if not source or not isinstance(source, dict):
        return
    for id_type in (EMAIL, PHONE):
        if (raw := source.get(id_type)) is not None:
            _offer(out, norm, id_type, raw)
    for key in custom:
        if (raw := source.get(key)) is not None:
            _offer(out, norm, CUSTOM_PREFIX + key, raw)


def only_ids(message: Message, custom_keys: Sequence[str]) -> bool:
    """Whether ``userId``/``anonymousId`` are the only identifiers a message may carry: no
    e-mail or phone in its traits, context traits or properties, no push token, no custom
    identifier keys configured, not an alias (most track/page events of a storefront).
    ``extract`` of such a message is two memo lookups (a conservative test: a False only
    sends the message down the general path).

    >>> m = Message("ws", "m1", "page", None, None, user_id="u1")
    >>> only_ids(m, []), only_ids(m, ["loyalty"])
    (True, False)
    >>> m.context = {"traits": {"email": "a@b.io"}}; only_ids(m, [])
    False
    """
    if custom_keys or (message.type == "alias" and message.previous_id is not None):
        return False
    traits, props = message.traits, message.properties
    if traits and (EMAIL in traits or PHONE in traits):
        return False
    if props and (EMAIL in props or PHONE in props):
        return False
    ctx = message.context
    if not ctx:
        return True
    inner = ctx.get("traits")
    if inner and isinstance(inner, dict) and (EMAIL in inner or PHONE in inner):
        return False
    device = ctx.get("device")
    return not (isinstance(device, dict) and device.get("token") is not None)


def extract(message: Message, norm: Normalizer, custom_keys: Sequence[str]) -> Extracted:
    """The identifiers a message carries, strongest first, and the values that were rejected."""
    out = Extracted()
    if only_ids(message, custom_keys):
        if message.user_id is not None:
            _offer(out, norm, EXTERNAL_ID, message.user_id)
        if message.anonymous_id is not None:
            _offer(out, norm, ANONYMOUS_ID, message.anonymous_id)
        return out
    return extract_general(message, norm, custom_keys, out)


def extract_batch(
    messages: Sequence[Message], norm: Normalizer, custom_keys: Sequence[str]
) -> list[Extracted]:
    """``extract`` of every message, with ``keys`` set: the batch's hot loop. A message that
    carries only ``userId``/``anonymousId`` (``only_ids``) as plain, valid strings is done
    inline (no call per identifier); any other goes through ``extract``. A property test
    holds this equal to ``extract_general``.

    >>> m = Message("ws", "m1", "page", None, None, user_id=" u1 ", anonymous_id="a1")
    >>> extract_batch([m], Normalizer(IdentitySettings()), [])[0].keys
    [('ws', 'external_id', 'u1'), ('ws', 'anonymous_id', 'a1')]
    """
    blocked = blocked_values(norm.settings)
    out = []
    for m in messages:
        ex = None if custom_keys else _only_plain_ids(m, blocked)
        if ex is None:
            ex = extract(m, norm, custom_keys)
            ws = m.workspace_id
            ex.keys = [(ws, t, v) for t, v in ex.identifiers]
        out.append(ex)
    return out


def _only_plain_ids(m: Message, blocked: frozenset[str]) -> Extracted | None:
    """``extract`` of a message whose only identifiers are a plain ``userId`` and/or
    ``anonymousId`` (trimmed, not empty, not blocked, not too long); None for any other."""
    if m.type == "alias" or not only_ids(m, ()):
        return None
    ws, uid, aid = m.workspace_id, m.user_id, m.anonymous_id
    ids: list[Identifier] = []
    keys: list[tuple[str, str, str]] = []
    if uid is not None:
        if type(uid) is not str:
            return None
        uid = uid.strip()
        if not uid or len(uid) > MAX_VALUE_LENGTH or uid.lower() in blocked:
            return None
        ids.append((EXTERNAL_ID, uid))
        keys.append((ws, EXTERNAL_ID, uid))
    if aid is not None:
        if type(aid) is not str:
            return None
        aid = aid.strip()
        if not aid or len(aid) > MAX_VALUE_LENGTH or aid.lower() in blocked:
            return None
        ids.append((ANONYMOUS_ID, aid))
        keys.append((ws, ANONYMOUS_ID, aid))
    return Extracted(ids, [], None, keys)


def extract_general(
    message: Message, norm: Normalizer, custom_keys: Sequence[str], out: Extracted | None = None
) -> Extracted:
    """``extract`` looking everywhere (what ``only_ids`` lets it skip; a property test holds
    the two equal)."""
    out = Extracted() if out is None else out
    if message.user_id is not None:
        _offer(out, norm, EXTERNAL_ID, message.user_id)
    _offer_traits(out, norm, message.traits, custom_keys)
    if message.context:
        _offer_traits(out, norm, message.context.get("traits"), custom_keys)
        if (token := _push_token(message)) is not None:
            _offer(out, norm, PUSH_TOKEN, token)
    _offer_traits(out, norm, message.properties, custom_keys)
    if message.anonymous_id is not None:
        _offer(out, norm, ANONYMOUS_ID, message.anonymous_id)
    if message.type == "alias" and message.previous_id is not None:
        out.previous_id = norm(ANONYMOUS_ID, message.previous_id)[0]
    return out
