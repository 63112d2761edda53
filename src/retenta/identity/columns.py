"""Identifiers normalized a column at a time, with exactly ``normalize``'s verdicts.

``normalize`` costs 1–37 µs a value in Python; a contacts file brings its identifiers as
Arrow columns of mostly plain shapes. Each value in a common shape is settled here by
Arrow's kernels (RE2 regexes, string slicing, set membership):

- a plain identifier (external id, anonymous id, token, custom): printable ASCII with no
  space at either end, at most ``MAX_VALUE_LENGTH`` long;
- an e-mail whose local part is a plain ASCII dot-atom and whose (ASCII) domain
  email-validator accepts (asked once per distinct domain, as ``normalize`` memoizes it);
- a phone in E.164 shape whose country code has one region: valid when its national
  number matches the region's patterns and lengths, as phonenumbers' ``is_valid_number``.

Every other value (non-ASCII text, inner whitespace, a blocked value, a shared country
code, …) goes through the normalizer itself, one at a time. Property tests hold the two
equal value for value.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from retenta.identity.normalize import (
    EMAIL,
    MAX_VALUE_LENGTH,
    PHONE,
    Normalizer,
    blocked_values,
    checked_domain,
)
from retenta.settings import IdentitySettings

# The characters Python's ``str.strip`` removes that are ASCII; a value whose ends are
# printable after trimming these has the same ends after ``strip``.
ASCII_SPACE = " \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"
_PLAIN = r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$"
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"  # ``normalize._SIMPLE_LOCAL``, either case
_EMAIL = rf"^{_ATOM}(?:\.{_ATOM})*@[\x21-\x3f\x41-\x7e]+$"
_E164 = r"^\+[1-9][0-9]{5,15}$"
_TYPE_DESCS = (
    "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
    "voicemail", "fixed_line",
)  # fmt: skip
INVALID_PHONE = "invalid phone: not a valid number"
PhoneVerdict = tuple[str | None, str | None]


@dataclass(frozen=True)
class Normalized:
    """A column's verdicts: each row's identifier, and where a value was refused."""

    values: pa.Array  # the normalized identifier; null where the row offers none or a bad one
    invalid: np.ndarray  # a value was offered that is not an identifier (not merely empty)


def normalize_column(
    id_type: str, column: pa.Array | pa.ChunkedArray, norm: Normalizer
) -> Normalized:
    """``norm(id_type, raw)`` of every value of ``column``, settled by column where it can.

    >>> from retenta.settings import IdentitySettings
    >>> norm = Normalizer(IdentitySettings(default_phone_region="UA"))
    >>> raws = pa.array(["Ann@Example.COM", " null ", None, "bad@", "Олена@приклад.укр"])
    >>> found = normalize_column("email", raws, norm)
    >>> found.values.to_pylist(), found.invalid.tolist()
    (['ann@example.com', None, None, None, 'олена@приклад.укр'], [False, True, False, True, False])
    """
    arr = _one_chunk(column)
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return _one_by_one(id_type, arr.to_pylist(), norm)
    arr = arr.cast(pa.string())
    text = pc.utf8_trim(arr, ASCII_SPACE)
    if id_type == EMAIL:
        values, settled = _emails(text)
    elif id_type == PHONE:
        values, settled = _phones(text)
    else:
        short = pc.less_equal(pc.utf8_length(text), MAX_VALUE_LENGTH)
        settled = as_flags(pc.and_(pc.match_substring_regex(text, _PLAIN), short))
        values = text
    blocked = pa.array(sorted(blocked_values(norm.settings)), pa.string())
    if len(blocked):  # ``normalize`` checks the text and the value: leave both to it
        settled &= ~as_flags(pc.is_in(pc.utf8_lower(text), value_set=blocked))
        settled &= ~as_flags(pc.is_in(pc.utf8_lower(values), value_set=blocked))
    invalid = settled & ~as_flags(values.is_valid())  # the phones found not valid
    rest = np.flatnonzero(~settled & as_flags(arr.is_valid()))
    values = pc.if_else(pa.array(settled), values, pa.scalar(None, pa.string()))
    if rest.size:
        found = [norm(id_type, raw) for raw in arr.take(pa.array(rest)).to_pylist()]
        values = _put(values, rest, [value for value, _ in found])
        invalid[rest] = [value is None and reason != "empty" for value, reason in found]
    return Normalized(values, invalid)


def normalized_phones(raws: Iterable[Any], settings: IdentitySettings) -> dict[str, PhoneVerdict]:
    """``normalize_with_reason("phone", raw)`` for the raw values it can settle by column.

    >>> found = normalized_phones(["+380501234567", "+3805012345", "050 123"], IdentitySettings())
    >>> found == {"+380501234567": ("+380501234567", None), "+3805012345": (None, INVALID_PHONE)}
    True
    """
    unique = pa.array(sorted({raw for raw in raws if isinstance(raw, str)}), pa.string())
    text = pc.utf8_trim(unique, ASCII_SPACE)
    values, settled = _phones(text)
    blocked = pa.array(sorted(blocked_values(settings)), pa.string())
    settled &= ~as_flags(pc.is_in(pc.utf8_lower(text), value_set=blocked))
    out: dict[str, PhoneVerdict] = {}
    for i in np.flatnonzero(settled).tolist():
        value = values[i].as_py()
        out[unique[i].as_py()] = (value, None) if value is not None else (None, INVALID_PHONE)
    return out


# --- e-mails ------------------------------------------------------------------------------


def _emails(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """``normalize._email``'s fast branch: the lowered local part, ``@``, the checked domain."""
    lowered = pc.utf8_lower(text)
    at = pc.find_substring(lowered, "@")
    shape = as_flags(pc.and_(pc.match_substring_regex(text, _EMAIL),
                           pc.and_(pc.less_equal(pc.utf8_length(text), 254),
                                   pc.less_equal(at, 64))))  # fmt: skip
    parts = pc.split_pattern(lowered, "@", max_splits=1)
    domains = pc.list_element(pc.if_else(pa.array(shape), parts, pa.scalar(None, parts.type)), 1)
    distinct = pc.unique(domains).drop_null()
    checked = pa.array(
        [(found.lower() if (found := checked_domain(d)) is not None else None)
         for d in distinct.to_pylist()], pa.string(),
    )  # fmt: skip
    domain = pc.take(checked, pc.index_in(domains, value_set=distinct))
    values = pc.binary_join_element_wise(pc.list_element(parts, 0), domain, "@")
    return values, shape & as_flags(values.is_valid())


# --- phones -------------------------------------------------------------------------------
#
# For E.164 text of a country code with one region, validity is "the national number
# matches the region's general pattern and one of its type patterns (with their possible
# lengths)", which the regex kernels answer for a whole column. A code shared by several
# regions, a national prefix or a leading zero is left to ``normalize``.


@functools.cache
def _single_region_metadata(code: int) -> Any:
    """The metadata of a country code that belongs to exactly one (geographic) region."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code, ())
    if len(regions) != 1 or regions[0] == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
        return None
    return phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(code, regions[0])


@functools.cache
def _country_codes() -> pa.Array:
    return pa.array(sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE), pa.int64())


def _phones(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Each E.164-shaped phone of a one-region code: the text where valid, null where not."""
    shaped = np.flatnonzero(as_flags(pc.match_substring_regex(text, _E164)))
    settled = np.zeros(len(text), dtype=bool)
    valid = np.zeros(len(text), dtype=bool)
    candidates = text.take(pa.array(shaped, pa.int64()))
    codes = _country_code(candidates)
    for code in np.unique(codes[codes > 0]).tolist():
        meta = _single_region_metadata(code)
        if meta is None:
            continue
        rows = shaped[codes == code]
        nationals = pc.utf8_slice_codeunits(text.take(pa.array(rows)), 1 + len(str(code)))
        plain = _plain_nationals(nationals, meta)
        try:
            verdicts = np.asarray(valid_nationals(nationals.filter(pa.array(plain)), meta))
        except pa.ArrowInvalid:  # a pattern RE2 does not take: leave these to normalize
            continue
        settled[rows[plain]] = True
        valid[rows[plain]] = verdicts
    values = pc.if_else(pa.array(valid), text, pa.scalar(None, pa.string()))
    return values, settled


def _country_code(numbers: pa.Array) -> np.ndarray:
    """The country code of each ``+digits`` text (0 where none): codes are prefix-free, so
    the first of 1, 2 or 3 digits that is one is the one."""
    found = np.zeros(len(numbers), dtype=np.int64)
    for size in (3, 2, 1):  # the shortest match wins: written last
        head = pc.cast(pc.utf8_slice_codeunits(numbers, 1, 1 + size), pa.int64())
        known = as_flags(pc.is_in(head, value_set=_country_codes()))
        found[known] = head.to_numpy(zero_copy_only=False)[known]
    return found


def _plain_nationals(nationals: pa.Array, meta: Any) -> np.ndarray:
    """National numbers with nothing for the general parser to strip (``bulk.split_e164``)."""
    plain = as_flags(pc.and_(pc.greater_equal(pc.utf8_length(nationals), 2),
                           pc.invert(pc.starts_with(nationals, "0"))))  # fmt: skip
    prefix = meta.national_prefix_for_parsing
    if prefix:
        try:
            plain &= ~as_flags(pc.match_substring_regex(nationals, f"^(?:{prefix})"))
        except pa.ArrowInvalid:
            return np.zeros(len(nationals), dtype=bool)
    return plain


def _matches(nationals: pa.Array, lengths: pa.Array, desc: Any) -> pa.Array:
    """phonenumbers' ``_is_number_matching_desc`` over a column."""
    pattern = desc.national_number_pattern if desc is not None else None
    if not pattern:
        return pa.array([False] * len(nationals), pa.bool_())
    found = pc.match_substring_regex(nationals, f"^(?:{pattern})$")
    if desc.possible_length:
        found = pc.and_(found, pc.is_in(lengths, pa.array(list(desc.possible_length))))
    return found


def valid_nationals(nationals: Sequence[str] | pa.Array, meta: Any) -> list[bool]:
    """phonenumbers' ``is_valid_number`` for national numbers of one single-region code."""
    column = nationals if isinstance(nationals, pa.Array) else pa.array(nationals, pa.string())
    lengths = pc.utf8_length(column)
    typed = [_matches(column, lengths, getattr(meta, name)) for name in _TYPE_DESCS]
    if not meta.same_mobile_and_fixed_line_pattern:
        typed.append(_matches(column, lengths, meta.mobile))
    any_type = functools.reduce(pc.or_, typed)
    valid: list[bool] = pc.and_(_matches(column, lengths, meta.general_desc), any_type).to_pylist()
    return valid


# --- helpers ------------------------------------------------------------------------------


def _one_chunk(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column


def as_flags(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean column as numpy, null as False."""
    out: np.ndarray = np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), bool)
    return out.copy()


def _put(values: pa.Array, rows: np.ndarray, found: list[str | None]) -> pa.Array:
    mask = np.zeros(len(values), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(values, pa.array(mask), pa.array(found, pa.string()))


def _one_by_one(id_type: str, raws: list[Any], norm: Normalizer) -> Normalized:
    found = [norm(id_type, raw) for raw in raws]
    values = pa.array([value for value, _ in found], pa.string())
    invalid = np.array([value is None and reason not in (None, "empty") for value, reason in found])
    return Normalized(values, invalid.astype(bool))
