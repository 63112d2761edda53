"""Carry Jinja markup through MJML and css-inline untouched.

MJML compilation and CSS inlining run once per message version, not per contact, so the
Jinja markup must survive them: each ``{{ … }}``, ``{% … %}``, ``{# … #}`` is swapped for an
inert alphanumeric token first and put back afterwards. Literal ``{{``/``{%``/``{#`` that
appear in the compiled output (CSS, decoded entities) are quoted so Jinja prints them as is.

>>> masked = mask("<p a='{{ url }}'>{% if x %}Hi{% endif %}</p>")
>>> "{" in masked.text
False
>>> masked.unmask(masked.text)
"<p a='{{ url }}'>{% if x %}Hi{% endif %}</p>"
>>> masked.unmask("a{#b " + masked.text[:0])
"a{{ '{' }}#b "
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_OPENER = re.compile(r"\{(?=[{%#])")


@dataclass(frozen=True, slots=True)
class Masked:
    text: str
    nonce: str
    pieces: tuple[str, ...]

    def unmask(self, text: str) -> str:
        """Quote stray Jinja openers, then put each piece of markup back in its place."""
        quoted = _OPENER.sub("{{ '{' }}", text)
        token = re.compile(rf"jx{self.nonce}n(\d+)z")
        return token.sub(lambda m: self.pieces[int(m.group(1))], quoted)


def mask(source: str) -> Masked:
    """Replace Jinja markup by tokens ``jx<nonce>n<index>z``."""
    nonce = secrets.token_hex(4)
    pieces: list[str] = []

    def token(match: re.Match[str]) -> str:
        pieces.append(match.group(0))
        return f"jx{nonce}n{len(pieces) - 1}z"

    return Masked(text=_JINJA.sub(token, source), nonce=nonce, pieces=tuple(pieces))
