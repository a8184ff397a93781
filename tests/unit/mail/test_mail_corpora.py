"""The shared corpora through the parser: every malformed file and every Enron message, none raising."""

from __future__ import annotations

import tarfile
from collections import Counter
from pathlib import Path

from mailtrail.mail.keys import FALLBACK_PREFIX
from mailtrail.mail.parsed import Address
from mailtrail.mail.rfc822 import extract_bodies, parse_message

ENRON_MESSAGES = 44_755


def test_every_malformed_file_parses_and_gives_bodies(corpora: Path) -> None:
    files = sorted(p for p in (corpora / "malformed").rglob("*") if p.is_file())
    trees = {p.relative_to(corpora / "malformed").parts[0] for p in files}
    assert trees == {"stalwart", "mikel", "flanker"}
    assert len(files) > 230
    failures = []
    for path in files:
        raw = path.read_bytes()
        email = parse_message(raw)
        if not email.key or any(d.startswith("parser error") for d in email.defects):
            failures.append(f"{path.relative_to(corpora)}: {email.defects}")
        text, html = extract_bodies(raw)
        for body in (text, html):
            if body is not None and "\x00" in body:
                failures.append(f"{path.relative_to(corpora)}: NUL in body")
    assert failures == []


def test_malformed_cases_read_as_a_user_would_expect(corpora: Path) -> None:
    mikel = corpora / "malformed" / "mikel"
    flanker = corpora / "malformed" / "flanker"

    empty_group = parse_message((mikel / "error_emails" / "empty_group_lists.eml").read_bytes())
    assert empty_group.sender == Address("ceciledwards@sbcglobal.net", "Cecil Edwards")
    assert empty_group.to == ()
    assert empty_group.dropped_addresses == 0

    groups = parse_message((mikel / "rfc2822" / "example04.eml").read_bytes())
    assert [a.address for a in groups.to] == ["c@a.test", "joe@where.test", "jdoe@one.test"]
    assert groups.cc == ()

    utf8 = parse_message((mikel / "rfc6532" / "utf8_headers.eml").read_bytes())
    assert utf8.sender == Address("jdöe@mächine.example", "Jöhn Doe")
    assert utf8.subject == "Säying Hello"

    # Fixtures that start with a line of spaces are still emails.
    iphone = parse_message((flanker / "iphone.eml").read_bytes())
    assert not iphone.flags.not_email
    assert iphone.sender is not None

    text, _ = extract_bodies((flanker / "enclosed-endless.eml").read_bytes())
    assert text is not None
    assert text.startswith("Hello")


def _enron_messages(corpora: Path):  # type: ignore[no-untyped-def]
    """(path, raw bytes) of every Enron message, streamed from the tarball without extracting it."""
    with tarfile.open(corpora / "enron-inbox.tar.xz", mode="r|xz") as archive:
        for member in archive:
            name = member.name.rsplit("/", 1)[-1]
            if not member.isfile() or name == ".DS_Store" or name.endswith(".csv"):
                continue
            handle = archive.extractfile(member)
            if handle is not None:
                yield member.name, handle.read()


def test_every_enron_message_parses(corpora: Path) -> None:
    counts: Counter[str] = Counter()
    participants: set[str] = set()
    failures: list[str] = []
    for name, raw in _enron_messages(corpora):
        email = parse_message(raw)
        counts["messages"] += 1
        counts["sender"] += email.sender is not None
        counts["message-id key"] += not email.key.startswith(FALLBACK_PREFIX)
        counts["time"] += email.time is not None
        counts["not email"] += email.flags.not_email
        counts["recipients"] += bool(email.recipients())
        if any(d.startswith("parser error") for d in email.defects) or len(email.key) > 512:
            failures.append(f"{name}: {email.defects}")
        if email.sender is not None:
            participants.add(email.sender.address)
        participants.update(a.address for _, a in email.recipients())
    assert failures == []
    assert counts["messages"] == ENRON_MESSAGES
    # Measured on this corpus: 2 messages have no usable sender, 1,152 have no Message-ID, 1 has no Date.
    assert counts["sender"] >= ENRON_MESSAGES - 5
    assert counts["message-id key"] >= ENRON_MESSAGES - 1_200
    assert counts["time"] >= ENRON_MESSAGES - 5
    assert counts["not email"] == 0
    # 4,480 messages have no To, Cc or Bcc header and 1,137 are addressed only to their sender.
    assert counts["recipients"] >= ENRON_MESSAGES - 4_480 - 1_137 - 10
    assert {"k..allen@enron.com", "pete.davis@enron.com", 'a".\'"fishkin@enron.com'} <= participants
    assert all(len(a) <= 320 and a == a.lower() for a in participants)
