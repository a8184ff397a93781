"""The `mailtrail users` and `mailtrail tokens` commands as an admin runs them, and what they allow over HTTP:
the first admin made on the command line signs in; a token made there works until it is revoked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.served import AppWorld, serve_world
from typer.testing import CliRunner, Result

from mailtrail.cli import app

PASSWORD = "a long enough password"


class Cli:
    """Runs ``mailtrail`` against one database."""

    def __init__(self, db_url: str) -> None:
        self.runner = CliRunner(env={"MAILTRAIL_DATABASE_URL": db_url})

    def __call__(self, *args: str | Path, code: int = 0, input: str | None = None) -> Result:
        result = self.runner.invoke(app, [str(a) for a in args], input=input)
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        if code:
            assert result.stderr.startswith("error: "), result.stderr
            assert "Traceback" not in result.stderr + result.stdout
        return result


@pytest.fixture
def fresh(db_url: str) -> Iterator[tuple[Cli, AppWorld]]:
    """The CLI and the served app on one database that holds nothing yet."""
    for world in serve_world(db_url, populate=False):
        yield Cli(db_url), world


def test_the_first_admin_is_made_on_the_command_line_then_signs_in(fresh: tuple[Cli, AppWorld]) -> None:
    cli, world = fresh
    cli("init", "--workspace", "acme-cs", "--company-domain", "ourco.com")
    assert "has no users yet" in cli("users", "list").stdout

    added = cli(
        "users", "add", "Ada@OurCo.com", "--admin", "--name", "Ada Lovelace", input=f"{PASSWORD}\n" * 2
    )
    assert added.stdout.strip().endswith("Added admin ada@ourco.com to workspace acme-cs (with a password)")
    assert PASSWORD not in added.stdout
    listed = cli("users", "list").stdout
    assert "ada@ourco.com (Ada Lovelace)  admin  password  last sign-in never" in listed

    with world.client() as http:
        signed = world.sign_in(http, "ada@ourco.com", PASSWORD)
        assert signed.status_code == 201
        assert signed.json()["role"] == "admin"
        assert signed.json()["workspace"]["name"] == "acme-cs"
        assert signed.json()["user"]["name"] == "Ada Lovelace"
    assert "last sign-in 2026-03-02 09:00 UTC" in cli("users", "list").stdout


def test_users_commands_and_their_errors(fresh: tuple[Cli, AppWorld], tmp_path: Path) -> None:
    cli, world = fresh
    cli("init", "--workspace", "acme-cs", "--company-domain", "ourco.com")
    secret = tmp_path / "password.txt"
    secret.write_text(PASSWORD + "\n")
    cli("users", "add", "ada@ourco.com", "--admin", "--password-file", secret)
    member = cli("users", "add", "max@ourco.com", "--no-password")
    assert "Added member max@ourco.com to workspace acme-cs (signing in with Google or Microsoft only)" in (
        member.stdout
    )
    assert "max@ourco.com  member  Google/Microsoft" in cli("users", "list").stdout

    twice = cli("users", "add", "ada@ourco.com", "--password-file", secret, code=1)
    assert twice.stderr.strip() == "error: ada@ourco.com is already a user of this workspace"
    short = cli("users", "add", "bo@ourco.com", input="short\nshort\n", code=1)
    assert short.stderr.strip() == "error: a password needs at least 10 characters"
    missing = cli("users", "add", "bo@ourco.com", "--password-file", tmp_path / "nope.txt", code=1)
    assert "cannot read the password file" in missing.stderr
    assert "error: not an email address" in cli("users", "add", "bo", "--no-password", code=1).stderr

    last = cli("users", "role", "ada@ourco.com", "member", code=1)
    assert last.stderr.strip() == (
        "error: ada@ourco.com is the last admin of the workspace and cannot be made a member: make another "
        "user an admin first"
    )
    assert "cannot be disabled" in cli("users", "disable", "ada@ourco.com", code=1).stderr
    assert cli("users", "role", "max@ourco.com", "admin").stdout.strip() == "max@ourco.com is now an admin"
    assert "is disabled" in cli("users", "disable", "ada@ourco.com").stdout
    assert "DISABLED" in cli("users", "list").stdout
    with world.client() as http:
        assert world.sign_in(http, "ada@ourco.com", PASSWORD).status_code == 403
    cli("users", "enable", "ada@ourco.com")
    cli("users", "set-password", "ada@ourco.com", input="another long password\n" * 2)
    with world.client() as http:
        assert world.sign_in(http, "ada@ourco.com", PASSWORD).status_code == 401
        assert world.sign_in(http, "ada@ourco.com", "another long password").status_code == 201
    assert "no@ourco.com is not a user" in cli("users", "disable", "no@ourco.com", code=1).stderr
    assert '"boss" is not a role' in cli("users", "role", "max@ourco.com", "boss", code=1).stderr


def test_a_token_made_on_the_command_line_works_until_revoked(fresh: tuple[Cli, AppWorld]) -> None:
    cli, world = fresh
    cli("init", "--workspace", "acme-cs", "--company-domain", "ourco.com")
    made = cli("tokens", "create", "Salesforce sync").stdout
    token = re.search(r"^(mt_[0-9a-f]{8}_\S+)$", made, re.MULTILINE)
    assert token is not None
    assert "shown only this once" in made
    prefix = token[1][:11]
    listed = cli("tokens", "list").stdout
    assert f"{prefix}  Salesforce sync  member" in listed
    assert "last used never  active" in listed
    assert token[1] not in listed

    with world.client(headers={"Authorization": f"Bearer {token[1]}"}) as http:
        me = http.get("/api/v1/me")
        assert me.status_code == 200
        assert me.json()["workspace"]["name"] == "acme-cs"
        assert "last used 2026-03-02 09:00 UTC" in cli("tokens", "list").stdout

        assert (
            cli("tokens", "revoke", prefix).stdout.strip() == f"Revoked API token {prefix} (Salesforce sync)"
        )
        assert http.get("/api/v1/me").status_code == 401
    assert "revoked" in cli("tokens", "list").stdout
    assert "was already revoked" in cli("tokens", "revoke", prefix, code=1).stderr
    assert "no API token" in cli("tokens", "revoke", "mt_00000000", code=1).stderr
    admin = cli("tokens", "create", "Admin bot", "--role", "admin").stdout
    assert "API token 'Admin bot' (admin) for workspace acme-cs:" in admin
