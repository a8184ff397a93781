"""Address header values to normalised addresses, as import-rules.md "Normalising an address" says.

The parser is our own and lenient: it reads RFC 5322 address lists (display names, quoted strings, comments,
angle addresses, groups, obsolete routes) and whatever real mail puts there instead, and never raises. Each
addr-spec it finds is normalised by ``mailtrail.addresses.normalise_address``.
"""

from __future__ import annotations

import re

from mailtrail.addresses import normalise_address
from mailtrail.mail.charsets import decode_encoded_words
from mailtrail.mail.parsed import Address

# Display names are kept for people's names; the name columns hold 300 characters.
MAX_NAME_LENGTH = 300

# Anything that needs the full tokenizer; values without these are plain comma-separated addr-specs.
_SPECIALS = re.compile(r"[\"<>()\[\]:;\\]|=\?")
_TOKEN = re.compile(
    r"""
      (?P<quoted>"(?:[^"\\]|\\.)*(?:"|\Z))
    | (?P<angle><[^>]*(?:>|\Z))
    | (?P<literal>\[[^\]]*(?:\]|\Z))
    | (?P<comment>\()
    | (?P<sep>[,;:])
    | (?P<atom>[^"<>()\[\],;:]+)
    | (?P<stray>[>)\]])
    """,
    re.VERBOSE | re.DOTALL,
)
_INNER_COMMENT = re.compile(r"\((?:[^()\\]|\\.)*\)")
_WHITE = re.compile(r"\s+")
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)


def parse_addresses(value: str) -> tuple[list[Address], int]:
    """An address header value (unfolded) to its normalised addresses, in order, and the count dropped."""
    return parse_address_list(value, None)


def parse_address_list(value: str, defects: list[str] | None) -> tuple[list[Address], int]:
    """Like :func:`parse_addresses`, also noting what was odd (bad charsets in names) in ``defects``."""
    found, dropped = address_tuple(value, defects)
    return list(found), dropped


def address_tuple(value: str, defects: list[str] | None) -> tuple[tuple[Address, ...], int]:
    """Like :func:`parse_address_list`, as a shared tuple (no copy: the hot path's form).

    Results are remembered per value: one import sees the same To and Cc lists over and over.
    """
    cached = _PARSED.get(value)
    if cached is None:
        if _GROUPING.search(value):
            found_defects: list[str] = []
            found, dropped = _parse_full_list(value, found_defects, decode_words=True)
            cached = (tuple(found), dropped, tuple(found_defects))
        else:
            cached = _parse_comma_list(value)
        if len(value) <= _MAX_CACHED_LENGTH:
            if len(_PARSED) >= _CACHE_SIZE:
                _PARSED.clear()
            _PARSED[value] = cached
    if defects is not None and cached[2]:
        defects.extend(cached[2])
    return cached[0], cached[1]


# (addresses, dropped, defects) of one value or one item.
_Parsed = tuple[tuple[Address, ...], int, tuple[str, ...]]
# Value -> its parse; cleared when full, which keeps memory bounded and lookups cheap.
_PARSED: dict[str, _Parsed] = {}
# Item of a comma-separated list -> its parse (the same people recur across a mailbox).
_ITEMS: dict[str, _Parsed] = {}
_CACHE_SIZE = 10_000
# Longer values are parsed every time, so the caches stay small (at most a few tens of MB).
_MAX_CACHED_LENGTH = 2_000
# Without these, a comma always separates two entries and entries can be read one by one.
_GROUPING = re.compile(r'["(:;\\]')


def clear_caches() -> None:
    """Forget remembered parses (benchmarks use it to start cold; nothing else needs to)."""
    _PARSED.clear()
    _ITEMS.clear()


def _parse_comma_list(value: str) -> _Parsed:
    """A list in which every comma separates entries (no quotes, comments or groups), entry by entry."""
    found: list[Address] = []
    dropped = 0
    defects: list[str] = []
    for item in value.split(","):
        cached = _ITEMS.get(item)
        if cached is None:
            spec = item.strip()
            if not spec:
                continue
            cached = _parse_item(spec)
            if len(item) <= _MAX_CACHED_LENGTH:
                if len(_ITEMS) >= _CACHE_SIZE:
                    _ITEMS.clear()
                _ITEMS[item] = cached
        found.extend(cached[0])
        dropped += cached[1]
        defects.extend(cached[2])
    return tuple(found), dropped, tuple(defects)


def _parse_item(spec: str) -> _Parsed:
    """One entry of a comma-separated list: a bare addr-spec (most often) or one for the tokenizer."""
    if _SPECIALS.search(spec):
        item_defects: list[str] = []
        found, dropped = _parse_full_list(spec, item_defects, decode_words=True)
        return tuple(found), dropped, tuple(item_defects)
    name = ""
    if " " in spec or "\t" in spec:
        spec, name = _bare_spec([spec])
    address = normalise_address(spec)
    if address is None:
        return (), 1, ()
    return (Address(address, name[:MAX_NAME_LENGTH] or None),), 0, ()


class _Entry:
    """One mailbox being read: display-name words, the angle address, comments."""

    __slots__ = ("angle", "comments", "words")

    def __init__(self) -> None:
        self.words: list[str] = []
        self.angle: str | None = None
        self.comments: list[str] = []

    def empty(self) -> bool:
        return self.angle is None and not any(w.strip() for w in self.words)


def _parse_full_list(
    value: str, defects: list[str] | None, *, decode_words: bool
) -> tuple[list[Address], int]:
    found: list[Address] = []
    dropped = 0
    entry = _Entry()
    in_group = False

    def finish() -> None:
        nonlocal entry, dropped
        if not entry.empty():
            address, extra = _entry_to_addresses(entry, defects, decode_words=decode_words)
            found.extend(address)
            dropped += extra
        entry = _Entry()

    position = 0
    length = len(value)
    while position < length:
        match = _TOKEN.match(value, position)
        if match is None:  # cannot happen: every character starts some token; stop rather than loop
            break
        kind = match.lastgroup
        text = match.group()
        position = match.end()
        if kind == "quoted" and (len(text) < 2 or not text.endswith('"')):
            position = match.start() + 1  # an unclosed quote: read on as if the '"' were not there
        elif kind == "atom" or kind == "quoted":
            entry.words.append(text)
        elif kind == "angle":
            inner = text[1:-1] if text.endswith(">") else text[1:]
            if entry.angle is None:
                entry.angle = inner
            else:  # "<a@x> <b@y>": a second address without a separator
                finish()
                entry.angle = inner
        elif kind == "literal":
            entry.words.append(text)
        elif kind == "comment":
            comment, position = _read_comment(value, position)
            entry.comments.append(comment)
        elif kind == "sep":
            if text == ",":
                finish()
            elif text == ":":
                if entry.angle is None and not in_group:
                    in_group = True  # the words so far are the group's display name
                    entry = _Entry()
                else:
                    entry.words.append(text)
            else:  # ";" ends a group (or is junk between addresses)
                finish()
                in_group = False
        # stray closers are noise and dropped
    finish()
    return found, dropped


def _read_comment(value: str, position: int) -> tuple[str, int]:
    """The text of a (possibly nested) comment whose "(" ends before ``position``, and where it ends."""
    depth = 1
    start = position
    length = len(value)
    while position < length:
        char = value[position]
        if char == "\\":
            position += 2
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return value[start:position], position + 1
        position += 1
    return value[start:], length


def _unquote(word: str) -> str:
    if word.startswith('"'):
        word = word[1:-1] if len(word) > 1 and word.endswith('"') else word[1:]
        return _QUOTED_PAIR.sub(r"\1", word)
    return word


def _bare_spec(words: list[str]) -> tuple[str, str]:
    """The addr-spec and any leading name of an entry without angle brackets.

    Obsolete syntax allows blanks inside an addr-spec ("john . doe @ example.com"), so words are joined;
    but "John Smith john@example.com" (a name without brackets) keeps only the one word with the "@".
    """
    spec = "".join(words)
    if any(w.startswith('"') for w in words):
        return spec, ""
    tokens = spec.split()
    if len(tokens) < 2:
        return spec, ""
    with_at = [t for t in tokens if "@" in t]
    if len(with_at) != 1:
        return spec, ""
    chosen = with_at[0]
    if chosen[0] in "@." or chosen[-1] in "@." or any(t[0] == "." or t[-1] == "." for t in tokens):
        return spec, ""
    return chosen, " ".join(t for t in tokens if t is not chosen)


def _entry_to_addresses(
    entry: _Entry, defects: list[str] | None, *, decode_words: bool
) -> tuple[list[Address], int]:
    """The address of one finished entry (a list: an encoded-word entry may hold several), and drops."""
    if entry.angle is not None:
        spec = entry.angle
        if "(" in spec:  # obsolete syntax allows comments inside: <jdoe@machine(comment).example>
            spec = _INNER_COMMENT.sub("", spec)
        if spec.startswith("@") and ":" in spec:  # obsolete source route: <@relay:user@host>
            spec = spec.rsplit(":", 1)[1]
        name = " ".join(_unquote(w).strip() for w in entry.words if w.strip())
    else:
        spec, name = _bare_spec(entry.words)
        if decode_words and "@" not in spec and "=?" in spec:
            # Some senders encode the whole mailbox as encoded-words; read what they decode to.
            decoded = decode_encoded_words(spec, defects)
            return _parse_full_list(decoded, defects, decode_words=False)
    if not name and entry.comments:
        name = " ".join(c.strip() for c in entry.comments if c.strip())
    address = normalise_address(spec)
    if address is None:
        return [], 1
    if name:
        if decode_words:
            name = decode_encoded_words(name, defects)
        name = _WHITE.sub(" ", name).strip().strip("'").strip()[:MAX_NAME_LENGTH]
    return [Address(address, name or None)], 0
