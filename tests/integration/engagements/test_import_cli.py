"""`mailtrail import` and `mailtrail explain` end to end, on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from mailtrail.cli import app
from mailtrail.db import transaction
from mailtrail.engagements.service import delete_engagement
from mailtrail.models import (
    Engagement,
    EngagementAccount,
    EngagementPerson,
    EngagementSource,
    Participant,
    Person,
    Workspace,
)

MAILBOX = "cara@ourco.com"


def email(
    sender: str, to: str, subject: str, *, msgid: str | None, date: str = "Tue, 05 Mar 2024 10:00:00 +0000",
    cc: str | None = None, html: str | None = None,
) -> bytes:  # fmt: skip
    head = [f"From: {sender}", f"To: {to}", f"Subject: {subject}", f"Date: {date}"]
    if cc:
        head.append(f"Cc: {cc}")
    if msgid:
        head.append(f"Message-ID: <{msgid}>")
    if html:
        head += ["MIME-Version: 1.0", "Content-Type: text/html; charset=utf-8"]
        return ("\r\n".join(head) + "\r\n\r\n" + html).encode()
    return ("\r\n".join(head) + "\r\n\r\nHello, this is about our contract.\r\n").encode()


@pytest.fixture
def cli(db_url: str):
    runner = CliRunner()

    def run(*args: str, ok: bool = True):
        result = runner.invoke(app, list(args), env={"MAILTRAIL_DATABASE_URL": db_url})
        if ok:
            assert result.exit_code == 0, result.output + str(result.exception)
        return result

    return run


@pytest.fixture
def workspace(cli, tmp_path: Path) -> Path:
    """A workspace with two accounts, three people, a team, a blacklist; returns a folder of emails."""
    cli("init", "--workspace", "acme-cs", "--company-domain", "ourco.com")
    cli("team", "add", "dan@ourco.com", "--alias", "dan@ourco-mail.net")
    (tmp_path / "accounts.csv").write_text(
        "name,domains,created_at\nAcme,acme.com;acme.io,2020-01-01T00:00:00Z\nGlobex,globex.com,2024-06-01\n"
    )
    (tmp_path / "people.csv").write_text(
        "external_id,name,emails,accounts,default_account,created_at\n"
        "p-john,John Doe,john@acme.com,Acme;Globex,Globex,2021-01-01T00:00:00Z\n"
        "p-jane,Jane Roe,jane@acme.com,Acme,,2021-01-01T00:00:00Z\n"
        "p-jane2,Jane R. (duplicate record),jane@acme.com,Acme,,2021-01-01T00:00:00Z\n"
        "p-late,Late Larry,larry@initech.com,,,2030-01-01T00:00:00Z\n"
    )
    cli("accounts", "load", str(tmp_path / "accounts.csv"))
    cli("people", "load", str(tmp_path / "people.csv"))
    cli("blacklist", "add", "*.spam.example", "ceo@acme.com")
    mails = tmp_path / "mail"
    mails.mkdir()
    cases = {
        "1-person": email("John Doe <john@acme.com>", MAILBOX, "Renewal", msgid="m1@acme.com"),
        "2-creates": email("New Person <new@acme.io>", MAILBOX, "Hi", msgid="m2@acme.io"),
        "3-internal": email("dan@ourco.com", MAILBOX, "Lunch", msgid="m3@ourco.com"),
        "4-unknown": email("someone@amazon.ca", MAILBOX, "Offer", msgid="m4@amazon.ca"),
        "5-blacklisted": email(
            MAILBOX, "john@acme.com", "Re", msgid="m5@ourco.com", cc="x@mail.spam.example"
        ),
        "6-jane": email(MAILBOX, "jane@acme.com", "Two records", msgid="m6@ourco.com"),
        "7-late": email("larry@initech.com", MAILBOX, "Too early", msgid="m7@initech.com"),
        "8-no-id": email("new@acme.io", MAILBOX, "No id", msgid=None),
        "9-copy-of-1": email("John Doe <john@acme.com>", MAILBOX, "Renewal", msgid="m1@acme.com"),
    }
    for name, data in cases.items():
        (mails / name).write_bytes(data)
    return mails


def report_of(path: Path) -> dict[str, dict]:
    return {Path(line["source"]).name: line for line in map(json.loads, path.read_text().splitlines())}


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.__tablename__: conn.scalar(select(func.count()).select_from(t))
            for t in (Engagement, Participant, EngagementPerson, EngagementAccount, EngagementSource, Person)
        }


def test_import_decides_every_email_and_links_people_and_accounts(
    cli, workspace: Path, tmp_path: Path
) -> None:
    report = tmp_path / "report.jsonl"
    result = cli("import", str(workspace), "--mailbox", MAILBOX, "--report", str(report))
    lines = report_of(report)
    assert len(lines) == 9
    assert {n: (line["decision"], line["reason"]) for n, line in lines.items()} == {
        "1-person": ("imported", "ok"),
        "2-creates": ("imported", "ok"),
        "3-internal": ("skipped", "internal"),
        "4-unknown": ("skipped", "unknown_sender"),
        "5-blacklisted": ("skipped", "blacklisted"),
        "6-jane": ("imported", "ok"),
        "7-late": ("skipped", "unknown_sender"),
        "8-no-id": ("imported", "ok"),
        "9-copy-of-1": ("merged", "duplicate"),
    }
    # John's engagement shows on his default account only; both Janes are linked.
    assert lines["1-person"]["people"] == ["p-john"]
    assert lines["1-person"]["accounts"] == ["Globex"]
    assert lines["6-jane"]["people"] == ["p-jane", "p-jane2"]
    assert lines["6-jane"]["accounts"] == ["Acme"]
    # A creatable address gets a person once; the later email links to that same person.
    assert lines["2-creates"]["created"] == ["new@acme.io"]
    assert lines["2-creates"]["people"] == ["new:new@acme.io"]
    assert lines["8-no-id"]["created"] == []
    assert lines["8-no-id"]["people"] == ["new:new@acme.io"]
    assert lines["8-no-id"]["key"].startswith("sha256:")
    assert lines["1-person"]["time"] == "2024-03-05T10:00:00+00:00"
    assert "skipped" in result.output
    assert "unknown_sender" in result.output


def test_reimport_changes_nothing(cli, workspace: Path, tmp_path: Path, engine) -> None:
    cli("import", str(workspace), "--mailbox", MAILBOX, "--report", str(tmp_path / "first.jsonl"))
    before = counts(engine)
    cli("import", str(workspace), "--mailbox", MAILBOX, "--report", str(tmp_path / "second.jsonl"))
    assert counts(engine) == before
    first, second = report_of(tmp_path / "first.jsonl"), report_of(tmp_path / "second.jsonl")
    for name, line in first.items():
        if line["decision"] == "skipped":
            assert (second[name]["decision"], second[name]["reason"]) == ("skipped", line["reason"])
        else:
            assert (second[name]["decision"], second[name]["reason"]) == ("merged", "duplicate")


def test_dry_run_writes_nothing_but_decides_as_the_real_import(cli, workspace: Path, tmp_path: Path, engine):
    before = counts(engine)
    cli("import", str(workspace), "--mailbox", MAILBOX, "--dry-run", "--report", str(tmp_path / "dry.jsonl"))
    assert counts(engine) == before
    cli("import", str(workspace), "--mailbox", MAILBOX, "--report", str(tmp_path / "real.jsonl"))
    assert report_of(tmp_path / "dry.jsonl") == report_of(tmp_path / "real.jsonl")


def test_a_second_mailbox_adds_a_source_and_nothing_else(
    cli, workspace: Path, tmp_path: Path, engine
) -> None:
    cli("import", str(workspace / "1-person"), "--mailbox", MAILBOX)
    before = counts(engine)
    cli("import", str(workspace / "1-person"), "--mailbox", "dan@ourco.com", "--report", str(tmp_path / "r"))
    assert report_of(tmp_path / "r")["1-person"]["decision"] == "merged"
    after = counts(engine)
    assert after.pop("engagement_sources") == before.pop("engagement_sources") + 1
    assert after == before


def test_order_of_files_does_not_change_the_outcome(cli, workspace: Path, tmp_path: Path) -> None:
    cli("import", str(workspace), "--mailbox", MAILBOX, "--dry-run", "--report", str(tmp_path / "fwd.jsonl"))
    files = sorted(workspace.iterdir(), reverse=True)
    cli(
        "import", *map(str, files), "--mailbox", MAILBOX, "--dry-run", "--report", str(tmp_path / "rev.jsonl")
    )
    forward, backward = report_of(tmp_path / "fwd.jsonl"), report_of(tmp_path / "rev.jsonl")
    # The one difference allowed: which copy of a duplicated message counts as the import.
    for name in ("1-person", "9-copy-of-1"):
        forward.pop(name), backward.pop(name)
    for lines in (forward, backward):
        for line in lines.values():
            line.pop("created", None)
    assert forward == backward


def test_a_deleted_engagement_is_not_imported_again(cli, workspace: Path, tmp_path: Path, sessions) -> None:
    cli("import", str(workspace / "1-person"), "--mailbox", MAILBOX)
    with transaction(sessions) as session:
        ws = session.scalars(select(Workspace)).one()
        delete_engagement(session, ws.id, "m1@acme.com", deleted_by=MAILBOX)
    cli("import", str(workspace / "1-person"), "--mailbox", MAILBOX, "--report", str(tmp_path / "r"))
    assert report_of(tmp_path / "r")["1-person"]["reason"] == "deleted"


def test_visibility_decides_what_is_stored(cli, workspace: Path, tmp_path: Path, session) -> None:
    html = '<p onclick="steal()">Hello <b>there</b></p><script>alert(1)</script>'
    (workspace / "10-html").write_bytes(
        email("john@acme.com", MAILBOX, "Styled", msgid="m10@acme.com", html=html)
    )
    cli("settings", "set", "visibility", "metadata")
    cli("import", str(workspace / "1-person"), "--mailbox", MAILBOX)
    cli("settings", "set", "visibility", "full")
    cli("import", str(workspace / "10-html"), "--mailbox", MAILBOX)
    hidden = session.scalars(select(Engagement).where(Engagement.message_key == "m1@acme.com")).one()
    assert (hidden.subject, hidden.snippet, hidden.text_body, hidden.html_body) == (None, None, None, None)
    full = session.scalars(select(Engagement).where(Engagement.message_key == "m10@acme.com")).one()
    assert full.subject == "Styled"
    assert "there" in full.snippet
    assert "<b>there</b>" in full.html_body
    assert "script" not in full.html_body
    assert "onclick" not in full.html_body


def test_explain_says_why_for_every_participant(cli, workspace: Path) -> None:
    result = cli("explain", str(workspace / "5-blacklisted"), "--mailbox", MAILBOX, "--json")
    body = json.loads(result.output)
    assert (body["decision"], body["reason"]) == ("skipped", "blacklisted")
    classes = {p["address"]: (p["class"], p["why"]) for p in body["participants"]}
    assert classes["x@mail.spam.example"][0] == "blacklisted"
    assert "*.spam.example" in classes["x@mail.spam.example"][1]
    assert classes["john@acme.com"][0] == "person"
    assert classes[MAILBOX][0] == "internal"


def test_explain_at_a_later_time_sees_the_person_created_then(cli, workspace: Path) -> None:
    early = json.loads(cli("explain", str(workspace / "7-late"), "--mailbox", MAILBOX, "--json").output)
    late = json.loads(
        cli("explain", str(workspace / "7-late"), "--mailbox", MAILBOX, "--at", "2031-01-01", "--json").output
    )
    assert early["reason"] == "unknown_sender"
    assert (late["decision"], late["people"]) == ("imported", ["p-late"])


def test_bad_paths_and_mailboxes_are_clear_errors(cli, workspace: Path, tmp_path: Path) -> None:
    missing = cli("import", str(tmp_path / "nope"), "--mailbox", MAILBOX, ok=False)
    assert missing.exit_code == 1
    assert "nope: no such file or directory" in missing.output
    nowhere = cli(
        "import", str(workspace), "--mailbox", MAILBOX, "--report", str(tmp_path / "no" / "r"), ok=False
    )
    assert nowhere.exit_code == 1
    assert "the directory" in nowhere.output
    bad = cli("import", str(workspace), "--mailbox", "not-an-address", ok=False)
    assert bad.exit_code == 1
    assert "--mailbox 'not-an-address' is not an email address" in bad.output


def test_a_corpus_mailbox_gets_one_decision_per_message(cli, workspace: Path, corpora: Path, tmp_path: Path):
    """Malformed real-world messages never stop an import: each gets a line."""
    folder = corpora / "malformed"
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix not in {".json", ".csv"}]
    report = tmp_path / "r.jsonl"
    cli("import", str(folder), "--mailbox", MAILBOX, "--report", str(report))
    lines = report.read_text().splitlines()
    assert len(lines) >= len(files)
    assert all(json.loads(line)["decision"] in {"imported", "merged", "skipped"} for line in lines)


def test_workspaces_never_share_engagements_or_people(cli, workspace: Path, tmp_path: Path, session) -> None:
    """The same email imported into two workspaces is an engagement in each; neither sees the other's rows."""
    cli("init", "--workspace", "other", "--company-domain", "ourco.com")
    cli("accounts", "load", str(tmp_path / "accounts.csv"), "--workspace", "other")
    cli("import", str(workspace / "2-creates"), "--mailbox", MAILBOX, "--workspace", "acme-cs")
    report = tmp_path / "other.jsonl"
    cli(
        "import",
        str(workspace / "2-creates"),
        "--mailbox",
        MAILBOX,
        "--workspace",
        "other",
        "--report",
        str(report),
    )
    line = report_of(report)["2-creates"]
    # Not merged into the first workspace's engagement, and its own person is created.
    assert (line["decision"], line["created"]) == ("imported", ["new@acme.io"])
    per_workspace = dict(
        session.execute(
            select(Workspace.name, func.count(Engagement.id))
            .join(Engagement, Engagement.workspace_id == Workspace.id)
            .group_by(Workspace.name)
        ).all()
    )
    assert per_workspace == {"acme-cs": 1, "other": 1}
    people = session.execute(
        select(Workspace.name, func.count(Person.id))
        .join(Person, Person.workspace_id == Workspace.id)
        .where(Person.source == "email")
        .group_by(Workspace.name)
    ).all()
    assert dict(people) == {"acme-cs": 1, "other": 1}
