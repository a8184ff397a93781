"""`mailtrail demo` (what `make demo` runs): the product live against the sandbox, both mailboxes connected
through the real OAuth flows, the past days imported, then new mail as it arrives."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

from mailtrail.cli import app
from mailtrail.db import make_engine, session_factory
from mailtrail.models import Engagement, EngagementSource, Mailbox


def test_the_demo_syncs_a_gmail_and_a_microsoft_mailbox_live_and_says_where_to_look(tmp_path: Path) -> None:
    output = tmp_path / "demo"
    args = ["demo", "--output", str(output), "--port", "0", "--every", "0.3", "--seconds", "8"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "on Gmail" in result.output
    assert "on Microsoft 365" in result.output
    assert "mailbox status" in result.output
    engine = make_engine(f"sqlite:///{output / 'mailtrail.db'}")
    try:
        with session_factory(engine)() as session:
            boxes = {box.provider: box for box in session.scalars(select(Mailbox))}
            assert set(boxes) == {"gmail", "microsoft"}
            assert {box.status for box in boxes.values()} <= {"active", "syncing"}
            # Mail received after the connection came in live, not only the backfilled past.
            live = session.scalar(
                select(func.count())
                .select_from(Engagement)
                .where(Engagement.occurred_at >= boxes["gmail"].connected_at)
            )
            assert live
            # A customer who wrote to both mailboxes is one engagement with two sources.
            shared = select(EngagementSource.engagement_id).group_by(EngagementSource.engagement_id)
            assert session.scalar(
                select(func.count()).select_from(shared.having(func.count() > 1).subquery())
            )
    finally:
        engine.dispose()
