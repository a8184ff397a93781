"""The CRM commands as a user runs them: output, exit codes, one-line errors, and what the database holds."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from mailtrail.cli import app
from mailtrail.crm.snapshot import load_snapshot
from mailtrail.crm.workspaces.service import find_workspace
from mailtrail.db import make_engine, session_factory
from mailtrail.rules.types import WorkspaceSnapshot

from .conftest import WriteCsv


class Cli:
    """Runs ``mailtrail`` against one database."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.runner = CliRunner(env={"MAILTRAIL_DATABASE_URL": db_url})

    def __call__(self, *args: str | Path, code: int = 0) -> Result:
        result = self.runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        if code:
            assert result.stderr.startswith("error: ")
            assert "Traceback" not in result.stderr + result.stdout
        return result

    def snapshot(self, workspace: str | None = None) -> WorkspaceSnapshot:
        engine = make_engine(self.db_url)
        try:
            with session_factory(engine)() as session:
                return load_snapshot(session, find_workspace(session, workspace).id)
        finally:
            engine.dispose()


@pytest.fixture
def cli(db_url: str) -> Cli:
    return Cli(db_url)


def test_init_then_every_command(cli: Cli, write_csv: WriteCsv) -> None:
    out = cli(
        "init", "--workspace", "acme-cs", "--company-domain", "OurCo.com", "--company-domain", "ourco.io"
    )
    assert "Created workspace 'acme-cs' (company domains: ourco.com, ourco.io)" in out.stdout

    out = cli("team", "add", "ann@ourco.com", "--alias", "ann.b@gmail.com", "--name", "Ann")
    assert out.stdout.strip() == "Added team member ann@ourco.com; aliases added: ann.b@gmail.com"
    out = cli("team", "add", "ann@ourco.com", "--alias", "ann.b@gmail.com", "--alias", "ann@ourco.de")
    assert "aliases added: ann@ourco.de; aliases already there: ann.b@gmail.com" in out.stdout
    assert "ann@ourco.com (Ann)  aliases: ann.b@gmail.com, ann@ourco.de" in cli("team", "list").stdout

    accounts = write_csv(
        "accounts.csv", "name,domains,created_at\nAcme,acme.com,2020-01-01\nGlobex,globex.com,"
    )
    assert "accounts created 2, updated 0, unchanged 0" in cli("accounts", "load", accounts).stdout
    assert "accounts created 0, updated 0, unchanged 2" in cli("accounts", "load", accounts).stdout
    people = write_csv(
        "people.csv",
        "external_id,name,emails,accounts,default_account,created_at\np1,Jane,jane@acme.com,Acme,Acme,2020-02-01",
    )
    assert "people created 1, updated 0, unchanged 0" in cli("people", "load", people).stdout

    out = cli("blacklist", "add", "*.Spam.com", "bad@guy.com", "--by", "ann@ourco.com")
    assert out.stdout.strip() == "Added to the blacklist: *.spam.com, bad@guy.com"
    assert "Already on the blacklist: bad@guy.com" in cli("blacklist", "add", "bad@guy.com").stdout
    listing = cli("blacklist", "list").stdout.splitlines()
    assert listing[0].startswith("*.spam.com\tadded ")
    assert listing[0].endswith(" by ann@ourco.com")
    assert "Removed from the blacklist: *.spam.com" in cli("blacklist", "remove", "*.spam.com").stdout
    out = cli("blacklist", "remove", "nope.com", code=1)
    assert "not on the blacklist: nope.com" in out.stderr

    assert cli("settings", "set", "visibility", "subject").stdout.strip() == "visibility = subject"
    assert cli("settings", "set", "company_domains", "ourco.com", "ourco.net").stdout.strip() == (
        "company_domains = ourco.com ourco.net"
    )
    assert cli("settings", "get", "visibility").stdout.strip() == "subject"
    assert "backfill_days = 0" in cli("settings", "get").stdout.splitlines()
    out = cli("settings", "set", "backfill_days", "--", "-3", code=1)
    assert out.stderr.strip() == (
        "error: setting 'backfill_days': -3 is negative (allowed: a whole number of days, 0 or more)"
    )
    cli("settings", "set", "visibility", "a", "b", code=1)

    snapshot = cli.snapshot()
    assert snapshot.company_domains == frozenset({"ourco.com", "ourco.net"})
    assert set(snapshot.team_addresses) == {"ann@ourco.com", "ann.b@gmail.com", "ann@ourco.de"}
    assert [ref.label for ref in snapshot.people_by_address["jane@acme.com"]] == ["p1"]
    assert snapshot.blacklist == frozenset({"bad@guy.com"})
    assert snapshot.settings.visibility == "subject"


def test_init_twice_and_a_second_workspace(cli: Cli) -> None:
    cli("init", "--workspace", "one", "--company-domain", "one.com")
    out = cli("init", "--workspace", "one")
    assert "Workspace 'one' already exists; nothing changed" in out.stdout
    out = cli("init", "--workspace", "one", "--company-domain", "other.com", code=1)
    assert "already exists with company domains one.com" in out.stderr

    cli("init", "--workspace", "two", "--company-domain", "two.com")
    out = cli("team", "add", "x@two.com", code=1)
    assert "there are 2 workspaces ('one', 'two'): choose one with --workspace NAME" in out.stderr
    cli("team", "add", "x@two.com", "--workspace", "two")
    cli("blacklist", "add", "spam.com", "-w", "one")
    assert cli.snapshot("two").team_addresses == {
        "x@two.com": cli.snapshot("two").team_addresses["x@two.com"]
    }
    assert cli.snapshot("one").team_addresses == {}
    assert cli.snapshot("two").blacklist == frozenset()
    out = cli("settings", "get", "--workspace", "three", code=1)
    assert "no workspace 'three' (workspaces: 'one', 'two')" in out.stderr


def test_a_bad_csv_prints_every_problem_and_changes_nothing(cli: Cli, write_csv: WriteCsv) -> None:
    cli("init", "--workspace", "acme-cs")
    bad = write_csv("bad.csv", "name,domains,created_at\nAcme,acme.com,2020-02-30\nAcme,globex.com,")
    out = cli("accounts", "load", bad, code=1)
    assert out.stderr.splitlines() == [
        f"error: {bad}: 2 problems, nothing was changed:",
        f"{bad}:2: field 'created_at': \"2020-02-30\" is not an ISO 8601 date or time "
        "(e.g. 2024-03-01 or 2024-03-01T09:30:00Z)",
        f"{bad}:3: field 'name': account 'Acme' is already on line 2",
    ]
    assert cli.snapshot().account_domains == {}
    out = cli("people", "load", bad.with_name("missing.csv"), code=1)
    assert "missing.csv: no such file" in out.stderr


def test_commands_before_init_say_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner(env={"MAILTRAIL_DATABASE_URL": None})
    result = runner.invoke(app, ["settings", "get"])
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == "error: no database at mailtrail.db: run `mailtrail init --workspace NAME` first"
    )
    assert not (tmp_path / "mailtrail.db").exists()

    # The default database is ./mailtrail.db, created by init.
    result = runner.invoke(app, ["init", "--workspace", "w"])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "mailtrail.db").is_file()
    assert runner.invoke(app, ["settings", "get", "visibility"]).stdout.strip() == "full"


def test_an_uninitialised_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    result = CliRunner(env={"MAILTRAIL_DATABASE_URL": f"sqlite:///{path}"}).invoke(app, ["team", "list"])
    assert result.exit_code == 1
    assert "is not initialised" in result.stderr
    assert "run `mailtrail init --workspace NAME` first" in result.stderr


def test_an_unreachable_database_is_named_in_one_line() -> None:
    # Nothing listens on this port: the connection is refused at once.
    runner = CliRunner(env={"MAILTRAIL_DATABASE_URL": "postgresql://ann:secret@127.0.0.1:9/crm"})
    for args in (["init", "--workspace", "w"], ["team", "list"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1
        assert result.stderr.startswith("error: cannot ")
        assert "postgresql+psycopg://ann:***@127.0.0.1:9/crm" in result.stderr
        assert "secret" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
