"""Reading raw emails from an mbox, a Maildir, a directory tree and single files."""

import tarfile
from pathlib import Path

import pytest

from mailtrail.providers.files.reader import SourceError, check_paths, count_files, ignored_files, read_emails

ONE = b"From: a@acme.com\nTo: b@ourco.com\nSubject: one\n\nbody one\n"
TWO = b"From: c@acme.com\nTo: d@ourco.com\nSubject: two\n\nFrom the start of a line\n"


def test_mbox_is_split_into_its_messages_with_their_index(tmp_path: Path) -> None:
    mbox = tmp_path / "box.mbox"
    quoted = TWO.replace(b"\nFrom the", b"\n>From the")
    mbox.write_bytes(b"From a@acme.com Mon Jan  1 00:00:00 2024\n" + ONE + b"\nFrom x Tue\n" + quoted + b"\n")
    emails = list(read_emails([mbox]))
    assert [e.index for e in emails] == [0, 1]
    assert emails[0].data == ONE
    # mboxrd quoting is undone, so the body is the one that was sent.
    assert emails[1].data == TWO
    assert emails[1].incoming().provider_id == f"{mbox}#1"
    assert count_files([mbox]) is None


def test_directory_tree_is_read_recursively_in_numeric_order_skipping_hidden_files(tmp_path: Path) -> None:
    inbox = tmp_path / "owner" / "inbox"
    inbox.mkdir(parents=True)
    for name in ("10", "2", "1"):
        (inbox / name).write_bytes(ONE)
    (inbox / ".DS_Store").write_bytes(b"\0\0junk")
    emails = list(read_emails([tmp_path]))
    assert [Path(e.path).name for e in emails] == ["1", "2", "10"]
    assert all(e.index is None for e in emails)
    assert count_files([tmp_path]) == 3


def test_maildir_reads_cur_and_new_only(tmp_path: Path) -> None:
    for sub in ("cur", "new", "tmp"):
        (tmp_path / sub).mkdir()
    (tmp_path / "cur" / "1.host:2,S").write_bytes(ONE)
    (tmp_path / "new" / "2.host").write_bytes(TWO)
    (tmp_path / "tmp" / "3.host").write_bytes(b"half-delivered")
    assert sorted(e.data for e in read_emails([tmp_path])) == sorted([ONE, TWO])


def test_a_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"nothere\.mbox: no such file or directory"):
        check_paths([tmp_path / "nothere.mbox"])


def test_data_files_beside_mail_are_not_read_but_are_listed(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "1").write_bytes(ONE)
    (tmp_path / "labels.csv").write_text("filename,category\n1,work\n")
    (tmp_path / "1.json").write_text("{}")
    (tmp_path / ".git").mkdir()
    assert [Path(e.path).name for e in read_emails([tmp_path])] == ["1"]
    assert sorted(p.name for p in ignored_files([tmp_path])) == [".git", "1.json", "labels.csv"]
    # A data file named on its own is still decided (as not_email if it has no header block).
    assert len(list(read_emails([tmp_path / "labels.csv"]))) == 1


def test_a_tar_archive_is_streamed_member_by_member(tmp_path: Path) -> None:
    tree = tmp_path / "tree" / "inbox"
    tree.mkdir(parents=True)
    (tree / "1").write_bytes(ONE)
    (tree / "2").write_bytes(TWO)
    (tree / "labels.csv").write_text("filename,category\n")
    archive = tmp_path / "mail.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        tar.add(tmp_path / "tree", arcname="maildir")
    emails = list(read_emails([archive]))
    assert sorted(e.path for e in emails) == [f"{archive}/maildir/inbox/1", f"{archive}/maildir/inbox/2"]
    assert sorted(e.data for e in emails) == sorted([ONE, TWO])
    assert count_files([archive]) is None


def test_a_broken_archive_is_a_clear_error(tmp_path: Path) -> None:
    archive = tmp_path / "broken.tar.gz"
    archive.write_bytes(b"\x1f\x8b this is not gzip")
    with pytest.raises(SourceError, match=r"broken\.tar\.gz: not a readable tar archive"):
        list(read_emails([archive]))
