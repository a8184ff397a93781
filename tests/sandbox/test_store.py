"""The tenant store: labels and folders agree, changes are logged, deliveries run over time, seeding reads
every container format, and the traffic generator is deterministic."""

from __future__ import annotations

import tarfile
from datetime import timedelta
from pathlib import Path

import pytest

from mailtrail.sandbox.clock import ManualClock
from mailtrail.sandbox.generator import TrafficGenerator, populate
from mailtrail.sandbox.seeding import SeedError, iter_raw_messages, seed_mailbox
from mailtrail.sandbox.store import HistoryExpired, Tenant, UnknownMessage

ANN, BO = "ann@company.example", "bo@company.example"


def _raw(subject: str, sender: str = "zoe@acme.example", to: str = ANN, extra: str = "") -> bytes:
    return f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n{extra}\r\nbody of {subject}\r\n".encode()


@pytest.fixture
def tenant() -> Tenant:
    tenant = Tenant(ManualClock(), history_horizon=timedelta(days=1))
    tenant.add_mailbox(ANN)
    tenant.add_mailbox(BO)
    return tenant


def test_one_message_to_several_mailboxes_with_the_right_labels(tenant: Tenant) -> None:
    stored = tenant.deliver(_raw("Hello", sender=ANN, to=f"{BO}, someone@else.example"))
    by_box = {m.mailbox: m for m in stored}
    assert set(by_box) == {ANN, BO}
    assert by_box[ANN].labels == {"SENT"}
    assert by_box[BO].labels == {"INBOX", "UNREAD"}
    assert tenant.mailbox(ANN).folder(by_box[ANN].folder_id).well_known_name == "sentitems"
    assert by_box[ANN].raw == by_box[BO].raw
    assert by_box[ANN].id != by_box[BO].id
    (to_self,) = tenant.deliver(_raw("Note to self", sender=ANN, to=ANN))
    assert to_self.labels == {"SENT", "INBOX", "UNREAD"}


def test_folders_and_labels_are_two_views_of_one_mailbox(tenant: Tenant) -> None:
    box = tenant.mailbox(BO)
    msg = tenant.deliver(_raw("Move me", to=BO))[0]
    customers = box.create_folder("Customers")
    acme = box.create_folder("Acme", customers.id)
    moved = box.move(msg.id, acme.id)
    assert "INBOX" not in moved.labels
    assert box.folder(moved.folder_id) == acme
    assert {lb.name for lb in box.labels() if lb.id in moved.labels} == {"Customers/Acme", "UNREAD"}
    trashed = box.move(msg.id, box.folder_by_name("deleteditems").id)
    assert "TRASH" in trashed.labels
    assert box.folder(trashed.folder_id).well_known_name == "deleteditems"
    spam = box.modify(msg.id, add=["SPAM"], remove=["TRASH"])
    assert box.folder(spam.folder_id).well_known_name == "junkemail"
    archived = box.modify(msg.id, remove=["SPAM"])
    assert box.folder(archived.folder_id).well_known_name == "archive"
    draft = box.save_draft(_raw("Draft", sender=BO, to="x@acme.example"))
    assert draft.is_draft
    assert box.folder(draft.folder_id).well_known_name == "drafts"


def test_change_log_listeners_and_horizon(tenant: Tenant) -> None:
    clock = tenant.clock
    assert isinstance(clock, ManualClock)
    box = tenant.mailbox(ANN)
    heard: list[tuple[str, str]] = []
    tenant.add_listener(lambda mb, changes: heard.extend((mb.address, c.kind) for c in changes))
    start = box.history_id
    msg = tenant.deliver(_raw("Log"))[0]
    box.modify(msg.id, add=["STARRED"], remove=["UNREAD"])
    box.delete(msg.id)
    kinds = [c.kind for c in box.changes_since(start)]
    assert kinds == ["messageAdded", "labelAdded", "labelRemoved", "messageDeleted"]
    assert heard == [(ANN, k) for k in kinds]
    ids = [c.history_id for c in box.changes_since(start)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    with pytest.raises(UnknownMessage):
        box.get(msg.id)
    clock.advance(hours=25)
    with pytest.raises(HistoryExpired):
        box.changes_since(start)
    assert box.changes_since(box.history_id) == []


def test_delivery_over_time_on_the_manual_clock(tenant: Tenant) -> None:
    clock = tenant.clock
    assert isinstance(clock, ManualClock)
    later = clock.now() + timedelta(minutes=30)
    assert tenant.deliver(_raw("Later"), at=later) == []
    assert len(tenant.mailbox(ANN)) == 0
    clock.advance(minutes=29)
    assert len(tenant.mailbox(ANN)) == 0
    clock.advance(minutes=1)
    (arrived,) = tenant.mailbox(ANN).messages()
    assert arrived.received_at == later


def test_threads_follow_references(tenant: Tenant) -> None:
    first = tenant.deliver(_raw("Question", extra="Message-ID: <q1@acme.example>\r\n"))[0]
    reply = tenant.deliver(
        _raw("Re: Question", extra="Message-ID: <q2@acme.example>\r\nIn-Reply-To: <q1@acme.example>\r\n")
    )[0]
    other = tenant.deliver(_raw("Unrelated"))[0]
    assert reply.thread_id == first.thread_id
    assert other.thread_id != first.thread_id


def test_seeding_from_mbox_maildir_tree_and_tarball(tmp_path: Path, tenant: Tenant) -> None:
    mbox = tmp_path / "box.mbox"
    separator = b"From zoe@acme.example Mon Jan  5 09:00:00 2026\n"
    one, two = (_raw(s).replace(b"\r\n", b"\n") for s in ("one", "two"))
    mbox.write_bytes(separator + one + b">From the start\n\n" + separator + two)
    assert [name for name, _ in iter_raw_messages(mbox)] == ["box.mbox#0", "box.mbox#1"]
    assert b"\nFrom the start" in next(iter_raw_messages(mbox))[1]
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "cur" / "1.eml").write_bytes(_raw("cur"))
    (maildir / "new" / "2.eml").write_bytes(_raw("new"))
    (maildir / "tmp" / "3.eml").write_bytes(_raw("half-written"))
    (maildir / ".DS_Store").write_bytes(b"junk")
    assert seed_mailbox(tenant.mailbox(ANN), maildir) == 2
    archive = tmp_path / "mail.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        tar.add(maildir, arcname="maildir/ann/inbox")
    assert seed_mailbox(tenant.mailbox(BO), archive, select=lambda name: "/new/" in name) == 1
    with pytest.raises(SeedError, match="not found"):
        list(iter_raw_messages(tmp_path / "missing"))


def test_seeding_the_corpus_tarball_streams_a_slice(corpora: Path) -> None:
    tenant = Tenant(ManualClock())
    box = tenant.add_mailbox("phillip.allen@enron.com")
    assert seed_mailbox(box, corpora / "enron-inbox.tar.xz", limit=300) == 300
    dated = [m for m in box.messages() if m.headers.date is not None]
    assert dated
    assert all(m.received_at == m.headers.date for m in dated)


def test_seeding_survives_malformed_messages(corpora: Path) -> None:
    tenant = Tenant(ManualClock())
    box = tenant.add_mailbox("x@company.example")
    count = seed_mailbox(box, corpora / "malformed")
    assert count == len(box) > 100


def test_generator_is_deterministic_and_plausible() -> None:
    team = [ANN, BO]

    def run(seed: int) -> list[bytes]:
        tenant = Tenant(ManualClock())
        for address in team:
            tenant.add_mailbox(address)
        populate(tenant, TrafficGenerator(team, seed=seed), tenant.clock.now() - timedelta(days=2), 25)
        return [m.raw for box in tenant for m in box.messages()]

    assert run(5) == run(5)
    assert run(5) != run(6)
    mails = list(TrafficGenerator(team, seed=5).generate(ManualClock().now(), 120))
    kinds = {m.kind for m in mails}
    assert kinds == {"customer", "internal", "newsletter", "draft", "spam", "personal"}
    replies = [m.raw for m in mails if b"In-Reply-To:" in m.raw]
    assert replies
    assert all(b"References:" in r for r in replies)
    assert any(b"\nCc:" in m.raw for m in mails)
    assert all(b".example" in m.raw for m in mails)
