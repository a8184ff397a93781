"""HTML bodies: sanitised for display, turned into text for snippets. Nothing here raises."""

from __future__ import annotations

import contextlib
import re
from html.parser import HTMLParser

import nh3

# Images are dropped, not kept: a remote image in an email is usually a tracking pixel that tells the sender
# each time a teammate opens the engagement, and inline (cid:) images cannot be shown from here anyway.
_TAGS = frozenset(nh3.ALLOWED_TAGS - {"img", "map", "area"})
_ATTRIBUTES = {tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items() if tag in _TAGS}
# Links stay (with rel="noopener noreferrer nofollow"), but only to the web, mail and phone.
_URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
_CLEAN_CONTENT = frozenset({"script", "style", "title", "noscript", "template", "head"})

# Tags whose text is not part of the message as a reader sees it.
_HIDDEN = frozenset({"script", "style", "head", "title", "noscript", "template"})
# Tags that start a new line of text.
_BLOCK = frozenset(
    {"p", "div", "br", "tr", "li", "ul", "ol", "table", "blockquote", "pre", "hr", "section", "article"}
    | {"h1", "h2", "h3", "h4", "h5", "h6", "dt", "dd", "header", "footer"}
)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u200b]+")
_BLANKS = re.compile(r"\s+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def sanitise_html(html: str) -> str:
    """HTML that is safe to show: no scripts, styles, event handlers, images or non-web URLs."""
    try:
        return nh3.clean(
            html,
            tags=set(_TAGS),
            clean_content_tags=set(_CLEAN_CONTENT),
            attributes=_ATTRIBUTES,
            url_schemes=set(_URL_SCHEMES),
            link_rel="noopener noreferrer nofollow",
        )
    except Exception:  # nh3 rejects nothing we know of; if it ever does, show nothing rather than raw HTML
        return ""


class _TextCollector(HTMLParser):
    """Collects the visible text of an HTML document, one line per block element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden_depth += 1
        elif tag in _BLOCK:
            self.pieces.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self.pieces.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden_depth = max(0, self.hidden_depth - 1)
        elif tag in _BLOCK:
            self.pieces.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden_depth:
            self.pieces.append(data)


def html_to_text(html: str) -> str:
    """The visible text of an HTML body: tags removed, entities decoded, one line per block."""
    collector = _TextCollector()
    with contextlib.suppress(Exception):  # HTMLParser is lenient; keep the text read before it gave up
        collector.feed(html)
        collector.close()
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(collector.pieces).split("\n"))
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()


def snippet(text: str, limit: int = 200) -> str:
    """``text`` with white space collapsed, cut to at most ``limit`` characters (ending in "…" when cut)."""
    flat = _BLANKS.sub(" ", text).strip()
    if len(flat) <= limit:
        return flat
    if limit <= 1:
        return flat[:limit]
    cut = flat[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:  # end at a word boundary unless that throws away too much
        cut = cut[:space]
    return cut.rstrip() + "…"
