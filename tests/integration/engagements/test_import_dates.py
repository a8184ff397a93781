"""The Enron messages dated in the year 0001 and 0002: read as 2001 and 2002 (the contract's "Time"), so they
are decided at their real time instead of being skipped as from before every person existed."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from tests.integration.engagements.test_import_corpus import file_ingest

from mailtrail.crm.accounts.service import load_accounts
from mailtrail.crm.workspaces.service import create_workspace
from mailtrail.db import transaction
from mailtrail.engagements.ingest import ingest_all
from mailtrail.engagements.report import ReportLine
from mailtrail.mail.rfc822 import parse_message
from mailtrail.models import Engagement
from mailtrail.providers.files.reader import RawEmail, read_emails

LOW_YEAR = re.compile(rb"^Date: [^\n]* (000[12]) ", re.MULTILINE)


@pytest.fixture(scope="module")
def low_year_messages(corpora: Path) -> list[RawEmail]:
    """The Enron messages whose Date header is written with the year 0001 or 0002."""
    header_end = re.compile(rb"\r?\n\r?\n")
    found = []
    for raw in read_emails([corpora / "enron-inbox.tar.xz"]):
        end = header_end.search(raw.data)
        if LOW_YEAR.search(raw.data, 0, end.start() if end else len(raw.data)):
            found.append(raw)
    return found


def test_the_corpus_has_them_and_they_parse_to_2001_and_2002(low_year_messages: list[RawEmail]) -> None:
    assert len(low_year_messages) == 135
    for raw in low_year_messages:
        written = LOW_YEAR.search(raw.data)
        assert written is not None
        email = parse_message(raw.data)
        assert email.time is not None, raw.path
        assert email.time.year == 2000 + int(written[1]), raw.path


def test_they_are_imported_at_their_time(
    sessions: sessionmaker[Session], low_year_messages: list[RawEmail], tmp_path: Path
) -> None:
    """Enron and the companies that wrote to it became accounts in 2000: every one of these emails of 2001 and
    2002 is imported (read as the year 1 or 2, every sender would be unknown: no account existed then)."""
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(
        "name,domains,created_at\n"
        "Enron,enron.com,2000-01-01T00:00:00Z\n"
        "Concur,concureworkplace.com,2000-01-01T00:00:00Z\n"
        "DMX,dmx0.com,2000-01-01T00:00:00Z\n"
        "ADP,adp1.cbdr.com,2000-01-01T00:00:00Z\n"
    )
    with transaction(sessions) as session:
        workspace = create_workspace(session, "cs", ["ourco.example"])
        load_accounts(session, workspace.id, accounts)

    lines: list[ReportLine] = []
    with sessions() as session:
        ingest = file_ingest(session)
        emails = [raw.incoming() for raw in low_year_messages]
        ingest_all(session, ingest, emails, batch_size=50, now=datetime.now(UTC), on_batch=lines.extend)

    assert {(line.decision, line.reason) for line in lines} <= {("imported", "ok"), ("merged", "duplicate")}
    assert {line.time.year for line in lines} == {2001, 2002}
    with sessions() as session:
        years = set(session.scalars(select(Engagement.occurred_at)).all())
    assert {moment.year for moment in years} == {2001, 2002}
