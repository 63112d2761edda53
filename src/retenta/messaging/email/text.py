"""The plain-text part of an email, derived from its HTML.

Hidden elements (the preheader), ``<head>``, styles and scripts are skipped; blocks become
lines, links keep their address, list items get a dash.

>>> html_to_text('<div style="display:none">pre</div><h1>Hi &amp; welcome</h1>'
...              '<p>See <a href="https://x.example/a">our shop</a><br>today</p>'
...              '<ul><li>one</li><li>two</li></ul>')
'Hi & welcome\\n\\nSee our shop (https://x.example/a)\\ntoday\\n\\n- one\\n- two'
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

SKIPPED = {"head", "style", "script", "title", "noscript", "template"}
BLOCKS = {
    "p", "div", "section", "article", "header", "footer", "table", "tr", "h1", "h2", "h3",
    "h4", "h5", "h6", "ul", "ol", "blockquote", "center", "hr",
}  # fmt: skip
VOID = {"br", "img", "hr", "meta", "link", "input", "col", "area", "base", "source", "wbr"}
# Single spaces and bare newlines are already tidy: matching only what changes keeps a
# render's text part to a few substitutions instead of one per space and line.
_SPACES = re.compile(r"[ \t]{2,}|\t")
_LINE_EDGES = re.compile(r" \n ?|\n ")
_BLANK_RUNS = re.compile(r"\n{3,}")
_HIDDEN = re.compile(r"display\s*:\s*none|mso-hide\s*:\s*all", re.IGNORECASE)


class _TextBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip_stack: list[str] = []
        self.links: list[str | None] = []
        self.link_text: list[list[str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if self.skip_stack or tag in SKIPPED or _HIDDEN.search(attributes.get("style") or ""):
            if tag not in VOID:
                self.skip_stack.append(tag)
            return
        if tag == "br":
            self._emit("\n")
        elif tag in BLOCKS:
            self._emit("\n\n")
        elif tag == "li":
            self._emit("\n- ")
        elif tag == "a":
            self.links.append(attributes.get("href"))
            self.link_text.append([])

    def handle_endtag(self, tag: str) -> None:
        if self.skip_stack:
            if tag == self.skip_stack[-1]:
                self.skip_stack.pop()
            return
        if tag in BLOCKS:
            self._emit("\n\n")
        elif tag == "a" and self.links:
            self._close_link()

    def handle_data(self, data: str) -> None:
        if not self.skip_stack:
            self._emit(re.sub(r"\s+", " ", data))

    def _emit(self, text: str) -> None:
        (self.link_text[-1] if self.link_text else self.out).append(text)

    def _close_link(self) -> None:
        href = self.links.pop()
        text = "".join(self.link_text.pop()).strip()
        shown = text
        if href and not href.startswith(("#", "mailto:")) and href != text:
            shown = f"{text} ({href})" if text else href
        self._emit(shown)


def html_to_text(html: str) -> str:
    """Readable plain text for an HTML email (see the module example)."""
    builder = _TextBuilder()
    builder.feed(html)
    builder.close()
    while builder.links:
        builder._close_link()
    return tidy_text("".join(builder.out))


def tidy_text(text: str) -> str:
    """Spaces collapsed within lines, at most one blank line in a row, no edges.

    >>> tidy_text("  a  b \\n\\n\\n\\n c ")
    'a b\\n\\nc'
    """
    if "\t" in text or "  " in text:  # substring checks run at C speed; regexes do not
        text = _SPACES.sub(" ", text)
    if " \n" in text or "\n " in text:
        text = _LINE_EDGES.sub("\n", text)
    if "\n\n\n" in text:
        text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip()
