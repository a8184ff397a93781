"""Every change the import rules read moves the workspace's rules version, so running syncs reload the rules
for their next batch (the ingest service compares it before each batch)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from mailtrail.crm.accounts.service import load_accounts
from mailtrail.crm.blacklist.service import add_entries, remove_entries
from mailtrail.crm.people.service import load_people
from mailtrail.crm.team.service import add_member
from mailtrail.crm.workspaces.repository import WorkspaceRepository
from mailtrail.crm.workspaces.service import set_setting
from mailtrail.engagements.ingest import Ingest
from mailtrail.engagements.repository import EngagementRepository
from mailtrail.engagements.service import delete_engagement
from mailtrail.mail.rfc822 import parse_message
from mailtrail.models import Workspace, utcnow
from mailtrail.providers.base import IncomingEmail


def _csv(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _delete_an_engagement(session: Session, workspace: Workspace, _: Path) -> None:
    raw = b"Message-ID: <x@acme.com>\r\nFrom: a@acme.com\r\nTo: dan@ourco.com\r\n\r\nhi"
    box = EngagementRepository(session, workspace.id).get_or_create_mailbox("dan@ourco.com", "file", utcnow())
    ingest = Ingest(workspace.id, box.id)
    ingest.write(session, ingest.decide(session, [IncomingEmail("x", parse_message(raw), raw)], utcnow()))
    delete_engagement(session, workspace.id, "x@acme.com", deleted_by=None)


CHANGES: dict[str, Callable[[Session, Workspace, Path], object]] = {
    "blacklist add": lambda s, w, _: add_entries(s, w.id, ["x@acme.com"], added_by=None),
    "blacklist remove": lambda s, w, _: remove_entries(s, w.id, ["bob@acme.com"]),
    "team": lambda s, w, _: add_member(s, w.id, "eve@ourco.com"),
    "accounts": lambda s, w, p: load_accounts(s, w.id, _csv(p, "a.csv", "name,domains\nGlobex,globex.com\n")),
    "people": lambda s, w, p: load_people(s, w.id, _csv(p, "p.csv", "external_id,emails\nc1,jo@acme.com\n")),
    "setting": lambda s, w, _: set_setting(s, w, "ignore_subaddress", "true"),
    "deleted engagement": _delete_an_engagement,
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_change_moves_the_rules_version(
    session: Session, workspace: Workspace, tmp_path: Path, change: str
):
    add_entries(session, workspace.id, ["bob@acme.com"], added_by=None)
    load_accounts(session, workspace.id, _csv(tmp_path, "acme.csv", "name,domains\nAcme,acme.com\n"))
    repository = WorkspaceRepository(session)
    before = repository.rules_version(workspace.id)
    assert before is not None
    CHANGES[change](session, workspace, tmp_path)
    after = repository.rules_version(workspace.id)
    assert after is not None
    assert after > before
