"""The importer on real mail: a slice of the Enron corpus, straight from its tarball, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mailtrail.crm.accounts.service import load_accounts
from mailtrail.crm.workspaces.service import create_workspace, find_workspace
from mailtrail.db import transaction
from mailtrail.engagements.ingest import Ingest, ingest_all
from mailtrail.engagements.report import ImportSummary
from mailtrail.engagements.repository import EngagementRepository
from mailtrail.models import Engagement, EngagementAccount, EngagementSource, Person
from mailtrail.providers.files.reader import read_incoming

SLICE = 2_000
REASONS = {"ok", "duplicate", "internal", "unknown_sender", "unknown_recipients", "no_customer", "not_email"}


def import_slice(sessions: sessionmaker[Session], corpora: Path) -> ImportSummary:
    emails = islice(read_incoming([corpora / "enron-inbox.tar.xz"]), SLICE)
    with sessions() as session:
        return ingest_all(session, file_ingest(session), emails, batch_size=250, now=datetime.now(UTC))


def file_ingest(session: Session, address: str = "cs@ourco.example") -> Ingest:
    """An ingest for files imported as the mailbox ``address`` of the only workspace."""
    workspace = find_workspace(session)
    box = EngagementRepository(session, workspace.id).get_or_create_mailbox(
        address, "file", datetime.now(UTC)
    )
    return Ingest(workspace.id, box.id)


def table_counts(session: Session) -> dict[str, int]:
    return {
        t.__tablename__: session.scalar(select(func.count()).select_from(t)) or 0
        for t in (Engagement, EngagementAccount, EngagementSource, Person)
    }


def test_enron_as_a_customer_imports_and_reimports_cleanly(sessions, corpora: Path, tmp_path: Path) -> None:
    """With Enron as an account, its people are created from the mail; a second run changes nothing."""
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("name,domains,created_at\nEnron,enron.com,1990-01-01T00:00:00Z\n")
    with transaction(sessions) as session:
        workspace = create_workspace(session, "cs", ["ourco.example"])
        load_accounts(session, workspace.id, accounts)

    first = import_slice(sessions, corpora)
    assert first.total == SLICE
    assert {reason for _, reason in first.reasons} <= REASONS
    imported = first.count("imported")
    assert imported > SLICE // 2
    with sessions() as session:
        before = table_counts(session)
    assert before["engagements"] == imported
    assert before["people"] == first.people_created > 100
    # Every imported email shows on the Enron account (every created person's default account).
    assert before["engagement_accounts"] == imported

    second = import_slice(sessions, corpora)
    assert second.count("merged") == imported + first.count("merged")
    assert second.count("imported") == 0
    assert second.people_created == 0
    with sessions() as session:
        assert table_counts(session) == before
