"""HTML bodies: sanitised for display, turned into text for snippets. Nothing here raises."""

from __future__ import annotations

import re
from html import escape, unescape

import nh3

# Images are dropped, not kept: a remote image in an email is usually a tracking pixel that tells the sender
# each time a teammate opens the engagement, and inline (cid:) images cannot be shown from here anyway.
_TAGS = frozenset(nh3.ALLOWED_TAGS - {"img", "map", "area"})
_ATTRIBUTES = {tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items() if tag in _TAGS}
# Links stay (with rel="noopener noreferrer nofollow"), but only to the web, mail and phone.
_URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
# Limits that keep sanitising fast on hostile bodies (see sanitise_html).
MAX_HTML_LENGTH = 1_000_000
MAX_AMPERSANDS = 20_000
_CLEAN_CONTENT = frozenset({"script", "style", "title", "noscript", "template", "head"})

# html_to_text is our own few linear regexes, not html.parser: Python 3.11's HTMLParser takes quadratic time
# on inputs like "<a <a <a ..." (minutes for 300 KB), and HTML bodies come from anyone.
# Elements whose text is not part of the message as a reader sees it; an unclosed one runs to the end.
_HIDDEN = re.compile(
    r"<(script|style|head|title|noscript|template)\b[^<>]*>.*?(?:</\1\s*>|\Z)|<!--.*?(?:-->|\Z)",
    re.IGNORECASE | re.DOTALL,
)
# Tags that start a new line of text.
_BLOCK_TAG = re.compile(
    r"<\s*/?\s*(?:p|div|br|tr|li|ul|ol|table|blockquote|pre|hr|section|article|h[1-6]|dt|dd|header|footer)\b"
    r"[^<>]*>",
    re.IGNORECASE,
)
_TAG = re.compile(r"<\s*/?\s*[A-Za-z!?][^<>]*>")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u200b]+")
_BLANKS = re.compile(r"\s+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def sanitise_html(html: str) -> str:
    """HTML that is safe to show: no scripts, styles, event handlers, images or non-web URLs.

    Bodies longer than 1 MB are cut there first (the sanitiser closes any open tags). A body with more than
    20,000 "&" is shown as its escaped text instead: the sanitiser's time grows with the square of the
    number of character references (measured: 400,000 of them take 10 s).
    """
    if len(html) > MAX_HTML_LENGTH:
        html = html[:MAX_HTML_LENGTH]
    if html.count("&") > MAX_AMPERSANDS:
        return f"<pre>{escape(html_to_text(html))}</pre>"
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


def html_to_text(html: str) -> str:
    """The visible text of an HTML body: tags removed, entities decoded, one line per block."""
    text = _HIDDEN.sub(" ", html)
    text = _BLOCK_TAG.sub("\n", text)
    text = unescape(_TAG.sub("", text))
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
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
